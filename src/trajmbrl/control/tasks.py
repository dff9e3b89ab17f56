"""Control tasks: which theta is searched, in which box, and the per-state reward that scores it.

A task's ``reward`` is written once and used for everything: the true score of a system
episode, the predicted score of a model roll-out or trajectory query, and the MPC planner's
objective. The score of an episode is the mean reward over ``s_1..s_H`` (a state after
termination counts 0), so every score lies in the reward's range:

- cartpole: ``exp(-(x^2 + theta^2))`` in [0, 1]; theta = the LQR gain row K (4), searched in
  the box spanned by ``0`` and ``3 K*``; reference = the LQR gain K*;
- crazyflie: ``exp(-(roll^2 + pitch^2) / 0.1^2)`` in [0, 1] (0.1 rad = 5.7 deg scale);
  theta = [P_pitch, P_roll, D_pitch, D_roll] in the data's ranges; no reference;
- reacher: ``-||fingertip - goal||`` (metres, <= 0); theta = [P/5, D, target] (15), chosen per
  episode for its initial state and goal (``per_episode``); no reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.returns import CRAZYFLIE_ROLL_PITCH, reacher_return_reward

#: r(states (..., ds)) -> (...) per-state reward
RewardFn = Callable[[np.ndarray], np.ndarray]
#: crazyflie angle scale of the reward (rad)
CRAZYFLIE_ANGLE_SCALE = 0.1


def cartpole_control_reward(state: np.ndarray) -> np.ndarray:
    """``exp(-(x^2 + theta^2))`` on ``[x, x_dot, theta, theta_dot]``. (..., 4) -> (...)"""
    state = np.asarray(state, dtype=np.float64)
    return np.exp(-(state[..., 0] ** 2 + state[..., 2] ** 2))


def crazyflie_control_reward(state: np.ndarray) -> np.ndarray:
    """``exp(-(roll^2 + pitch^2) / 0.1^2)`` on observation dims 3, 4. (..., 9) -> (...)"""
    state = np.asarray(state, dtype=np.float64)
    i, j = CRAZYFLIE_ROLL_PITCH
    return np.exp(-(state[..., i] ** 2 + state[..., j] ** 2) / CRAZYFLIE_ANGLE_SCALE**2)


@dataclass
class ControlTask:
    """What is optimised on one system (plain data; built by :func:`make_task`).

    :param low, high: (dp,) box of theta; searches run in the unit box and map through it.
    :param reference: (dp,) the hand-designed theta, or None.
    :param per_episode: choose theta per episode from its initial state (reacher).
    """

    name: str
    env_id: str
    sampler: ControllerSampler
    horizon: int
    low: np.ndarray
    high: np.ndarray
    reward: RewardFn
    reference: np.ndarray | None = None
    per_episode: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    state_indices: np.ndarray | None = None
    #: action bounds (du,) of the system, for action-sequence planners
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.low.shape[0])

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        """Unit box -> theta. :param z: (..., dp) (clipped to [0, 1]). :returns: (..., dp)"""
        return self.low + np.clip(z, 0.0, 1.0) * (self.high - self.low)

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        """theta -> unit box. :param theta: (..., dp). :returns: (..., dp)"""
        return (np.asarray(theta, dtype=np.float64) - self.low) / (self.high - self.low)

    def score(self, states: np.ndarray, horizon: int | None = None) -> np.ndarray:
        """Mean reward over ``s_1..s_H``; NaN (after termination) counts 0, inf gives 0 reward.

        :param states: (..., H', ds) predicted or true ``s_1..s_H'`` (H' <= H are padded).
        :param horizon: H, the divisor (default H').
        :returns: (...) scores.
        """
        states = np.asarray(states, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            r = np.asarray(self.reward(states), dtype=np.float64)
        r = np.where(np.isfinite(r), r, 0.0)
        return r.sum(axis=-1) / float(horizon or states.shape[-2])


def _cartpole(horizon: int | None) -> ControlTask:
    from trajmbrl.controllers.lqr import LQRSampler

    sampler = LQRSampler("stable")
    k_star = sampler.k_star
    lo, hi = np.minimum(0.0, 3.0 * k_star), np.maximum(0.0, 3.0 * k_star)
    return ControlTask(
        "cartpole",
        "trajmbrl/Cartpole-v0",
        sampler,
        horizon or 200,
        lo,
        hi,
        cartpole_control_reward,
        reference=k_star.copy(),
        env_kwargs={"terminate": False},
        action_low=np.array([-1.0]),
        action_high=np.array([1.0]),
    )


def _crazyflie(horizon: int | None) -> ControlTask:
    from trajmbrl.controllers.crazyflie_pd import D_RANGE, P_RANGE, CrazyfliePDSampler

    lo = np.array([P_RANGE[0], P_RANGE[0], D_RANGE[0], D_RANGE[0]])
    hi = np.array([P_RANGE[1], P_RANGE[1], D_RANGE[1], D_RANGE[1]])
    return ControlTask(
        "crazyflie",
        "trajmbrl/Crazyflie-v0",
        CrazyfliePDSampler(),
        horizon or 500,
        lo,
        hi,
        crazyflie_control_reward,
        action_low=np.zeros(4),
        action_high=np.full(4, 65535.0),
    )


def _reacher(horizon: int | None) -> ControlTask:
    from trajmbrl.controllers.pd import ReacherPDSampler
    from trajmbrl.envs.reacher import Reacher3DEnv

    lo = np.concatenate([np.zeros(5), np.zeros(5), -np.ones(5)])
    hi = np.ones(15)
    return ControlTask(
        "reacher",
        "trajmbrl/Reacher3D-v0",
        ReacherPDSampler(),
        horizon or 500,
        lo,
        hi,
        reacher_return_reward,
        per_episode=True,
        state_indices=np.asarray(Reacher3DEnv.STATE_INDICES, dtype=np.int64),
    )


TASKS: dict[str, Callable[[int | None], ControlTask]] = {
    "cartpole": _cartpole,
    "crazyflie": _crazyflie,
    "reacher": _reacher,
}


def make_task(env: str, horizon: int | None = None) -> ControlTask:
    """The control task of ``env`` with episodes of ``horizon`` steps (None = the default)."""
    if env not in TASKS:
        raise TrajmbrlError(
            f"mode=control has no task for envs={env}; choose one of {sorted(TASKS)}"
        )
    if horizon is not None and horizon < 2:
        raise ArgumentError(f"{{make_task.horizon}} must be >= 2, got {horizon}")
    return TASKS[env](horizon)
