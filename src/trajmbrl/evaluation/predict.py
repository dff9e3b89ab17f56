"""The one prediction path: a learned model's predicted states s_1..s_H from initial states.

:func:`predict` is what every consumer calls: the eval tasks (5.2 horizon errors, 5.4 grid
scores, 5.5 returns, through :mod:`trajmbrl.modes.prediction`), the Python API's ``predict`` and
``rollout``, and control's model queries (candidate scores, MPC plans).

- Trajectory models: one batched query ``f(s_0, h, theta)`` for every horizon at once; every
  ensemble member's prediction is kept (source ``direct``). Sequence models: one pass of the
  GRU from ``[s_0, theta]`` to the last horizon (source ``direct``; past the trained window the
  recurrent state rolls on).
- One-step models: a recursive roll-out (:func:`.rollout.closed_loop_rollout`) batched over
  trajectories, particles and protocols: ``logged`` replays the logged actions,
  ``controller`` puts each row's controller (rebuilt from theta) in the loop on the predicted
  states. ``propagation`` is ``mean`` (deterministic) or ``ts1`` / ``tsinf`` (sampled particles).

Matrix products run in ``precision`` (``fp32`` or ``bf16``, as in training). These four knobs
are declared once, in :class:`PredictSettings` (the CLI's ``eval.protocols``,
``eval.propagation``, ``eval.particles`` and ``train.precision``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.model_env import Propagation
from trajmbrl.evaluation.rollout import PROTOCOLS, ActionSource, closed_loop_rollout
from trajmbrl.evaluation.uncertainty import mixture_moments
from trajmbrl.training.precision import Precision, matmul_precision
from trajmbrl.utils.schema_check import check_settings, setting
from trajmbrl.utils.threads import single_thread

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.models.dynamics import DynamicsModel


@dataclass(frozen=True)
class Forecast:
    """Predicted states of N trajectories at H horizons as K samples.

    ``samples`` (K, N, H, ds) float64: the ensemble members of a trajectory model, or the
    particles of a one-step roll-out (K = 1 for ``mean`` propagation); ``variances`` (K, N, H, ds)
    the Gaussian heads' variances of a probabilistic trajectory model, else None. Diverged
    roll-outs hold non-finite values (never raised on).
    """

    samples: np.ndarray
    variances: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """(N, H, ds) the mean over samples (the single sample when K = 1)."""
        return self.moments()[0]

    def moments(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and variance (N, H, ds) of the sample mixture; a single deterministic sample
        has no variance (None)."""
        if self.samples.shape[0] == 1 and self.variances is None:
            return self.samples[0], None
        return mixture_moments(self.samples, self.variances, axis=0)


@dataclass
class PredictSettings:
    """How :func:`predict` rolls a model out, each knob declared once (type, range, doc; the
    CLI schema's ``eval`` group takes these fields, modes/schema.py)."""

    protocols: list[ActionSource] = setting(
        ["logged"],
        "one-step models: roll out with the logged actions and/or the trajectory's controller "
        "in the loop (a non-empty list; trajectory models ignore it)",
    )
    propagation: Propagation = setting(
        "mean", "one-step models: mean (deterministic) | ts1 | tsinf (sampled particles)"
    )
    particles: int = setting(1, "roll-outs per row for ts1 / tsinf (mean rolls out one)", ge=1)
    precision: Precision = setting("fp32", "fp32 or bf16 matrix products")

    def __post_init__(self) -> None:
        p = self.particles
        if isinstance(p, int) and not isinstance(p, bool) and p < 1:  # predict()'s own wording
            raise ArgumentError(f"{{PredictSettings.particles}} must be >= 1, got {p}")
        check_settings(self)
        if not self.protocols:
            raise ArgumentError(
                f"{{PredictSettings.protocols}} must be a non-empty subset of {list(PROTOCOLS)}, "
                f"got {self.protocols}"
            )


#: the defaults of :func:`predict`'s knobs
_DEFAULT = PredictSettings()


def predict(
    model: DynamicsModel,
    s0: np.ndarray,
    horizon: int | Sequence[int],
    *,
    theta: np.ndarray | None = None,
    actions: np.ndarray | None = None,
    sampler: ControllerSampler | None = None,
    protocols: Sequence[ActionSource] = tuple(_DEFAULT.protocols),
    propagation: Propagation = _DEFAULT.propagation,
    particles: int = _DEFAULT.particles,
    precision: Precision = _DEFAULT.precision,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> dict[str, Forecast]:
    """Predicted states from ``s0`` for ``horizon`` steps, per action source.

    :param s0: (N, ds) initial states.
    :param horizon: H (horizons 1..H); trajectory models also take the steps ahead (H,).
    :param theta: (N, dp) controller parameters: the trajectory model's input, and what the
        ``controller`` protocol rebuilds each row's controller from.
    :param actions: (N, T >= H, du) logged actions (``logged`` protocol).
    :param sampler: rebuilds controllers from theta (``controller`` protocol).
    :param protocols: one-step models: ``logged`` and/or ``controller`` (ignored otherwise).
    :param propagation: one-step models: ``mean`` | ``ts1`` | ``tsinf`` with ``particles``
        P >= 1 roll-outs per row (``mean`` always rolls out one).
    :param precision: ``fp32`` | ``bf16`` matrix products. These four are checked as
        :class:`PredictSettings` (whose defaults they have).
    :param seed: seeds the sampled propagation; ``generator`` (if given) is used instead and
        advanced, so repeated calls draw fresh samples (MPC).
    :returns: ``{"direct": Forecast}`` for trajectory models, ``{protocol: Forecast}`` (in the
        order of ``protocols``) for one-step models; each Forecast holds (K, N, H, ds).
    """
    knobs = PredictSettings(list(protocols), propagation, particles, precision)
    s0 = np.asarray(s0)
    with matmul_precision(knobs.precision, next(model.parameters()).device):
        if model.spec.family in ("trajectory", "sequence"):
            if theta is None:
                raise TrajmbrlError(
                    f"a {model.spec.family} model needs theta (N, dp) for every row"
                )
            hs = np.arange(1, horizon + 1) if isinstance(horizon, int) else np.asarray(horizon)
            if model.spec.family == "sequence":
                return {"direct": _sequence(model, s0, hs, theta)}
            return {"direct": _query(model, s0, hs, theta)}
        if not isinstance(horizon, int):
            raise TrajmbrlError("one-step models are rolled out to a horizon H (an int)")
        with single_thread():  # H sequential steps on ~100 rows: threads only synchronise
            return _roll_out(
                model,
                s0,
                horizon,
                knobs.protocols,
                actions=actions,
                sampler=sampler,
                theta=theta,
                propagation=knobs.propagation,
                particles=knobs.particles if knobs.propagation != "mean" else 1,
                seed=seed,
                generator=generator,
            )


def _query(model: DynamicsModel, s0: np.ndarray, hs: np.ndarray, theta: np.ndarray) -> Forecast:
    """Every member of a trajectory model at horizons ``hs`` (H,) in one batched forward."""
    device = next(model.parameters()).device
    n, ds = s0.shape
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    x = model.trajectory_inputs(as_t(s0), torch.as_tensor(hs, device=device), as_t(theta))
    with torch.inference_mode():
        mean, var = model.predict_members(x)
    shape = (mean.shape[0], n, len(hs), ds)
    to_np = lambda t: t.double().cpu().numpy().reshape(shape)  # noqa: E731
    return Forecast(to_np(mean), None if var is None else to_np(var))


def _sequence(model: DynamicsModel, s0: np.ndarray, hs: np.ndarray, theta: np.ndarray) -> Forecast:
    """Every member of a sequence model: one pass to max(hs) steps, kept at ``hs`` (H,)."""
    device = next(model.parameters()).device
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    steps = np.asarray(hs, dtype=np.int64)
    if len(steps) and (steps < 1).any() or not np.array_equal(steps, np.asarray(hs)):
        raise TrajmbrlError(f"a sequence model predicts whole steps >= 1, got {list(hs)}")
    last = int(steps.max()) if len(steps) else 0
    with torch.inference_mode():
        states = model.predict_sequence(as_t(s0), as_t(theta), last)  # (E, N, last, ds)
    return Forecast(states[:, :, steps - 1].double().cpu().numpy())


def _roll_out(
    model: DynamicsModel,
    s0: np.ndarray,
    horizon: int,
    protocols: Sequence[str],
    *,
    actions: np.ndarray | None,
    sampler: ControllerSampler | None,
    theta: np.ndarray | None,
    propagation: str,
    particles: int,
    seed: int,
    generator: torch.Generator | None,
) -> dict[str, Forecast]:
    """Recursive roll-out ``s_{t+1} = s_t + f(s_t, a_t)`` of a one-step model, batched over
    rows x particles x protocols (particle p of row i is roll-out row i * P + p; ``tsinf`` pins
    roll-out row r to member r % E)."""
    from trajmbrl.evaluation.model_env import ModelEnv

    device = next(model.parameters()).device
    n, ds = s0.shape
    env = ModelEnv(model, propagation=propagation, seed=seed, generator=generator)
    rep = lambda a: None if a is None else np.repeat(np.asarray(a), particles, axis=0)  # noqa: E731
    start = torch.as_tensor(rep(s0), dtype=torch.float32, device=device)
    env.reset(start.repeat(len(protocols), 1))

    def step(state: Tensor, action: Tensor) -> Tensor:
        return env.step(action)

    preds = closed_loop_rollout(
        step, start, horizon, protocols, actions=rep(actions), sampler=sampler, params=rep(theta)
    )
    out = {}
    for name, v in preds.items():
        arr = v.double().cpu().numpy().reshape(n, particles, horizon, ds)
        out[name] = Forecast(np.moveaxis(arr, 1, 0))  # (P, N, H, ds)
    return out
