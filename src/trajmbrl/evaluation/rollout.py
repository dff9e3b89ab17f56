"""Long-horizon predictions from the initial state of each test trajectory.

- Trajectory models: one batched query ``f(s_0, h, theta)`` for every horizon at once.
- One-step models: recursive roll-out, batched over trajectories (no Python loop over them),
  with ``action_source="logged"`` (replay the trajectory's actions, the paper's default) or
  ``"controller"`` (the trajectory's controller acts on the *predicted* states).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.models.dynamics import DynamicsModel

ActionSource = Literal["logged", "controller"]


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
    x = model.trajectory_inputs(as_t(s0), torch.arange(1, horizon + 1, device=device),
                                as_t(params))
    with torch.inference_mode():
        mean, var = model.predict_members(x)
    shape = (mean.shape[0], n, horizon, ds)
    to_np = lambda t: t.double().cpu().numpy().reshape(shape)  # noqa: E731
    return to_np(mean), (None if var is None else to_np(var))


def predict_one_step_model(
    model: DynamicsModel,
    s0: np.ndarray,
    actions: np.ndarray,
    horizon: int,
    *,
    action_source: ActionSource = "logged",
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
    propagation: str = "mean",
    particles: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Recursive roll-out ``s_{t+1} = s_t + f(s_t, a_t)`` batched over trajectories.

    :param s0: (N, ds); :param actions: (N, T, du) logged actions (T >= H when logged).
    :param propagation: ``mean`` | ``ts1`` | ``tsinf`` (see :class:`ModelEnv`), with
        ``particles`` P roll-outs per trajectory (P > 1 only makes sense when sampling).
    :returns: (N, H, ds), or (N, P, H, ds) when ``particles > 1``; rows that blow up turn
        non-finite and stay so (never raises).
    """
    from trajmbrl.evaluation.model_env import ModelEnv

    if particles < 1:
        raise TrajmbrlError(f"eval.particles must be >= 1, got {particles}")
    device = next(model.parameters()).device
    n, ds = s0.shape
    env = ModelEnv(model, propagation=propagation, seed=seed)
    # particle p of trajectory i is row i * P + p; tsinf pins row r to member r % E
    start = np.repeat(np.asarray(s0, dtype=np.float32), particles, axis=0)
    state = env.reset(torch.as_tensor(start, device=device))
    rows = n * particles
    out = torch.empty((rows, horizon, ds), dtype=torch.float32, device=device)
    controller = None
    if action_source == "controller":
        if sampler is None or params is None:
            raise TrajmbrlError("eval.action_source=controller needs the env's controller sampler")
        controller = sampler.build(np.repeat(params, particles, axis=0))
        controller.reset()
    elif action_source != "logged":
        raise TrajmbrlError(
            f"eval.action_source must be 'logged' or 'controller', got {action_source!r}"
        )
    logged = torch.as_tensor(
        np.repeat(np.asarray(actions[:, :horizon]), particles, axis=0),
        dtype=torch.float32, device=device,
    )
    for t in range(horizon):
        if controller is None:
            act = logged[:, t]
        else:
            obs = np.nan_to_num(state.double().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
            act = torch.as_tensor(controller.act(obs), dtype=torch.float32, device=device)
        state = env.step(act)
        out[:, t] = state
    pred = out.double().cpu().numpy()
    return pred if particles == 1 else pred.reshape(n, particles, horizon, ds)
