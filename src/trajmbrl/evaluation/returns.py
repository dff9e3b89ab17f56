"""Section 5.5 returns: the per-state reward of each system and ``R = sum_{t=1..H} r(s_t)``.

The known reset state ``s_0`` is left out, and the *same* index range ``s_1..s_H`` is used for
the true states (``states[:, 1:H+1]``) and for the predictions (``pred[:, 0:H]``, whose index
``k`` is ``s_{k+1}``, see :mod:`trajmbrl.evaluation.rollout`). Non-finite states give a
non-finite return (a diverged roll-out); nothing here raises on them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.envs.cartpole import cartpole_reward
from trajmbrl.errors import ArgumentError, TrajmbrlError

#: r(states (..., ds)) -> (...) per-state reward
RewardFn = Callable[[np.ndarray], np.ndarray]

#: model state of the reacher (obs[Reacher3DEnv.STATE_INDICES], 18 dims): fingertip - goal
REACHER_TIP_MINUS_GOAL = slice(15, 18)
#: crazyflie observation (9 dims): sim ``[vx vy vz roll pitch yaw p q r]``; the hardware log has
#: ``[wx wy wz pitch roll yaw ...]`` (degrees) - dims 3, 4 are roll and pitch either way.
CRAZYFLIE_ROLL_PITCH = (3, 4)


def _check_dim(state: np.ndarray, ds: int, env: str) -> np.ndarray:
    state = np.asarray(state, dtype=np.float64)
    if state.shape[-1] != ds:
        raise TrajmbrlError(f"the {env} reward expects {ds}-dim states, got shape {state.shape}")
    return state


def cartpole_return_reward(state: np.ndarray) -> np.ndarray:
    """``-(x^2 + theta^2) / 200`` on ``[x, x_dot, theta, theta_dot]``. (..., 4) -> (...)"""
    return cartpole_reward(_check_dim(state, 4, "cartpole"))


def reacher_return_reward(state: np.ndarray) -> np.ndarray:
    """``-||fingertip - goal||`` from model-state dims 15:18 (control cost dropped).

    The original divided by 500; the scale changes MSE but no rank statistic. (..., 18) -> (...)
    """
    state = _check_dim(state, 18, "reacher")
    return -np.linalg.norm(state[..., REACHER_TIP_MINUS_GOAL], axis=-1)


def crazyflie_return_reward(state: np.ndarray) -> np.ndarray:
    """``-(roll^2 + pitch^2)`` on observation dims 3 and 4. (..., 9) -> (...)"""
    state = _check_dim(state, 9, "crazyflie")
    i, j = CRAZYFLIE_ROLL_PITCH
    return -(state[..., i] ** 2 + state[..., j] ** 2)


#: env name -> per-state reward used for section 5.5
REWARDS: dict[str, RewardFn] = {
    "cartpole": cartpole_return_reward,
    "reacher": reacher_return_reward,
    "crazyflie": crazyflie_return_reward,
}


def reward_for(env: str) -> RewardFn:
    """The registered reward of ``env`` (raises TrajmbrlError naming ``env.name``)."""
    if env not in REWARDS:
        raise TrajmbrlError(
            f"env.name={env!r} has no section-5.5 reward; choose one of {sorted(REWARDS)}"
        )
    return REWARDS[env]


def returns(states: np.ndarray, reward_fn: RewardFn = cartpole_return_reward) -> np.ndarray:
    """Sum of per-state rewards over the time axis.

    :param states: (N, H, ds), e.g. predictions ``s_1..s_H`` or ``data.states[:, 1:H+1]``.
    :returns: (N,) returns; non-finite states give a non-finite return (never raises).
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 3:
        raise TrajmbrlError(f"states for returns must be (N, H, ds), got shape {states.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.asarray(reward_fn(states), dtype=np.float64)
        if r.shape != states.shape[:2]:
            raise TrajmbrlError(
                f"reward_fn must map (N, H, ds) states to (N, H), got {r.shape} for {states.shape}"
            )
        return r.sum(axis=1)


def true_returns(
    data: TrajectoryData, horizon: int, reward_fn: RewardFn = cartpole_return_reward
) -> np.ndarray:
    """Returns over the logged ``s_1..s_H`` (``states[:, 1:H+1]``). :returns: (N,)"""
    if not 1 <= horizon <= data.horizon:
        raise ArgumentError(f"{{true_returns.horizon}}={horizon} must lie in [1, {data.horizon}]")
    short = int((data.lengths < horizon).sum())
    if short:
        raise ArgumentError(
            f"{{true_returns.horizon}}={horizon} exceeds the length of {short} trajectories "
            f"(shortest {int(data.lengths.min())}); lower {{true_returns.horizon}}"
        )
    return returns(data.states[:, 1 : horizon + 1], reward_fn)
