"""Section 5.5 returns: the per-state reward of each system and ``R = sum_{t=1..H} r(s_t)``.

The known reset state ``s_0`` is left out, and the *same* index range ``s_1..s_H`` is used for
the true states (``states[:, 1:H+1]``) and for the predictions (``pred[:, 0:H]``, whose index
``k`` is ``s_{k+1}``, see :mod:`trajmbrl.evaluation.rollout`). Non-finite states give a
non-finite return (a diverged roll-out); nothing here raises on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.envs.cartpole import cartpole_return_reward
from trajmbrl.envs.spec import BUILTIN, RewardFn, find_system, system_names
from trajmbrl.errors import ArgumentError, TrajmbrlError

__all__ = [
    "REWARDS",
    "REWARD_KINDS",
    "RewardFn",
    "cartpole_return_reward",
    "declared_reward",
    "fit_state_reward",
    "quadratic_reward",
    "returns",
    "reward_for",
    "true_returns",
]

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


#: the reward kinds an own system (envs=logs, envs=gym) declares by name; anything else is the
#: import path of a function ``r(states (..., ds)) -> (...)`` (``pkg.module:fn``)
REWARD_KINDS = ("fitted", "quadratic")


def declared_reward(
    kind: str,
    *,
    state_names: Sequence[str],
    weights: Mapping[str, float] | None = None,
    train: TrajectoryData | None = None,
) -> RewardFn:
    """A per-state reward declared by name (envs=logs, envs=gym):

    - ``fitted``: the recorded per-step reward (a log's reward column, a Gymnasium env's own
      reward at collection) as a function of the state it led to, ``r_k ~ f(s_{k+1})``, by
      least squares on quadratic features of the state, fitted on ``train`` (the training split
      only); :func:`fit_state_reward`.
    - ``quadratic``: ``r(s) = -sum_i w_i s_i^2`` over the named entries (``weights``: state name
      -> w).
    - ``pkg.module:fn``: your own function ``r(states (..., ds)) -> (...)``.
    """
    if kind == "fitted":
        if train is None:
            raise TrajmbrlError("the fitted reward needs the training split's recorded rewards")
        return fit_state_reward(train)
    if kind == "quadratic":
        return quadratic_reward(weights or {}, state_names)
    if ":" not in kind:
        raise TrajmbrlError(
            f"reward {kind!r} is unknown; choose {' or '.join(REWARD_KINDS)} or give a function "
            "as pkg.module:fn"
        )
    from trajmbrl.controllers.declared import import_object

    fn = import_object(kind)
    if not callable(fn):
        raise TrajmbrlError(f"reward {kind!r} is not a function")
    return fn


def quadratic_reward(weights: Mapping[str, float], state_names: Sequence[str]) -> RewardFn:
    """``r(s) = -sum_i w_i s_i^2`` (weights: state name -> w_i >= 0). (..., ds) -> (...)"""
    names = list(state_names)
    unknown = [n for n in weights if str(n) not in names]
    if not weights or unknown:
        raise TrajmbrlError(
            f"the quadratic reward needs weights for state entries {names}, got {dict(weights)}"
        )
    w = np.zeros(len(names))
    for name, value in weights.items():
        w[names.index(str(name))] = float(value)

    def reward(states: np.ndarray) -> np.ndarray:
        return -np.einsum("...i,i->...", np.asarray(states, dtype=np.float64) ** 2, w)

    return reward


def _features(z: np.ndarray) -> np.ndarray:
    """[1, z, z_i z_j (i <= j)] of standardised states. (M, ds) -> (M, F)"""
    i, j = np.triu_indices(z.shape[1])
    return np.hstack([np.ones((len(z), 1)), z, z[:, i] * z[:, j]])


def fit_state_reward(train: TrajectoryData, ridge: float = 1e-8) -> RewardFn:
    """``r(s)`` fitted to the recorded rewards: ``rewards[n, k] ~ f(states[n, k + 1])`` by ridge
    least squares on quadratic features of the standardised state (train split only).
    The fit's R^2 is ``reward.r2``. (..., ds) -> (...)"""
    valid = np.arange(train.horizon)[None, :] < train.lengths[:, None]
    s = train.states[:, 1:][valid]
    r = train.rewards[valid]
    if not len(r) or not np.all(np.isfinite(r)):
        raise TrajmbrlError("the fitted reward needs finite recorded rewards on every train step")
    mean, std = s.mean(axis=0), s.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x = _features((s - mean) / std)
    gram = x.T @ x
    coef = np.linalg.solve(gram + ridge * np.trace(gram) / len(gram) * np.eye(len(gram)), x.T @ r)
    resid = r - x @ coef
    total = float(((r - r.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / total if total > 0 else 1.0

    def reward(states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        flat = (states.reshape(-1, states.shape[-1]) - mean) / std
        return (_features(flat) @ coef).reshape(states.shape[:-1])

    reward.r2 = r2  # type: ignore[attr-defined]
    return reward
