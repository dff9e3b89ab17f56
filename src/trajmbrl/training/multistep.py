"""One-step models trained with a multi-step loss (keys ``dk``, ``dke``; Venkatraman et al. 2015).

The network is the one-step model's (``f(s_t, a_t) -> s_{t+1} - s_t``, rolled out as ``d``); only
the objective differs: each sample is a window of ``k = spec.unroll`` steps of one training
trajectory (:func:`trajmbrl.data.pairs.unroll_windows`: x = [s_0, a_0..a_{k-1}, theta],
y = [s_1..s_k]), the model is unrolled k steps from s_0 through its own predictions, and the loss
is ``sum_j w_j mean(((s^_j - s_j) / sigma)^2) / sum_j w_j`` with ``w_j = discount**(j-1)`` and
sigma the std of the one-step deltas (so k = 1 is exactly the one-step loss of ``d``). The actions
are the logged ones (``unroll_actions=logged``) or those of the trajectory's controller, rebuilt
from theta, acting on the predicted states (``controller``: the training-time counterpart of
the closed-loop protocol; the controller is numpy code, so its actions enter as constants and
the gradient flows through the states; a stateful controller starts each window reset).

:class:`MultiStepTrainer` is :class:`~trajmbrl.training.trainer.ModelTrainer` with this
objective: the same split by whole trajectory, per-member resampling, batched members, early
stopping on the validation windows' loss, resumable state and the same history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError
from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.training.config import TrainConfig
from trajmbrl.training.trainer import ModelTrainer, chunked_loss_score


class ControllerSampler(Protocol):
    """What the controller-in-the-loop loss needs of ``controllers.base.ControllerSampler``
    (this layer does not import controllers): controllers rebuilt from theta (B, dp), each with
    ``reset()`` and ``act(obs (B, ds)) -> (B, du)``."""

    def build(self, params: np.ndarray) -> Any: ...


# windows per member scored at once in validation
_CHUNK_ROWS = 1024


def step_weights(k: int, discount: float) -> Tensor:
    """(k,) the loss weight of each unrolled step, ``discount**j`` normalised to sum 1."""
    w = torch.tensor([float(discount) ** j for j in range(k)], dtype=torch.float64)
    return (w / w.sum()).to(torch.float32)


class MultiStepTrainer(ModelTrainer):
    """Trains a one-step :class:`DynamicsModel` with ``spec.unroll`` = k > 1 on windows.

    ``sampler`` rebuilds controllers from theta (needed for ``unroll_actions=controller``).
    """

    def __init__(
        self,
        model: DynamicsModel,
        config: TrainConfig,
        *,
        sampler: ControllerSampler | None = None,
        state_path: Path | None = None,
        progress: bool | None = None,
        state_every: float = 30.0,
    ) -> None:
        spec = model.spec
        if spec.family != "one_step" or spec.unroll < 2:
            raise ValueError(
                f"MultiStepTrainer trains one-step models with unroll > 1, got {spec.family} "
                f"with unroll={spec.unroll}"
            )
        if spec.unroll_actions == "controller" and sampler is None:
            raise ArgumentError(
                "{ModelSpec.unroll_actions}=controller needs the system's controller sampler "
                "(argument sampler) to rebuild each window's controller from theta"
            )
        super().__init__(
            model, config, state_path=state_path, progress=progress, state_every=state_every
        )
        self.sampler = sampler
        self.weights = step_weights(spec.unroll, spec.unroll_discount).to(model.device)

    # ------------------------------------------------------------------ the window layout
    def _widths(self) -> tuple[int, int]:
        return self.model.spec.sample_widths()

    def _parts(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (..., ds + k du + dp) -> s_0 (..., ds), actions (..., k, du), theta (..., dp)."""
        s = self.model.spec
        ds, du, k = s.state_dim, s.action_dim, s.unroll
        actions = x[..., ds : ds + k * du].unflatten(-1, (k, du))
        return x[..., :ds], actions, x[..., ds + k * du :]

    def _fit_normalizers(self, x: Tensor, y: Tensor) -> None:
        """The one-step normalisers, fitted on every transition of the training windows."""
        ds = self.model.spec.state_dim
        s0, actions, _ = self._parts(x)
        states = torch.cat([s0.unsqueeze(1), y.unflatten(-1, (-1, ds))], 1)  # (N, k + 1, ds)
        pairs = torch.cat([states[:, :-1], actions], -1).reshape(-1, ds + actions.shape[-1])
        self.model.fit_normalizers(pairs, (states[:, 1:] - states[:, :-1]).reshape(-1, ds))

    # ------------------------------------------------------------------ the objective
    def _unroll(self, x: Tensor, members: Tensor | None) -> Tensor:
        """Predicted states s^_1..s^_k (A, B, k, ds) of windows x (A, B, in), raw units."""
        model = self.model
        s, logged, theta = self._parts(x)
        controller = None
        if model.spec.unroll_actions == "controller":
            assert self.sampler is not None
            flat = theta.reshape(-1, theta.shape[-1]).double().cpu().numpy()
            controller = self.sampler.build(flat)
            controller.reset()
        out = []
        for j in range(model.spec.unroll):
            if controller is None:
                a = logged[..., j, :]
            else:
                obs = s.detach().reshape(-1, s.shape[-1]).double().cpu().numpy()
                obs = np.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0)
                a = torch.as_tensor(controller.act(obs), dtype=s.dtype, device=s.device)
                a = a.reshape(*s.shape[:-1], -1)
            mean, _ = model(torch.cat([s, a], -1), members)
            s = s + model.out_norm.denormalize(mean)
            out.append(s)
        return torch.stack(out, -2)

    def _window_loss(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) weighted mean over the k steps of the normalised squared state error."""
        ds = self.model.spec.state_dim
        pred = self._unroll(x, members)
        err = (pred - y.unflatten(-1, (-1, ds))) / self.model.out_norm.std
        return (err.square().mean(-1).mean(1) * self.weights).sum(-1)

    def _loss(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        return self._window_loss(x, y, members)

    def _score(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) the training objective of each member's mean on validation windows x (N, in)."""
        return chunked_loss_score(self.model, self._window_loss, x, y, members, _CHUNK_ROWS)
