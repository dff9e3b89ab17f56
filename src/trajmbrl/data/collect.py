"""Closed-loop data collection: roll controllers out in a Gymnasium env and log trajectories.

Logging convention (fixes the original's one-step lag, spec 4.1/8.2): ``states[t]`` is the
observation at which ``actions[t]`` is applied, ``states[0]`` is the reset observation, and
``states[t + 1]`` is the observation that follows. Every trajectory is generated from one
recorded seed; rejected attempts (early termination or a failed acceptance rule) are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import trajmbrl.envs  # noqa: F401  (registers the env ids)
from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.progress import show_progress
from trajmbrl.utils.seeding import child_seeds


@dataclass
class CollectReport:
    """What happened during collection (goes into the manifest)."""

    accepted: int = 0
    rejected: int = 0
    terminated_early: int = 0
    #: rollouts (accepted or not) that left the sampler's safe region, when it defines one
    diverged: int | None = None
    env_steps: int = 0
    seconds: float = 0.0
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        total = self.accepted + self.rejected
        return self.accepted / total if total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "terminated_early": self.terminated_early,
            "diverged": self.diverged,
            "diverged_share": (
                None
                if self.diverged is None
                else round(self.diverged / max(1, self.accepted + self.rejected), 4)
            ),
            "acceptance_rate": round(self.acceptance_rate, 4),
            "env_steps": self.env_steps,
            "seconds": round(self.seconds, 3),
            "steps_per_second": round(self.env_steps / self.seconds, 1) if self.seconds else None,
            "per_split": self.per_split,
        }


def rollout(
    env: gym.Env,
    sampler: ControllerSampler,
    params: np.ndarray,
    horizon: int,
    reset_seed: int,
    state_indices: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Run one closed loop for ``horizon`` steps (or until termination).

    :param params: (dp,) theta of the controller.
    :returns: states (L+1, ds), actions (L, du), rewards (L,), terminated flag; L <= horizon.
    """
    controller = sampler.build(params[None, :])
    controller.reset()
    obs, _ = env.reset(seed=int(reset_seed))
    observations = [np.asarray(obs, dtype=np.float64)]
    actions, rewards = [], []
    terminated = False
    for _ in range(horizon):
        action = np.asarray(controller.act(observations[-1][None, :])[0], dtype=np.float64)
        obs, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        rewards.append(float(reward))
        observations.append(np.asarray(obs, dtype=np.float64))
        if terminated or truncated:
            terminated = bool(terminated)
            break
    states = np.stack(observations)
    if state_indices is not None:
        states = states[:, state_indices]
    du = env.action_space.shape[0] if env.action_space.shape else 1
    acts = np.stack(actions) if actions else np.zeros((0, du))
    return states, acts, np.asarray(rewards), terminated


def collect(
    env_id: str,
    sampler: ControllerSampler,
    *,
    num_train: int,
    num_test: int,
    horizon: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    state_indices: list[int] | None = None,
    max_attempts: int = 1000,
    progress: bool | None = None,
) -> tuple[TrajectoryData, CollectReport]:
    """Collect ``num_train`` + ``num_test`` accepted trajectories of ``horizon`` steps.

    Train trajectory i uses seed ``child_seeds(seed, num_train, stream=0)[i]``, test trajectory i
    ``child_seeds(seed, num_test, stream=1)[i]``: disjoint streams, so train and test never share
    initial states or controller draws. Within one trajectory seed, attempt k draws theta and the
    reset seed from ``default_rng(seed_i)`` in sequence, so retries are reproducible too.
    """
    import time

    for key, value in (("env.num_train", num_train), ("env.num_test", num_test)):
        if value < 0:
            raise TrajmbrlError(f"{key} must be >= 0, got {value}")
    if horizon < 1:
        raise TrajmbrlError(f"env.horizon must be >= 1, got {horizon}")
    # the bare env: the collector enforces reset-before-step itself, wrappers only cost time
    env = gym.make(env_id, **(env_kwargs or {})).unwrapped
    idx = np.asarray(state_indices, dtype=np.int64) if state_indices is not None else None
    report = CollectReport()
    splits = [
        (TRAIN, "train", child_seeds(seed, num_train, stream=0)),
        (TEST, "test", child_seeds(seed, num_test, stream=1)),
    ]
    total = num_train + num_test
    records: list[tuple[Any, ...]] = []
    start = time.perf_counter()
    bar = tqdm(
        total=total, desc=f"collect {env_id}", unit="traj", disable=not show_progress(progress)
    )
    try:
        for split_id, split_name, seeds in splits:
            stats = {"accepted": 0, "rejected": 0}
            for traj_seed in seeds:
                record, rejected = _first_accepted(
                    env, env_id, sampler, int(traj_seed), horizon, idx, max_attempts, report
                )
                records.append((*record, int(traj_seed), split_id))
                stats["accepted"] += 1
                stats["rejected"] += rejected
                bar.update(1)
            report.accepted += stats["accepted"]
            report.rejected += stats["rejected"]
            report.per_split[split_name] = stats
    finally:
        bar.close()
        env.close()
    report.seconds = time.perf_counter() - start
    return _stack(records, horizon), report


def _first_accepted(
    env: gym.Env,
    env_id: str,
    sampler: ControllerSampler,
    traj_seed: int,
    horizon: int,
    idx: np.ndarray | None,
    max_attempts: int,
    report: CollectReport,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], int]:
    """Draw theta and a reset seed from ``default_rng(traj_seed)`` until a rollout is accepted.

    :returns: (states, actions, rewards, params) of the accepted rollout, rejected attempts.
    """
    rng = np.random.default_rng(traj_seed)
    for attempt in range(max_attempts):
        params = np.asarray(sampler.sample_params(rng), dtype=np.float64)
        reset_seed = int(rng.integers(0, 2**31 - 1))
        states, actions, rewards, terminated = rollout(
            env, sampler, params, horizon, reset_seed, idx
        )
        report.env_steps += len(actions)
        full = len(actions) == horizon
        report.terminated_early += int(not full)
        if hasattr(sampler, "diverged"):
            report.diverged = (report.diverged or 0) + int((not full) or sampler.diverged(states))
        if full and sampler.accept(states, terminated):
            return (states, actions, rewards, params), attempt
    raise TrajmbrlError(
        f"No acceptable trajectory for {env_id} after {max_attempts} attempts (seed "
        f"{traj_seed}); the controller distribution or env.horizon is too hard."
    )


def _stack(records: list[Any], horizon: int) -> TrajectoryData:
    """Stack equal-length records into a TrajectoryData."""
    if not records:
        raise TrajmbrlError("No trajectories collected: env.num_train + env.num_test is 0")
    states = np.stack([r[0] for r in records])
    return TrajectoryData(
        states=states,
        actions=np.stack([r[1] for r in records]),
        params=np.stack([r[3] for r in records]),
        rewards=np.stack([r[2] for r in records]),
        lengths=np.full(len(records), horizon, dtype=np.int64),
        seeds=np.asarray([r[4] for r in records], dtype=np.int64),
        split=np.asarray([r[5] for r in records], dtype=np.int8),
    )
