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


def predict_one_step_model(
    model: DynamicsModel,
    s0: np.ndarray,
    actions: np.ndarray,
    horizon: int,
    *,
    action_source: ActionSource = "logged",
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
) -> np.ndarray:
    """Recursive roll-out ``s_{t+1} = s_t + f(s_t, a_t)`` batched over trajectories.

    :param s0: (N, ds); :param actions: (N, T, du) logged actions (T >= H when logged).
    :returns: (N, H, ds); rows that blow up turn non-finite and stay so (never raises).
    """
    device = next(model.parameters()).device
    state = torch.as_tensor(s0, dtype=torch.float32, device=device)
    out = torch.empty((s0.shape[0], horizon, s0.shape[1]), dtype=torch.float32, device=device)
    controller = None
    if action_source == "controller":
        if sampler is None or params is None:
            raise TrajmbrlError("eval.action_source=controller needs the env's controller sampler")
        controller = sampler.build(params)
        controller.reset()
    elif action_source != "logged":
        raise TrajmbrlError(
            f"eval.action_source must be 'logged' or 'controller', got {action_source!r}"
        )
    logged = torch.as_tensor(actions, dtype=torch.float32, device=device)
    with torch.inference_mode():
        for t in range(horizon):
            if controller is None:
                act = logged[:, t]
            else:
                obs = np.nan_to_num(state.double().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
                act = torch.as_tensor(controller.act(obs), dtype=torch.float32, device=device)
            state = model.step(state, act)
            out[:, t] = state
    return out.double().cpu().numpy()
