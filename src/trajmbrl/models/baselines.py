"""Cheap, honest baselines for result tables: least-squares linear one-step model, zero model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_write_json


def _read_json(path: Path, kind: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TrajmbrlError(f"{kind} baseline file not found: {path}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrajmbrlError(f"{kind} baseline file {path} is corrupt: {exc}") from exc
    if not isinstance(d, dict) or d.get("kind") != kind:
        raise TrajmbrlError(f"{path} is not a {kind} baseline file")
    return d


class LinearModel:
    """One-step least squares: ``s_{t+1} - s_t = [s_t, a_t, 1] @ W`` with ``W`` (ds + du + 1, ds).

    Fitted in float64 with ``torch.linalg.lstsq``; predictions are returned in the input dtype.
    """

    def __init__(self, state_dim: int, action_dim: int) -> None:
        self.state_dim, self.action_dim = int(state_dim), int(action_dim)
        self.weight: Tensor | None = None  # (ds + du + 1, ds) float64

    def fit(self, x: Tensor, y: Tensor) -> None:
        """:param x: (N, ds + du) raw ``[s, a]``; :param y: (N, ds) deltas ``s' - s``."""
        if x.shape[-1] != self.state_dim + self.action_dim or y.shape[-1] != self.state_dim:
            raise ValueError(f"LinearModel expects x (N, {self.state_dim + self.action_dim}), "
                             f"y (N, {self.state_dim}); got {tuple(x.shape)}, {tuple(y.shape)}")
        xd = torch.cat([x.double(), x.new_ones(x.shape[0], 1, dtype=torch.float64)], 1)
        self.weight = torch.linalg.lstsq(xd.cpu(), y.double().cpu()).solution

    def predict(self, x: Tensor) -> Tensor:
        """:param x: (B, ds + du) raw. :returns: (B, ds) predicted delta."""
        if self.weight is None:
            raise RuntimeError("LinearModel.predict before fit")
        xd = torch.cat([x.double(), x.new_ones(x.shape[0], 1, dtype=torch.float64)], 1)
        return (xd @ self.weight.to(x.device)).to(x.dtype)

    def step(self, states: Tensor, actions: Tensor) -> Tensor:
        """:param states: (B, ds); :param actions: (B, du). :returns: (B, ds) next states."""
        return states + self.predict(torch.cat([states, actions], -1))

    def to_dict(self) -> dict[str, Any]:
        if self.weight is None:
            raise RuntimeError("LinearModel.to_dict before fit")
        return {"kind": "linear", "state_dim": self.state_dim, "action_dim": self.action_dim,
                "weight": self.weight.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearModel:
        model = cls(int(d["state_dim"]), int(d["action_dim"]))
        w = torch.tensor(d["weight"], dtype=torch.float64)
        if w.shape != (model.state_dim + model.action_dim + 1, model.state_dim):
            raise TrajmbrlError(f"linear baseline weight has shape {tuple(w.shape)}, expected "
                                f"({model.state_dim + model.action_dim + 1}, {model.state_dim})")
        model.weight = w
        return model

    def save(self, path: Path) -> None:
        """Write JSON atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        d = _read_json(path, "linear")
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise TrajmbrlError(f"linear baseline file {path} is corrupt: {exc}") from exc


class ZeroModel:
    """Predicts no change: ``s_h = s_0`` for every horizon (and ``s_{t+1} = s_t`` one-step)."""

    def __init__(self, state_dim: int) -> None:
        self.state_dim = int(state_dim)

    def query(self, s0: Tensor, horizons: Tensor, theta: Tensor | None = None) -> Tensor:
        """:param s0: (B, ds); :param horizons: (H,). :returns: (B, H, ds) copies of ``s0``."""
        return s0.unsqueeze(1).expand(s0.shape[0], horizons.shape[0], s0.shape[1]).clone()

    def step(self, states: Tensor, actions: Tensor | None = None) -> Tensor:
        """:param states: (B, ds). :returns: (B, ds) the same states."""
        return states.clone()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "zero", "state_dim": self.state_dim}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZeroModel:
        return cls(int(d["state_dim"]))

    def save(self, path: Path) -> None:
        """Write JSON atomically."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> ZeroModel:
        d = _read_json(path, "zero")
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise TrajmbrlError(f"zero baseline file {path} is corrupt: {exc}") from exc
