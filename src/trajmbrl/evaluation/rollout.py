"""Long-horizon predictions from the initial state of each test trajectory.

- Trajectory models: one batched query ``f(s_0, h, theta)`` for every horizon at once.
- One-step models (learned, ``lin`` or the true simulator): recursive roll-out, batched over
  trajectories, particles and protocols (no Python loop over them), with ``logged`` (replay the
  trajectory's actions, the paper's protocol) and/or ``controller`` (the trajectory's own
  controller acts on the *predicted* states: the closed loop the data came from).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError, TrajmbrlError

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.models.dynamics import DynamicsModel

ActionSource = Literal["logged", "controller"]
#: one-step roll-out protocols: replay the logged actions | the trajectory's controller in the loop
PROTOCOLS = ("logged", "controller")


def predict_trajectory_model(
    model: DynamicsModel, s0: np.ndarray, params: np.ndarray, horizon: int
) -> np.ndarray:
    """Query a trajectory model at horizons 1..H in one batched forward pass.

    :param s0: (N, ds) initial states; :param params: (N, dp) theta.
    :returns: (N, H, ds) predicted states.
    """
    device = next(model.parameters()).device
    s0_t = torch.as_tensor(s0, dtype=torch.float32, device=device)
    theta = torch.as_tensor(params, dtype=torch.float32, device=device)
    hs = torch.arange(1, horizon + 1, dtype=torch.float32, device=device)
    with torch.inference_mode():
        pred = model.query(s0_t, hs, theta)
    return pred.double().cpu().numpy()


def predict_trajectory_members(
    model: DynamicsModel, s0: np.ndarray, params: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every member's prediction at horizons 1..H (one batched forward).

    :returns: means (E, N, H, ds) and, for Gaussian models, variances (E, N, H, ds).
    """
    device = next(model.parameters()).device
    n, ds = s0.shape
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    x = model.trajectory_inputs(as_t(s0), torch.arange(1, horizon + 1, device=device), as_t(params))
    with torch.inference_mode():
        mean, var = model.predict_members(x)
    shape = (mean.shape[0], n, horizon, ds)
    to_np = lambda t: t.double().cpu().numpy().reshape(shape)  # noqa: E731
    return to_np(mean), (None if var is None else to_np(var))


def closed_loop_rollout(
    step: Callable[[Tensor, Tensor], Tensor],
    s0: Tensor,
    horizon: int,
    protocols: Sequence[str],
    *,
    actions: np.ndarray | None = None,
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
) -> dict[str, Tensor]:
    """Roll ``step`` out from ``s0`` under every protocol at once (one batch, one loop over t).

    ``logged`` replays ``actions``; ``controller`` rebuilds each row's controller from
    ``params`` and lets it act on the *predicted* states (non-finite states are shown to it as
    0, so a diverged row stays diverged without raising).

    :param step: ``(states (R, ds), actions (R, du)) -> next states (R, ds)`` for any R.
    :param s0: (B, ds) start states (rows may be trajectories x particles).
    :param actions: (B, T >= H, du) logged actions; :param params: (B, dp) theta.
    :returns: {protocol: (B, H, ds)} predicted states s_1..s_H.
    """
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise ArgumentError(
            f"{{closed_loop_rollout.protocols}} must be a non-empty subset of {list(PROTOCOLS)}, "
            f"got {list(protocols)}"
        )
    b = s0.shape[0]
    state = s0.repeat(len(protocols), 1)  # protocol k owns rows k*B .. (k+1)*B - 1
    blocks: list[tuple[slice, Any]] = []
    for k, name in enumerate(protocols):
        rows = slice(k * b, (k + 1) * b)
        if name == "logged":
            if actions is None or actions.shape[1] < horizon:
                raise TrajmbrlError(f"the logged protocol needs {horizon} logged actions")
            blocks.append(
                (rows, torch.as_tensor(actions[:, :horizon], dtype=s0.dtype, device=s0.device))
            )
        else:
            if sampler is None or params is None:
                raise TrajmbrlError("the controller protocol needs the env's controller sampler")
            controller = sampler.build(np.asarray(params))
            controller.reset()
            blocks.append((rows, controller))
    out = torch.empty((state.shape[0], horizon, s0.shape[1]), dtype=s0.dtype, device=s0.device)
    for t in range(horizon):
        parts = []
        for rows, source in blocks:
            if isinstance(source, Tensor):
                parts.append(source[:, t])
            else:
                obs = np.nan_to_num(
                    state[rows].double().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0
                )
                parts.append(torch.as_tensor(source.act(obs), dtype=s0.dtype, device=s0.device))
        state = step(state, torch.cat(parts, 0))
        out[:, t] = state
    return {name: out[k * b : (k + 1) * b] for k, name in enumerate(protocols)}


def predict_one_step_model(
    model: DynamicsModel,
    s0: np.ndarray,
    actions: np.ndarray,
    horizon: int,
    *,
    action_source: str = "logged",
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
    propagation: str = "mean",
    particles: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """One protocol of :func:`predict_one_step_protocols` (``action_source``)."""
    return predict_one_step_protocols(
        model,
        s0,
        actions,
        horizon,
        protocols=(action_source,),
        sampler=sampler,
        params=params,
        propagation=propagation,
        particles=particles,
        seed=seed,
    )[action_source]


def predict_one_step_protocols(
    model: DynamicsModel,
    s0: np.ndarray,
    actions: np.ndarray,
    horizon: int,
    *,
    protocols: Sequence[str] = ("logged",),
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
    propagation: str = "mean",
    particles: int = 1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Recursive roll-out ``s_{t+1} = s_t + f(s_t, a_t)`` batched over trajectories, particles
    and protocols (``logged`` and/or ``controller``, see :func:`closed_loop_rollout`).

    :param s0: (N, ds); :param actions: (N, T, du) logged actions (T >= H when logged).
    :param propagation: ``mean`` | ``ts1`` | ``tsinf`` (see :class:`ModelEnv`), with
        ``particles`` P roll-outs per trajectory (P > 1 only makes sense when sampling).
    :returns: {protocol: (N, H, ds), or (N, P, H, ds) when ``particles > 1``}; rows that blow
        up turn non-finite and stay so (never raises).
    """
    from trajmbrl.evaluation.model_env import ModelEnv

    if particles < 1:
        raise ArgumentError(
            f"{{predict_one_step_protocols.particles}} must be >= 1, got {particles}"
        )
    device = next(model.parameters()).device
    n, ds = s0.shape
    env = ModelEnv(model, propagation=propagation, seed=seed)
    # particle p of trajectory i is row i * P + p; tsinf pins row r to member r % E
    rep = lambda a: None if a is None else np.repeat(np.asarray(a), particles, axis=0)  # noqa: E731
    start = torch.as_tensor(rep(s0), dtype=torch.float32, device=device)
    env.reset(start.repeat(len(protocols), 1))

    def step(state: Tensor, action: Tensor) -> Tensor:
        return env.step(action)

    preds = closed_loop_rollout(
        step, start, horizon, protocols, actions=rep(actions), sampler=sampler, params=rep(params)
    )
    shape = (n, horizon, ds) if particles == 1 else (n, particles, horizon, ds)
    return {k: v.double().cpu().numpy().reshape(shape) for k, v in preds.items()}
