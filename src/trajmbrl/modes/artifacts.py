"""Where a run's artifacts live and whether they are current: model dirs, checkpoints,
datasets, hashed CSVs, provenance."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from trajmbrl.artifacts.layout import Layout, ModelSlot
from trajmbrl.artifacts.status import Status, csv_status
from trajmbrl.data.storage import TrajectoryData, load_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.console import collect_command, command
from trajmbrl.modes.settings import model_settings
from trajmbrl.utils import hashed_csv
from trajmbrl.utils.atomic import config_hash
from trajmbrl.utils.locks import artifact_lock

log = logging.getLogger("trajmbrl")


PACKAGES = ("trajmbrl", "torch", "numpy", "scipy", "gymnasium", "mujoco", "hydra-core", "pandas")


def provenance() -> dict[str, Any]:
    """Package versions, the git commit (when run from a checkout) and the torch thread count
    (it sets the floating-point summation order, so bit-identical re-runs need the same)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    commit = None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"versions": versions, "git_commit": commit, "torch_threads": torch.get_num_threads()}


def layout(cfg: DictConfig) -> Layout:
    """The artifact layout of this run (``paths.*``, the experiment, the env, the scale)."""
    name = f"{cfg.scale_name}_control" if cfg.get("scale_name") else "control"
    control = Path(cfg.paths.output_dir) / str(cfg.experiment_name) / str(cfg.env.name) / name
    return Layout(
        dataset=Path(cfg.paths.dataset),
        run_dir=Path(cfg.paths.run_dir),
        models_dir=Path(cfg.paths.models_dir),
        control_dir=control,
    )


def slot(cfg: DictConfig, key: str) -> ModelSlot:
    """Model ``key``'s slot in this run: ``train.variant`` and ``seed``."""
    return ModelSlot(key, str(cfg.train.variant), int(cfg.seed))


def model_dir(cfg: DictConfig, key: str) -> Path:
    """``<run_dir>/models/<key>/<variant>/seed=<seed>``: where model ``key`` of this run lives."""
    return layout(cfg).model_dir(slot(cfg, key))


@contextlib.contextmanager
def claimed(lock: Path, what: str, is_done: Callable[[], bool]) -> Iterator[bool]:
    """Whether the work on ``what`` is done, with the lock ``lock`` held while it is not.

    ``is_done()`` is asked first without the lock (finished work needs none, so a read-only
    tree still exits 0), then again under it: another run may have just finished it. A refusal
    (conflict, damage) is only final under the lock: a writer may be half-way without it.
    """
    try:
        done = is_done()
    except TrajmbrlError:
        done = False
    if done:
        yield True
        return
    with artifact_lock(lock, what):
        yield is_done()


def model_checkpoint(cfg: DictConfig, key: str, meta_expect: dict[str, Any]) -> Any:
    """Load the trained model ``key`` of this run (variant, seed) checked against the data.

    :param meta_expect: what the checkpoint must match (``data_dims``: dimensions and the
        dataset's sha256); its key, family and ``train.variant`` are checked too.
    :returns: (model, meta); a missing or mismatching checkpoint names the command that
        (re)trains it. ``meta["checkpoint_sha256"]`` keys every result computed from it.
    """
    from trajmbrl.models.checkpoint import CheckpointMismatch, SlotMismatch, load_checkpoint

    path = layout(cfg).checkpoint(slot(cfg, key))
    train = command(cfg, "train", f"models={key}")
    if not path.exists():
        raise TrajmbrlError(f"No trained model {path}\n  Train it with: {train}")
    expect = {
        **meta_expect,
        "key": key,
        "family": model_settings(cfg, key)["family"],
        **slot(cfg, key).expect(),
    }
    try:
        return load_checkpoint(path, expect=expect)
    except SlotMismatch as exc:  # one line: the file is misplaced, not stale
        raise TrajmbrlError(f"{exc}; put it back, or retrain: {train} overwrite=true") from None
    except CheckpointMismatch as exc:
        raise TrajmbrlError(f"{exc}\n  Retrain it with: {train} overwrite=true") from None


def data_dims(data: TrajectoryData) -> dict[str, Any]:
    """What a checkpoint must match to be evaluated on ``data``: its dimensions and sha256."""
    return {
        "state_dim": data.state_dim,
        "action_dim": data.action_dim,
        "param_dim": data.param_dim,
        "dataset_sha256": data.meta.get("sha256"),
    }


def current_dataset_sha256(cfg: DictConfig) -> str | None:
    """The sha256 in this run's dataset manifest (None when the dataset is not here: results
    can be plotted from their CSVs alone)."""
    try:
        return json.loads(layout(cfg).dataset_files()[1].read_text()).get("sha256")
    except (OSError, ValueError):
        return None


def load_env_dataset(cfg: DictConfig) -> TrajectoryData:
    """Load the dataset selected by `envs` / `data.tag`, with a hint naming the collect command."""
    return load_dataset(layout(cfg).dataset, hint=collect_command(cfg))


def write_hashed_csv(path: Path, frame: Any, fingerprint: str, **extra: Any) -> None:
    """Write a tidy CSV atomically under a header with ``fingerprint``, its row count and
    content hash (utils/hashed_csv.py); ``extra`` (e.g. ``dataset=<sha256>``) is recorded too."""
    hashed_csv.write_hashed_csv(
        path, frame, fingerprint, **{k: str(v) for k, v in extra.items() if v is not None}
    )


def write_result(
    path: Path, frame: Any, fingerprint: str, *, overwrite: bool, dataset: str | None
) -> None:
    """Write a hashed result CSV under its lock, after checking again that no other run wrote
    results of other settings there meanwhile (those are refused, never replaced)."""
    from trajmbrl.artifacts.layout import Layout

    with artifact_lock(Layout.lock_for(path), f"results {path}"):
        if is_current(path, fingerprint, overwrite=overwrite, expect={"dataset": dataset}):
            log.info("%s was just written by another run with the same settings.", path)
            return
        write_hashed_csv(path, frame, fingerprint, dataset=dataset)


def is_current(
    path: Path, fingerprint: str, *, overwrite: bool, expect: Mapping[str, Any] | None = None
) -> bool:
    """True when ``path`` was written with ``fingerprint`` (and the header fields ``expect``)
    and is intact (row count and content hash); False when absent, ``overwrite``, or damaged
    (then it is recomputed, with a warning).

    :raises TrajmbrlError: ``path`` holds results of another config (never silently replaced).
    """
    if overwrite:
        return False
    check = csv_status(path, fingerprint, expect)
    if check.status is Status.DAMAGED:
        log.warning("%s is not trusted (%s); computing it again.", path, check.reason)
    if check.status is not Status.CONFLICT:
        return check.done
    raise TrajmbrlError(
        f"{path} holds results of a different evaluation config.\n"
        "  Pass overwrite=true to replace them, or experiment_name=<name> to keep both."
    )


def eval_fingerprint(cfg: DictConfig, horizon: int, **extra: Any) -> str:
    """Hash of the settings that change evaluation results (not which models are listed)."""
    keys = ("task", "num_traj", "propagation", "particles")
    if str(cfg.train.get("precision", "fp32")) != "fp32":  # fp32 keeps the earlier hashes
        extra = {**extra, "precision": str(cfg.train.precision)}
    return config_hash({"eval": {k: cfg.eval.get(k) for k in keys}, "horizon": horizon, **extra})


def efficiency_csv(cfg: DictConfig) -> Path:
    """Where the 5.4 grid's tidy scores go (written by eval, read by plot)."""
    return layout(cfg).efficiency_csv()


def read_result(cfg: DictConfig, path: Path, hint: str) -> Any:
    """A hashed result CSV, checked in full: row count, content hash and, when this run's
    dataset is here, that it was computed on it (:func:`hashed_csv.read_hashed_csv`)."""
    return hashed_csv.read_hashed_csv(
        path, expect={"dataset": current_dataset_sha256(cfg)}, hint=hint
    )
