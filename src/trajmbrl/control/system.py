"""Episodes on the true system: run chosen theta, score them, keep them as training data.

Every system episode starts from ``env.reset(seed=s)``; the same seed gives the same initial
state (and goal), so a method may look at ``s_0`` before choosing theta (per-episode planning).
An episode with re-planning is stored as one trajectory per constant-theta segment: each is a
valid ``(s_i, h, theta) -> s_{i+h}`` record for a trajectory model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

import trajmbrl.envs  # noqa: F401  (registers the env ids)
from trajmbrl.control.tasks import ControlTask
from trajmbrl.data.collect import rollout
from trajmbrl.data.storage import TRAIN, TrajectoryData

#: choose(state (ds,), steps_left) -> theta (dp,)
Chooser = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class EpisodeLog:
    """Everything spent on the system so far (segments are training trajectories)."""

    states: list[np.ndarray] = field(default_factory=list)  # each (L+1, ds)
    actions: list[np.ndarray] = field(default_factory=list)  # each (L, du)
    params: list[np.ndarray] = field(default_factory=list)  # each (dp,)
    scores: list[float] = field(default_factory=list)  # one per episode
    thetas: list[np.ndarray] = field(default_factory=list)  # first theta of each episode

    @property
    def episodes(self) -> int:
        return len(self.scores)

    def add_segment(self, states: np.ndarray, actions: np.ndarray, theta: np.ndarray) -> None:
        if len(actions):
            self.states.append(states)
            self.actions.append(actions)
            self.params.append(np.asarray(theta, dtype=np.float64))

    def to_data(self) -> TrajectoryData:
        """All segments as a NaN-padded training split."""
        t = max(len(a) for a in self.actions)
        n, ds, du = len(self.actions), self.states[0].shape[1], self.actions[0].shape[1]
        states = np.full((n, t + 1, ds), np.nan)
        actions = np.full((n, t, du), np.nan)
        for k, (s, a) in enumerate(zip(self.states, self.actions)):
            states[k, : len(s)], actions[k, : len(a)] = s, a
        lengths = np.array([len(a) for a in self.actions], dtype=np.int64)
        return TrajectoryData(
            states=states,
            actions=actions,
            params=np.stack(self.params),
            rewards=np.zeros((n, t)),
            lengths=lengths,
            seeds=np.full(n, -1, dtype=np.int64),
            split=np.full(n, TRAIN, dtype=np.int8),
        )


class System:
    """The true system of a task: one reusable env, episodes by reset seed."""

    def __init__(self, task: ControlTask) -> None:
        self.task = task
        self.env = gym.make(task.env_id, **task.env_kwargs).unwrapped
        self.idx = task.state_indices
        #: called after every system episode (progress reporting), when set
        self.on_episode: Callable[[], None] | None = None

    def close(self) -> None:
        self.env.close()

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        return obs if self.idx is None else obs[self.idx]

    def initial_states(self, seeds: np.ndarray) -> np.ndarray:
        """Model states after ``reset(seed)``. :returns: (N, ds)"""
        return np.stack([self._obs(self.env.reset(seed=int(s))[0]) for s in seeds])

    def score(self, states: np.ndarray) -> float:
        """True score of one episode from its states (L+1, ds) (L < H: the rest counts 0)."""
        return float(self.task.score(states[None, 1:], self.task.horizon)[0])

    def run(self, theta: np.ndarray, seed: int, log: EpisodeLog | None = None) -> float:
        """One episode with a fixed theta (dp,). :returns: its true score."""
        states, actions, _, _ = rollout(
            self.env, self.task.sampler, np.asarray(theta), self.task.horizon, int(seed), self.idx
        )
        if log is not None:
            log.add_segment(states, actions, theta)
            log.scores.append(self.score(states))
            log.thetas.append(np.asarray(theta, dtype=np.float64))
        if self.on_episode is not None:
            self.on_episode()
        return self.score(states)

    def run_planned(
        self,
        choose: Chooser,
        seed: int,
        replan_every: int | None = None,
        log: EpisodeLog | None = None,
    ) -> float:
        """One episode whose theta is chosen from ``s_0`` (and again every ``replan_every``
        steps from the current state, for the steps left). :returns: its true score."""
        obs0 = self._obs(self.env.reset(seed=int(seed))[0])
        theta = choose(obs0, self.task.horizon)
        if not replan_every:
            return self.run(theta, seed, log)
        obs, _ = self.env.reset(seed=int(seed))
        full = [np.asarray(obs, dtype=np.float64)]
        seg_start, first = 0, theta
        seg_actions: list[np.ndarray] = []
        controller = self.task.sampler.build(theta[None, :])
        controller.reset()
        for t in range(self.task.horizon):
            if t > seg_start and t % replan_every == 0:
                self._close_segment(full, seg_start, seg_actions, theta, log)
                theta = choose(self._obs(full[-1]), self.task.horizon - t)
                controller = self.task.sampler.build(theta[None, :])
                controller.reset()
                seg_start, seg_actions = t, []
            action = np.asarray(controller.act(full[-1][None, :])[0], dtype=np.float64)
            obs, _, terminated, truncated, _ = self.env.step(action)
            seg_actions.append(action)
            full.append(np.asarray(obs, dtype=np.float64))
            if terminated or truncated:
                break
        self._close_segment(full, seg_start, seg_actions, theta, log)
        states = np.stack([self._obs(o) for o in full])
        if log is not None:
            log.scores.append(self.score(states))
            log.thetas.append(first)
        if self.on_episode is not None:
            self.on_episode()
        return self.score(states)

    def _close_segment(
        self,
        full: list[np.ndarray],
        start: int,
        actions: list[np.ndarray],
        theta: np.ndarray,
        log: EpisodeLog | None,
    ) -> None:
        if log is not None and actions:
            seg = np.stack([self._obs(o) for o in full[start:]])
            log.add_segment(seg, np.stack(actions), theta)
