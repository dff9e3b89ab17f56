"""Is this artifact already done? One answer for every kind: missing, current, conflict, damaged.

- ``MISSING``: nothing there (or only an interrupted write): compute it.
- ``CURRENT``: written with the same fingerprint and intact: nothing to do.
- ``CONFLICT``: intact, but from other settings: never replaced silently.
- ``DAMAGED``: same fingerprint but truncated, edited or unverifiable: recompute (CSV) or refuse.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils import hashed_csv
from trajmbrl.utils.atomic import sha256_file


class Status(enum.Enum):
    """The state of one artifact with respect to the fingerprint a run would write."""

    MISSING = "missing"
    CURRENT = "current"
    CONFLICT = "conflict"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class Check:
    """A :class:`Status` with the file and, unless current or missing, the reason."""

    status: Status
    path: Path
    reason: str = ""

    @property
    def done(self) -> bool:
        """True when nothing is left to do (``CURRENT``)."""
        return self.status is Status.CURRENT


def csv_status(path: Path, fingerprint: str, expect: Mapping[str, Any] | None = None) -> Check:
    """The status of a hashed CSV (utils/hashed_csv.py) for ``fingerprint``.

    :param expect: header fields it must also record (e.g. ``dataset=<sha256>``); a missing or
        different one makes an otherwise current file ``DAMAGED`` (it is recomputed).
    """
    path = Path(path)
    if not path.exists():
        return Check(Status.MISSING, path)
    if hashed_csv.read_header(path).get("config_hash") != fingerprint:
        return Check(Status.CONFLICT, path, "it holds results of a different config")
    problem = hashed_csv.integrity_problem(path)
    if problem is None:
        header = hashed_csv.read_header(path)
        for name, want in (expect or {}).items():
            if want is not None and header.get(name) != str(want):
                problem = f"it records {name}={header.get(name)}, not {want}"
                break
    if problem is not None:
        return Check(Status.DAMAGED, path, problem)
    return Check(Status.CURRENT, path)


def checkpoint_status(path: Path, fingerprint: str, expect: Mapping[str, Any]) -> Check:
    """The status of a ``model.pt`` for the training ``fingerprint`` (its meta ``config_hash``).

    :param expect: the slot it sits in (:meth:`ModelSlot.expect`); a checkpoint of another slot
        (copied or moved) is ``DAMAGED``, with the checkpoint's own one-line message.
    """
    from trajmbrl.models.checkpoint import load_checkpoint

    path = Path(path)
    if not path.exists():
        return Check(Status.MISSING, path)
    try:
        _, meta = load_checkpoint(path, expect=dict(expect))
    except TrajmbrlError as exc:
        return Check(Status.DAMAGED, path, str(exc))
    if meta.get("config_hash") != fingerprint:
        return Check(Status.CONFLICT, path, "it was trained with a different config or dataset")
    return Check(Status.CURRENT, path)


def dataset_status(npz: Path, manifest: Path, fingerprint: str) -> Check:
    """The status of a dataset (npz + JSON manifest) for the collection ``fingerprint``.

    An npz without its manifest (a collect killed between its two writes) is ``MISSING``.
    """
    npz, manifest = Path(npz), Path(manifest)
    if not npz.exists() or not manifest.exists():
        return Check(Status.MISSING, npz)
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError):
        recorded = {}
    if recorded.get("config_hash") != fingerprint:
        return Check(Status.CONFLICT, npz, "it was collected with a different config")
    try:
        intact = recorded.get("sha256") == sha256_file(npz)
    except OSError:
        intact = False
    if not intact:
        return Check(Status.DAMAGED, npz, "it does not match its manifest (interrupted or edited)")
    return Check(Status.CURRENT, npz)
