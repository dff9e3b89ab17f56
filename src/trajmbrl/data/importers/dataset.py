"""Padding imported episodes into a TrajectoryData and drawing its seeded train/test split.

Rewards are 0 on valid steps (NaN padding beyond) unless the log has a reward column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.errors import TrajmbrlError


def _checked_theta(n: int, num_actions: int, theta: Any, test_fraction: float) -> np.ndarray:
    """Raise unless there are n >= 1 episodes, n action sequences, theta (n, dp), f in [0, 1).

    :returns: theta as a float64 (n, dp) array.
    """
    if n == 0:
        raise TrajmbrlError("No episodes to build a dataset from")
    if num_actions != n:
        raise TrajmbrlError(f"{n} state sequences but {num_actions} action sequences")
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != n:
        raise TrajmbrlError(f"theta must be (N={n}, dp), got shape {theta.shape}")
    if not 0.0 <= test_fraction < 1.0:
        raise TrajmbrlError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    return theta


def _transitions(
    states_list: Sequence[np.ndarray], actions_list: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each episode as (states (L+1, ds), actions (L, du)); rows input loses its last action."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (s, a) in enumerate(zip(states_list, actions_list)):
        s = np.asarray(s, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        if s.ndim != 2 or a.ndim != 2:
            raise TrajmbrlError(f"episode {i}: states and actions must be 2-D (L, dim)")
        if len(s) == len(a):
            a = a[:-1]
        if len(s) != len(a) + 1 or len(a) < 1:
            raise TrajmbrlError(
                f"episode {i}: {len(s)} states and {len(a)} actions; need L+1 states for L >= 1 "
                "actions (or L rows of both)"
            )
        pairs.append((s, a))
    ds, du = pairs[0][0].shape[1], pairs[0][1].shape[1]
    if any(s.shape[1] != ds or a.shape[1] != du for s, a in pairs):
        raise TrajmbrlError("episodes differ in state or action dimension")
    return pairs


def build_dataset(
    states_list: Sequence[np.ndarray],
    actions_list: Sequence[np.ndarray],
    theta: np.ndarray,
    *,
    test_fraction: float,
    seed: int,
    split_by: str = "episode",
    groups: Sequence[Any] | None = None,
    rewards_list: Sequence[np.ndarray] | None = None,
) -> TrajectoryData:
    """Pad episodes into a TrajectoryData with a seeded random train/test split.

    Each episode is either rows (states (L, ds), actions (L, du): the last action has no
    successor and is dropped, giving L-1 steps) or explicit transitions (states (L+1, ds),
    actions (L, du)). theta is (N, dp).

    :param split_by: ``"episode"``: a random permutation of the N episodes from
        ``default_rng(seed)``, the first ``ceil(test_fraction * N)`` are test. ``"group"``: the same
        over the distinct ``groups`` values (e.g. the flight each segment came from), so episodes
        sharing a group always land in the same split.
    :param rewards_list: per episode (>= L,) logged rewards, reward k for action k (None: 0).
    """
    n = len(states_list)
    theta = _checked_theta(n, len(actions_list), theta, test_fraction)
    pairs = _transitions(states_list, actions_list)
    ds, du = pairs[0][0].shape[1], pairs[0][1].shape[1]
    lengths = np.asarray([len(a) for _, a in pairs], dtype=np.int64)
    t = int(lengths.max())
    states = np.full((n, t + 1, ds), np.nan)
    actions = np.full((n, t, du), np.nan)
    rewards = np.full((n, t), np.nan)
    for i, (s, a) in enumerate(pairs):
        states[i, : len(s)] = s
        actions[i, : len(a)] = a
        rewards[i, : len(a)] = 0.0 if rewards_list is None else rewards_list[i][: len(a)]

    split = _split(n, test_fraction, seed, split_by, groups)
    return TrajectoryData(
        states=states,
        actions=actions,
        params=theta.copy(),
        rewards=rewards,
        lengths=lengths,
        seeds=np.full(n, -1, dtype=np.int64),
        split=split,
    )


def _split(
    n: int, test_fraction: float, seed: int, split_by: str, groups: Sequence[Any] | None
) -> np.ndarray:
    """(n,) int8 split: a ``default_rng(seed)`` permutation of the units, first ceil(f*U) test."""
    if split_by == "episode":
        unit = np.arange(n)
    elif split_by == "group":
        if groups is None or len(groups) != n:
            raise TrajmbrlError("split_by='group' needs one group id per episode (groups=...)")
        unit, _ = pd.factorize(pd.Series(list(groups)), sort=False)
    else:
        raise TrajmbrlError(f"split_by must be 'episode' or 'group', got {split_by!r}")
    num_units = int(unit.max()) + 1
    num_test = math.ceil(test_fraction * num_units - 1e-9)
    if num_test >= num_units and test_fraction > 0:
        raise TrajmbrlError(
            f"test_fraction={test_fraction} puts all {num_units} {split_by}(s) in the test split; "
            "lower it or import more episodes"
        )
    order = np.random.default_rng(seed).permutation(num_units)
    is_test = np.zeros(num_units, dtype=bool)
    is_test[order[:num_test]] = True
    return np.where(is_test[unit], TEST, TRAIN).astype(np.int8)
