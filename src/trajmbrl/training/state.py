"""The resumable training-state file: identity check, atomic save, validated load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.checkpoint import TORCH_LOAD_ERRORS
from trajmbrl.utils.atomic import atomic_path

STATE_FORMAT = "trajmbrl.trainstate/2"


def data_digest(*tensors: Tensor | None) -> str:
    """sha256 over the shapes and bytes of the training tensors (None entries are skipped)."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            continue
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def save_state(path: Path, st: dict[str, Any]) -> None:
    """Write ``st`` (tensors, a JSON-able ``identity`` and ``history``) atomically."""
    payload = dict(st)
    payload["format"] = STATE_FORMAT
    payload["identity"] = json.dumps(st["identity"], sort_keys=True)
    payload["history"] = json.dumps(st["history"])
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_state(
    path: Path | None, identity: dict[str, Any], device: torch.device
) -> dict[str, Any] | None:
    """The saved state if ``path`` exists; errors name the file on corruption or a mismatch."""
    if path is None or not path.exists():
        return None
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
            raise ValueError("unknown format")
        saved_identity = json.loads(payload["identity"])
        payload["history"] = json.loads(payload["history"])
    except (*TORCH_LOAD_ERRORS, TypeError) as exc:
        raise TrajmbrlError(
            f"training state file {path} is corrupt or truncated ({exc}); delete it to "
            "start training afresh"
        ) from exc
    if saved_identity != json.loads(json.dumps(identity, sort_keys=True)):
        diff = [k for k in identity if saved_identity.get(k) != identity[k]]
        raise TrajmbrlError(
            f"training state file {path} belongs to another run (different {', '.join(diff)})"
            "; delete it or use another output directory"
        )
    return payload
