"""``mpc_pets`` / ``mpc_true``: MBRL-Lib's recipe (Chua et al. 2018), CEM over action sequences
with trajectory sampling on a one-step probabilistic ensemble, re-planned at every step.

At each step and for each of N episodes run in lock-step, CEM samples ``population`` action
sequences of ``horizon`` steps from a clipped Gaussian, rolls each out with ``particles``
TS-inf particles (particle p pinned to member p mod E, Gaussian next-state samples) and scores
it with the task's reward (mean over particles of the summed reward), refits the Gaussian to the
``elites`` best (momentum ``alpha`` on the old one) for ``iterations`` rounds, applies the first
action of the mean and shifts the mean by one step as the next warm start. ``mpc_true`` runs the
same planner on the true system's step (one deterministic particle): the planner's ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from trajmbrl.control.system import EpisodeLog
from trajmbrl.control.tasks import ControlTask
from trajmbrl.control.truth import SequenceRollout
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.predict import predict
from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.utils.schema_check import check_settings, setting


@dataclass(frozen=True)
class CEMSettings:
    """Planner sizes (module doc); ``init_std`` is a fraction of the action half-range."""

    horizon: int = setting(15, "planning horizon (steps)", ge=1)
    population: int = setting(100, "action sequences per CEM iteration", ge=1)
    elites: int = setting(10, "best sequences the next distribution is fitted to", ge=1)
    iterations: int = setting(3, "CEM iterations per planned step", ge=1)
    particles: int = setting(5, "sampled roll-outs per sequence (TS-inf)", ge=1)
    alpha: float = setting(0.1, "share of the old distribution kept each iteration", ge=0, lt=1)
    init_std: float = 0.5

    def __post_init__(self) -> None:
        check_settings(self)
        if self.elites > self.population:
            raise ArgumentError(
                f"{{CEMSettings.elites}} ({self.elites}) exceeds the population ({self.population})"
            )


class CEMPlanner:
    """Plans the next action of N systems at once.

    :param model: a one-step model (``pe``; TS-inf particles), or None with ``rollout``.
    :param rollout: instead of a model, any deterministic sequence roll-out
        ``(starts (R, ds), actions (R, Hp, du)) -> (R, Hp, ds)``, e.g. the true system's
        (:func:`trajmbrl.control.truth.simulator_rollout`); one particle is used.
    """

    def __init__(
        self,
        model: DynamicsModel | None,
        task: ControlTask,
        settings: CEMSettings,
        seed: int,
        *,
        rollout: SequenceRollout | None = None,
    ) -> None:
        if task.action_low is None or task.action_high is None:
            raise TrajmbrlError(f"MPC needs action bounds; the {task.name} task has none")
        if (model is None) == (rollout is None):
            raise TrajmbrlError("CEMPlanner takes a model or a rollout, exactly one")
        self.model, self.task, self.cfg = model, task, settings
        self.rollout = rollout
        self.particles = settings.particles if rollout is None else 1
        self.low = torch.as_tensor(task.action_low, dtype=torch.float32)
        self.high = torch.as_tensor(task.action_high, dtype=torch.float32)
        self.mid, self.half = (self.high + self.low) / 2, (self.high - self.low) / 2
        self.gen_model = torch.Generator().manual_seed(int(seed))  # the roll-outs' draws
        self.gen = torch.Generator().manual_seed(int(seed))
        self.mean: torch.Tensor | None = None

    def reset(self, n: int) -> None:
        """Start N episodes: the action mean is the middle of the bounds."""
        self.mean = self.mid.expand(n, self.cfg.horizon, -1).clone()

    def _predict(self, start: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """:param start: (R, ds); :param acts: (R, Hp, du). :returns: (R, Hp, ds)"""
        if self.rollout is not None:
            return self.rollout(start, acts)
        assert self.model is not None
        # TS-inf: roll-out row r keeps member r % E; the planner's generator draws the noise
        return predict(
            self.model,
            start,
            acts.shape[1],
            actions=acts,
            propagation="tsinf",
            generator=self.gen_model,
        )["logged"].mean

    def _returns(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """:param states: (N, ds); :param actions: (N, pop, Hp, du). :returns: (N, pop)"""
        n, pop, hp, du = actions.shape
        k = self.particles
        start = states.repeat_interleave(pop * k, dim=0)  # row = (episode, candidate, particle)
        acts = actions.repeat_interleave(k, dim=1).reshape(n * pop * k, hp, du)
        pred = self._predict(start.numpy(), acts.numpy())  # (n * pop * k, hp, ds)
        total = np.zeros(n * pop * k)
        for t in range(hp):
            r = self.task.reward(pred[:, t])
            total += np.where(np.isfinite(r), r, 0.0)
        return torch.as_tensor(total.reshape(n, pop, k).mean(-1))

    def act(self, states: np.ndarray) -> np.ndarray:
        """:param states: (N, ds) current model states. :returns: (N, du) actions."""
        assert self.mean is not None, "reset() first"
        cfg = self.cfg
        obs = torch.as_tensor(states, dtype=torch.float32)
        mean = self.mean
        std = (cfg.init_std * self.half).expand_as(mean).clone()
        for _ in range(cfg.iterations):
            noise = torch.randn(
                (mean.shape[0], cfg.population, *mean.shape[1:]), generator=self.gen
            )
            cand = torch.clamp(mean.unsqueeze(1) + std.unsqueeze(1) * noise, self.low, self.high)
            ret = self._returns(obs, cand)
            idx = ret.topk(cfg.elites, dim=1).indices  # (N, elites)
            elite = torch.gather(cand, 1, idx[:, :, None, None].expand(-1, -1, *mean.shape[1:]))
            mean = cfg.alpha * mean + (1 - cfg.alpha) * elite.mean(1)
            std = cfg.alpha * std + (1 - cfg.alpha) * elite.std(1, unbiased=False)
        action = mean[:, 0].clone()
        self.mean = torch.cat([mean[:, 1:], self.mid.expand(mean.shape[0], 1, -1)], dim=1)
        return action.double().numpy()


def run_mpc_episodes(
    task: ControlTask, planner: CEMPlanner, seeds: np.ndarray, log: EpisodeLog | None = None
) -> np.ndarray:
    """Run one MPC episode per reset seed, all in lock-step (one plan per step for all).

    :returns: (N,) true scores; episodes go to ``log`` (theta NaN: MPC has none).
    """
    envs = [gym.make(task.env_id, **task.env_kwargs).unwrapped for _ in seeds]
    idx = task.state_indices
    pick = (lambda o: o) if idx is None else (lambda o: o[idx])  # noqa: E731
    try:
        obs = [np.asarray(e.reset(seed=int(s))[0], dtype=np.float64) for e, s in zip(envs, seeds)]
        traj = [[pick(o)] for o in obs]
        acts: list[list[np.ndarray]] = [[] for _ in seeds]
        alive = np.ones(len(seeds), dtype=bool)
        planner.reset(len(seeds))
        for _ in range(task.horizon):
            if not alive.any():
                break
            action = planner.act(np.stack([tr[-1] for tr in traj]))
            for i, env in enumerate(envs):
                if not alive[i]:
                    continue
                o, _, terminated, truncated, _ = env.step(action[i])
                acts[i].append(action[i])
                traj[i].append(pick(np.asarray(o, dtype=np.float64)))
                alive[i] = not (terminated or truncated)
    finally:
        for env in envs:
            env.close()
    scores = np.array([task.score(np.stack(tr)[None, 1:], task.horizon)[0] for tr in traj])
    if log is not None:
        for tr, a, sc in zip(traj, acts, scores):
            theta = np.full(task.dim, np.nan)
            log.add_segment(np.stack(tr), np.stack(a), theta)
            log.scores.append(float(sc))
            log.thetas.append(theta)
    return scores
