"""Section 5.5 returns: the per-state reward of each system and ``R = sum_{t=1..H} r(s_t)``.

The known reset state ``s_0`` is left out, and the *same* index range ``s_1..s_H`` is used for
the true states (``states[:, 1:H+1]``) and for the predictions (``pred[:, 0:H]``, whose index
``k`` is ``s_{k+1}``, see :mod:`trajmbrl.evaluation.rollout`). Non-finite states give a
non-finite return (a diverged roll-out); nothing here raises on them.
"""

from __future__ import annotations

import numpy as np

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.envs.cartpole import cartpole_return_reward
from trajmbrl.envs.spec import BUILTIN, RewardFn, find_system, system_names
from trajmbrl.errors import ArgumentError, TrajmbrlError

__all__ = ["REWARDS", "RewardFn", "cartpole_return_reward", "returns", "reward_for", "true_returns"]

#: built-in env name -> its ``SystemSpec.return_reward`` (:func:`reward_for` also finds the
#: systems registered later)
REWARDS: dict[str, RewardFn] = {
    name: spec.return_reward for name in BUILTIN if (spec := find_system(name)) is not None
}


def reward_for(env: str) -> RewardFn:
    """The section-5.5 reward of system ``env`` (raises TrajmbrlError naming ``env.name``)."""
    spec = find_system(env)
    if spec is None:
        raise TrajmbrlError(
            f"env.name={env!r} has no section-5.5 reward; choose one of {system_names()}"
        )
    return spec.return_reward


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
