"""Cheap, honest baselines for result tables: `lin` (least-squares one-step), `zero` (s_0),
`hmean` (training mean of s_h), `lint` (least-squares trajectory model per horizon).

All are refitted at evaluation time from the training split (``eval.baselines``): no files.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import TrajmbrlError


class LinearModel:
    """One-step least squares: ``s_{t+1} - s_t = [s_t, a_t, 1] @ W`` with ``W`` (ds + du + 1, ds).

    Fitted in float64 with NumPy's ``lstsq`` (LAPACK gelsd): bit-identical across processes,
    where ``torch.linalg.lstsq`` was seen to differ in the last bits between runs (and an
    open-loop roll-out amplifies them); predictions are returned in the input dtype.
    """

    def __init__(self, state_dim: int, action_dim: int) -> None:
        self.state_dim, self.action_dim = int(state_dim), int(action_dim)
        self.weight: Tensor | None = None  # (ds + du + 1, ds) float64

    def fit(self, x: Tensor, y: Tensor) -> None:
        """:param x: (N, ds + du) raw ``[s, a]``; :param y: (N, ds) deltas ``s' - s``."""
        if x.shape[-1] != self.state_dim + self.action_dim or y.shape[-1] != self.state_dim:
            raise ValueError(
                f"LinearModel expects x (N, {self.state_dim + self.action_dim}), "
                f"y (N, {self.state_dim}); got {tuple(x.shape)}, {tuple(y.shape)}"
            )
        xd = torch.cat([x.double(), x.new_ones(x.shape[0], 1, dtype=torch.float64)], 1)
        w = np.linalg.lstsq(xd.cpu().numpy(), y.double().cpu().numpy(), rcond=None)[0]
        self.weight = torch.from_numpy(w)

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


def last_reached(count: Tensor) -> Tensor:
    """Per horizon, the latest horizon <= it that some trajectory reaches. (T+1,) -> (T+1,)"""
    index = torch.arange(len(count), device=count.device)
    return torch.cummax(torch.where(count > 0, index, 0), 0).values


class HorizonMean:
    """``hmean``: the training-set mean of ``s_h`` at every horizon (the climatology forecast).

    Variable-length logs: the mean at ``h`` is over the training trajectories that reach ``h``
    (NaN-padded states are skipped); beyond the longest one the last mean is repeated.
    """

    def __init__(self) -> None:
        self.means: Tensor | None = None  # (T + 1, ds) float64

    def fit(self, states: Tensor) -> None:
        """:param states: (N, T + 1, ds) training states, NaN where a trajectory has ended."""
        valid = ~torch.isnan(states).any(-1, keepdim=True)  # (N, T+1, 1)
        count = valid.sum(0)  # (T+1, 1)
        total = torch.where(valid, states.double(), 0.0).sum(0)
        self.means = (total / count.clamp_min(1))[last_reached(count[:, 0])]

    def query(self, s0: Tensor, horizons: Tensor, theta: Tensor | None = None) -> Tensor:
        """:param s0: (B, ds); :param horizons: (H,) ints. :returns: (B, H, ds)."""
        if self.means is None:
            raise RuntimeError("HorizonMean.query before fit")
        idx = horizons.long().clamp_max(self.means.shape[0] - 1)
        return self.means[idx].unsqueeze(0).expand(s0.shape[0], -1, -1).to(s0.dtype).clone()


class LinearTrajectoryModel:
    """``lint``: per horizon ``h``, least squares ``s_h = [z(s_0, theta), 1] @ W_h``.

    ``z`` standardises ``[s_0, theta]`` with training statistics (constant columns become 0).
    Each horizon is fitted on the training trajectories that reach it. Horizons whose design
    matrix is rank-deficient (fewer trajectories than features, constant columns) get a minimal
    ridge ``1e-8 * N`` (listed in :attr:`ridged`); full-rank horizons are plain least squares.
    """

    RIDGE = 1e-8

    def __init__(self) -> None:
        self.weight: Tensor | None = None  # (T + 1, F, ds) float64
        self.mu: Tensor | None = None
        self.sd: Tensor | None = None
        self.ridged: list[int] = []

    def _features(self, s0: Tensor, theta: Tensor) -> Tensor:
        if self.mu is None or self.sd is None:
            raise TrajmbrlError("lint: call fit() before predicting")
        x = torch.cat([s0.double(), theta.double()], -1)
        z = (x - self.mu) / self.sd
        return torch.cat([z, z.new_ones(z.shape[0], 1)], -1)

    def fit(self, states: Tensor, theta: Tensor) -> None:
        """:param states: (N, T + 1, ds) NaN-padded; :param theta: (N, dp)."""
        x = torch.cat([states[:, 0].double(), theta.double()], -1)
        self.mu, sd = x.mean(0), x.std(0, correction=0)
        self.sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
        feats = self._features(states[:, 0], theta)  # (N, F)
        valid = ~torch.isnan(states).any(-1)  # (N, T+1)
        a = feats.unsqueeze(0) * valid.T.unsqueeze(-1)  # (T+1, N, F)
        b = torch.nan_to_num(states.double().transpose(0, 1)) * valid.T.unsqueeze(-1)
        n, f = feats.shape
        deficient = torch.linalg.matrix_rank(a) < f  # (T+1,)
        lam = torch.where(deficient, self.RIDGE * valid.sum(0).clamp_min(1), 0.0).sqrt()
        eye = torch.eye(f, dtype=torch.float64).unsqueeze(0) * lam[:, None, None]
        a = torch.cat([a, eye], 1)
        b = torch.cat([b, b.new_zeros(b.shape[0], f, b.shape[2])], 1)
        count = valid.sum(0)
        self.weight = torch.linalg.lstsq(a, b).solution[last_reached(count)]  # (T+1, F, ds)
        self.ridged = [int(h) for h in torch.nonzero(deficient[1:] & (count[1:] > 0)).flatten() + 1]

    def query(self, s0: Tensor, horizons: Tensor, theta: Tensor) -> Tensor:
        """:param s0: (B, ds); :param horizons: (H,); :param theta: (B, dp).

        :returns: (B, H, ds) predicted states.
        """
        if self.weight is None:
            raise RuntimeError("LinearTrajectoryModel.query before fit")
        idx = horizons.long().clamp_max(self.weight.shape[0] - 1)
        out = torch.einsum("bf,hfd->bhd", self._features(s0, theta), self.weight[idx])
        return out.to(s0.dtype)
