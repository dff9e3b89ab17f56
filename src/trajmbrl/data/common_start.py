"""Section 5.5's test set from a common start: N controllers run from each of M initial states.

"Which gain is best from here?" needs several controllers from the *same* initial state: a test
set of independent (s_0, theta) draws mostly ranks the initial states. :func:`collect_common_start`
rolls out, for each of ``states`` initial states (one reset seed each), ``controllers``
accepted controllers of the env's sampler. Trajectory ``i`` belongs to start ``i // controllers``
and every trajectory of a start records the same seed (``seeds``); :func:`start_groups` finds the
groups again from the initial states themselves.

Seeds: start m draws its reset seed and then its controllers (rejected draws included) from
``default_rng(child_seeds(seed, states, stream=2)[m])``: a stream disjoint from the training
(0) and the ordinary test (1) streams of :func:`trajmbrl.data.collect.collect`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import trajmbrl.envs  # noqa: F401  (registers the env ids)
from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.data.collect import rollout
from trajmbrl.data.storage import TEST, TrajectoryData
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.utils.progress import show_progress
from trajmbrl.utils.schema_check import check_settings, setting
from trajmbrl.utils.seeding import child_seeds

#: the seed stream of common-start test sets (0: train, 1: ordinary test)
STREAM = 2


@dataclass
class CommonStart:
    """The shape of a common-start test set (the CLI's ``env.common_start``)."""

    states: int = setting(20, "test initial states M (one reset seed each)", ge=1)
    controllers: int = setting(10, "controllers N run from every test initial state", ge=2)

    def __post_init__(self) -> None:
        check_settings(self)


def collect_common_start(
    env_id: str,
    sampler: ControllerSampler,
    shape: CommonStart,
    *,
    horizon: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    state_indices: list[int] | None = None,
    max_attempts: int = 1000,
    progress: bool | None = None,
) -> tuple[TrajectoryData, dict[str, Any]]:
    """``shape.states x shape.controllers`` accepted test trajectories of ``horizon`` steps.

    :returns: the test split (M * N trajectories, start-major: states (M N, horizon + 1, ds))
        and a report ``{states, controllers, accepted, rejected, env_steps, seconds}``
    """
    if horizon < 1:
        raise ArgumentError(f"{{collect_common_start.horizon}} must be >= 1, got {horizon}")
    env = gym.make(env_id, **(env_kwargs or {})).unwrapped
    idx = np.asarray(state_indices, dtype=np.int64) if state_indices is not None else None
    records: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
    rejected = steps = 0
    start = time.perf_counter()
    total = shape.states * shape.controllers
    bar = tqdm(total=total, desc="common-start test set", disable=not show_progress(progress))
    try:
        for m, start_seed in enumerate(child_seeds(seed, shape.states, stream=STREAM)):
            rng = np.random.default_rng(int(start_seed))
            reset_seed = int(rng.integers(0, 2**31 - 1))
            for _ in range(shape.controllers):
                for _attempt in range(max_attempts):
                    params = np.asarray(sampler.sample_params(rng), dtype=np.float64)
                    states, actions, rewards, terminated = rollout(
                        env, sampler, params, horizon, reset_seed, idx
                    )
                    steps += len(actions)
                    if len(actions) == horizon and sampler.accept(states, terminated):
                        records.append((states, actions, rewards, params, int(start_seed)))
                        break
                    rejected += 1
                else:
                    raise TrajmbrlError(
                        f"No acceptable controller from common start {m} of {env_id} after "
                        f"{max_attempts} attempts; the controller distribution or the horizon "
                        "is too hard."
                    )
                bar.update(1)
    finally:
        bar.close()
        env.close()
    data = TrajectoryData(
        states=np.stack([r[0] for r in records]),
        actions=np.stack([r[1] for r in records]),
        params=np.stack([r[3] for r in records]),
        rewards=np.stack([r[2] for r in records]),
        lengths=np.full(total, horizon, dtype=np.int64),
        seeds=np.asarray([r[4] for r in records], dtype=np.int64),
        split=np.full(total, TEST, dtype=np.int8),
    )
    report = {
        "states": shape.states,
        "controllers": shape.controllers,
        "accepted": total,
        "rejected": rejected,
        "env_steps": steps,
        "seconds": round(time.perf_counter() - start, 3),
    }
    return data, report


def start_groups(s0: np.ndarray) -> np.ndarray:
    """Ids of identical initial states, numbered in order of first appearance.

    :param s0: (N, ds) initial states. :returns: (N,) int64 group ids 0..G-1
    """
    s0 = np.asarray(s0)
    if s0.ndim != 2:
        raise TrajmbrlError(f"start_groups needs initial states (N, ds), got {s0.shape}")
    _, first, inverse = np.unique(s0, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # unique rows re-numbered by first appearance
    return order[inverse.reshape(-1)].astype(np.int64)


def concat(a: TrajectoryData, b: TrajectoryData) -> TrajectoryData:
    """The trajectories of ``a`` then ``b`` (one horizon and dims; no meta)."""
    if a.states.shape[1:] != b.states.shape[1:] or a.params.shape[1:] != b.params.shape[1:]:
        raise TrajmbrlError(f"cannot join datasets of shapes {a.states.shape} and {b.states.shape}")
    join = lambda name: np.concatenate([getattr(a, name), getattr(b, name)])  # noqa: E731
    return TrajectoryData(
        states=join("states"),
        actions=join("actions"),
        params=join("params"),
        rewards=join("rewards"),
        lengths=join("lengths"),
        seeds=join("seeds"),
        split=join("split"),
    )
