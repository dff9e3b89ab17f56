"""Content-addressed model store: a model whose weights would be the same is trained once.

Design notes.

- **Fingerprint** (:func:`fingerprint`): sha256 of :func:`weight_inputs`, i.e. everything that
  changes the trained weights: the dataset's sha256, the model key's resolved settings (spec and
  training budget), the ``train.*`` settings but those in :data:`NOT_WEIGHTS` (``tensorboard``
  logs, the ``variant`` name, derived from ``num_traj``/``t_range``, and ``reuse`` itself), the
  training seed, the device type, the torch intra-op thread count, the training path (``fit``
  or the batched ``grid``) and :data:`TRAINER_VERSION`. Evaluation, plotting and path settings
  are not in it. The thread count is in it because it changes the weights bit-wise: a
  3 x 250 network trained for two epochs with 1 and with 2 threads differs in its weights
  (E=1; E=5 happened to agree) on the machine this was written on. New ``train.*`` or model
  settings enter the fingerprint by default (nothing is reused wrongly; at worst a model is
  trained again).
- **Entry**: ``<store>/<fp>/`` holds ``model.pt`` and ``history.csv`` (hard links to the first
  slot that trained them when the file system allows, copies otherwise: every artifact is
  replaced by ``os.replace``, so a link never sees a later write) and ``entry.json``, written
  last (the commit mark): format, fingerprint, both files' sha256, the source slot and the
  fingerprint's inputs (readable: why two models were or were not the same).
- **Reading** (:meth:`ModelStore.lookup`): the entry must parse, name its fingerprint, match both
  files' sha256, and its checkpoint must load with the slot's provenance checks
  (``models/checkpoint.load_checkpoint(expect=...)``: key, family, variant, seed, dataset sha256)
  and record the same fingerprint; anything else is :class:`StoreDamaged` (one line naming the
  entry), and the caller trains again and replaces the entry.
- **Reuse** (``modes/train.py``): the stored weights are written into the slot as a checkpoint
  of its own (this run's config hash and config; the samples, history summary and package
  versions of the training that made them; ``reused_from``: fingerprint, source slot, store
  entry, the stored file's sha256), with a copy of ``history.csv``: every check that reads a
  slot today passes unchanged.
- **Concurrency**: ``<store>/.<fp>.lock`` (utils/locks.py) is held from the look-up through
  training to registration, so two jobs with one fingerprint train it once (the second waits,
  then reuses). Lock order: the slot's lock, then the store's.
- Batched grid cells (``grid.batched=true``) equal single runs within float rounding, so the
  two paths have different fingerprints; among grids, a cell's weights depend at most in the
  rounding on the other cells of its chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajmbrl.artifacts.layout import CHECKPOINT, HISTORY
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_path, atomic_write_json, sha256_file
from trajmbrl.utils.schema_check import check_settings, setting

log = logging.getLogger("trajmbrl")

FORMAT = "trajmbrl.store/1"
ENTRY = "entry.json"
#: bump when the training arithmetic changes (trainer, grid, splits, sample pairs, init): stored
#: models of an older version are then trained again instead of reused
TRAINER_VERSION = 1
#: ``train.*`` settings that do not change the weights
NOT_WEIGHTS = ("tensorboard", "variant", "reuse")


@dataclass
class StoreSettings:
    """The model store's knob (``train.reuse``)."""

    reuse: bool = setting(
        True,
        "reuse a stored model with the same fingerprint instead of training it (false: train; "
        "the result is still stored)",
    )

    def __post_init__(self) -> None:
        check_settings(self)


class StoreDamaged(TrajmbrlError):
    """A store entry that cannot be trusted (edited, truncated, or of another model)."""


def weight_inputs(
    *,
    dataset_sha256: str,
    model: Mapping[str, Any],
    train: Mapping[str, Any],
    seed: int,
    device: str,
    threads: int,
    trainer: str,
) -> dict[str, Any]:
    """Everything that changes a trained model's weights, as one JSON-able dict.

    :param model: the key's resolved settings (key, family, spec and training budget).
    :param train: the run's ``train`` settings (those in :data:`NOT_WEIGHTS` are dropped).
    :param device: the device type (``cpu``, ``cuda``); :param threads: torch intra-op threads.
    :param trainer: ``fit`` (one model) or ``grid`` (batched members).
    """
    return {
        "dataset_sha256": str(dataset_sha256),
        "model": dict(model),
        "train": {k: v for k, v in train.items() if k not in NOT_WEIGHTS},
        "seed": int(seed),
        "device": str(device),
        "threads": int(threads),
        "trainer": str(trainer),
        "trainer_version": TRAINER_VERSION,
    }


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """sha256 (64 hex digits) of :func:`weight_inputs` (JSON, sorted keys)."""
    blob = json.dumps(dict(inputs), sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Stored:
    """A verified store entry: its files, where it was trained, and the loaded checkpoint."""

    checkpoint: Path
    history: Path
    source: str
    checkpoint_sha256: str
    model: Any  # the DynamicsModel (eval mode, CPU)
    meta: dict[str, Any]  # its checkpoint meta


@dataclass(frozen=True)
class ModelStore:
    """The store under ``root``: one directory per fingerprint."""

    root: Path

    def entry_dir(self, fp: str) -> Path:
        """``<root>/<fp>``."""
        return Path(self.root) / fp

    def lock(self, fp: str) -> Path:
        """``<root>/.<fp>.lock``: one writer (and trainer) per fingerprint."""
        return Path(self.root) / f".{fp}.lock"

    def lookup(self, fp: str, expect: Mapping[str, Any]) -> Stored | None:
        """The entry of ``fp`` checked in full, or None when there is none (or only an
        interrupted registration without its ``entry.json``).

        :param expect: what its checkpoint must match (``load_checkpoint(expect=...)``).
        :raises StoreDamaged: an entry that fails a check (one line naming the entry).
        """
        from trajmbrl.models.checkpoint import load_checkpoint

        where = self.entry_dir(fp)
        if not (where / ENTRY).exists():
            return None
        try:
            entry = json.loads((where / ENTRY).read_text())
            if not isinstance(entry, dict) or entry.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} entry")
            if entry.get("fingerprint") != fp:
                raise ValueError(f"it records fingerprint {str(entry.get('fingerprint'))[:12]}")
            files = {CHECKPOINT: entry["checkpoint_sha256"], HISTORY: entry["history_sha256"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreDamaged(f"model store entry {where} is unreadable ({exc})") from exc
        for name, digest in files.items():
            try:
                intact = sha256_file(where / name) == digest
            except OSError:
                intact = False
            if not intact:
                raise StoreDamaged(
                    f"model store entry {where}: {name} does not match its entry.json "
                    "(edited, truncated or missing)"
                )
        try:
            model, meta = load_checkpoint(where / CHECKPOINT, expect=dict(expect))
        except TrajmbrlError as exc:
            raise StoreDamaged(f"model store entry {where} is refused: {exc}") from exc
        if meta.get("model_fingerprint") != fp:
            raise StoreDamaged(
                f"model store entry {where} holds a checkpoint of fingerprint "
                f"{str(meta.get('model_fingerprint'))[:12]}"
            )
        source = str(entry.get("source", "?"))
        return Stored(where / CHECKPOINT, where / HISTORY, source, files[CHECKPOINT], model, meta)

    def register(self, fp: str, model_dir: Path, *, source: str, inputs: Mapping[str, Any]) -> None:
        """Store the checkpoint and history of ``model_dir`` (a slot just written) under ``fp``,
        replacing any entry there; call it with :meth:`lock` held.

        ``entry.json`` is removed first and written last, so an interrupted registration is
        an absent entry, never a wrong one.
        """
        where = self.entry_dir(fp)
        where.mkdir(parents=True, exist_ok=True)
        (where / ENTRY).unlink(missing_ok=True)
        digests = {}
        for name in (CHECKPOINT, HISTORY):
            _link_or_copy(Path(model_dir) / name, where / name)
            digests[name] = sha256_file(where / name)
        atomic_write_json(
            where / ENTRY,
            {
                "format": FORMAT,
                "fingerprint": fp,
                "checkpoint_sha256": digests[CHECKPOINT],
                "history_sha256": digests[HISTORY],
                "source": source,
                "inputs": dict(inputs),
            },
        )


def _link_or_copy(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` atomically: a hard link when possible, else a copy."""
    with atomic_path(dst) as tmp:
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
