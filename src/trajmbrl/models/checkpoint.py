"""Model checkpoints: ``model.pt`` = state_dict + spec + JSON meta, never a pickled object."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.utils import inputs
from trajmbrl.utils.atomic import atomic_path

FORMAT = "trajmbrl.model/1"

#: keys ``expect`` may check: the spec's, and the provenance recorded in the meta.
_EXPECTABLE = (
    "key",
    "family",
    "state_dim",
    "action_dim",
    "param_dim",
    "ensemble_size",
    "probabilistic",
    "hidden",
    "layers",
)
_PROVENANCE = ("dataset_sha256", "variant", "seed")
#: keys that name the slot a checkpoint sits in (``<key>/<variant>/seed=<seed>``)
_SLOT = ("key", "variant", "seed")

#: what ``torch.load`` raises on a truncated, corrupt or foreign file
TORCH_LOAD_ERRORS = (
    RuntimeError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    AttributeError,
)


class CheckpointMismatch(TrajmbrlError):
    """A checkpoint that is intact but belongs to another key, family, dataset, variant or seed."""


class SlotMismatch(CheckpointMismatch):
    """A checkpoint read from the directory of another variant or seed (copied or moved)."""


def save_checkpoint(path: Path, model: DynamicsModel, *, meta: dict[str, Any]) -> None:
    """Write ``model`` to ``path`` atomically (temp file + ``os.replace``).

    The file holds ``format``, ``spec`` (dict), ``state_dict`` (weights and normaliser buffers,
    on CPU) and ``meta`` stored as a JSON string (dataset sha256, train config, history summary).

    :raises ValueError: if ``meta`` is not JSON-serialisable.
    """
    inputs.save_checkpoint(path, model, meta, DynamicsModel)
    try:
        meta_json = json.dumps(meta, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint meta must be JSON-serialisable: {exc}") from exc
    payload = {
        "format": FORMAT,
        "spec": model.spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta_json,
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(
    path: Path,
    *,
    expect: dict[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[DynamicsModel, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    :param expect: e.g. ``{"state_dim": 4, "family": "trajectory", "dataset_sha256": ...}``;
        a mismatch with the checkpoint's spec or recorded provenance (``dataset_sha256``,
        ``variant``, ``seed``) raises :class:`CheckpointMismatch` naming the file and both values.
    :returns: the model (in eval mode) and its meta dict, which gains ``checkpoint_sha256``
        (the file's own hash, the key of every cached result computed from it).
    :raises TrajmbrlError: missing, truncated or corrupt file, or an ``expect`` mismatch.
    """
    inputs.load_checkpoint(path, expect)
    path = Path(path)
    if not path.is_file():
        raise TrajmbrlError(f"model checkpoint not found: {path} (train the model first)")
    try:
        raw = path.read_bytes()
        payload = torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except TORCH_LOAD_ERRORS as exc:
        raise TrajmbrlError(
            f"model checkpoint {path} is corrupt or truncated ({type(exc).__name__}); "
            "delete it and train again"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrajmbrlError(f"{path} is not a trajmbrl model checkpoint (format {FORMAT!r})")
    try:
        spec = ModelSpec.from_dict(dict(payload["spec"]))
        meta = json.loads(payload["meta"])
        state_dict = payload["state_dict"]
    except (KeyError, TypeError, ValueError, TrajmbrlError) as exc:
        raise TrajmbrlError(f"model checkpoint {path} is corrupt: {exc}") from exc
    meta["checkpoint_sha256"] = hashlib.sha256(raw).hexdigest()
    _check_expect(path, spec, meta, expect or {})
    model = DynamicsModel(spec)
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError) as exc:
        raise TrajmbrlError(f"model checkpoint {path} has inconsistent weights: {exc}") from exc
    model.to(map_location)
    model.eval()
    return model, meta


def _check_expect(
    path: Path, spec: ModelSpec, meta: dict[str, Any], expect: dict[str, Any]
) -> None:
    """Raise :class:`CheckpointMismatch` on the first ``expect`` entry the checkpoint fails."""
    unknown = set(expect) - set(_EXPECTABLE) - set(_PROVENANCE)
    if unknown:
        raise ValueError(
            f"unknown expect keys {sorted(unknown)}; allowed: {_EXPECTABLE + _PROVENANCE}"
        )
    have = {**spec.to_dict(), **{k: meta.get(k) for k in _PROVENANCE}}
    for name, want in expect.items():
        if have[name] == want:
            continue
        if name == "dataset_sha256":
            raise CheckpointMismatch(
                f"model checkpoint {path} was trained on another dataset: sha256 "
                f"{str(have[name])[:12]} in the checkpoint, {str(want)[:12]} now "
                "(the dataset was collected or imported again)"
            )
        if name in _SLOT and name != "key":
            raise SlotMismatch(
                f"model checkpoint {path} is in the slot of {name}={want} but was trained with "
                f"{name}={have[name]} (copied or moved from another slot?)"
            )
        raise CheckpointMismatch(
            f"model checkpoint {path} does not match: {name} is {have[name]!r} in the "
            f"checkpoint but {want!r} is expected (was it trained on another dataset/env?)"
        )
