"""Cheap, honest baselines for result tables: least-squares linear one-step model, zero model.

Both are refitted at evaluation time (``eval.baselines=[lin,zero]``), so they have no files.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
