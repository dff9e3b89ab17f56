"""Control tasks: which theta is searched, in which box, and the per-state reward that scores it.

A task is built from the system's :class:`~trajmbrl.envs.spec.SystemSpec` (its control reward,
controller, theta box, reference, env arguments and action bounds); nothing here names a system.

A task's ``reward`` is written once and used for everything: the true score of a system
episode, the predicted score of a model roll-out or trajectory query, and the MPC planner's
objective. The score of an episode is the mean reward over ``s_1..s_H`` (a state after
termination counts 0), so every score lies in the reward's range:

The built-in systems' tasks:

- cartpole: ``exp(-(x^2 + theta^2))`` in [0, 1]; theta = the LQR gain row K (4), searched in
  the box spanned by ``0`` and ``3 K*``; reference = the LQR gain K*;
- crazyflie: ``exp(-(roll^2 + pitch^2) / 0.1^2)`` in [0, 1] (0.1 rad = 5.7 deg scale);
  theta = [P_pitch, P_roll, D_pitch, D_roll] in the data's ranges; no reference;
- reacher: ``-||fingertip - goal||`` (metres, <= 0); theta = [P/5, D, target] (15), chosen per
  episode for its initial state and goal (``per_episode``); no reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.envs.spec import BUILTIN, RewardFn, SystemSpec, all_systems, find_system
from trajmbrl.errors import ArgumentError, TrajmbrlError

__all__ = ["ControlTask", "RewardFn", "make_task"]


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


def make_task(env: str | SystemSpec, horizon: int | None = None) -> ControlTask:
    """The control task of system ``env`` (a name or a spec) with episodes of ``horizon`` steps
    (None = the spec's ``horizon``)."""
    spec = find_system(env) if isinstance(env, str) else env
    if spec is not None and spec.control_reward is None and spec.name not in BUILTIN:
        raise TrajmbrlError(
            f"mode=control on {spec.name} needs a per-state control reward; its SystemSpec "
            "declares none (declare a state reward: docs/own-robot.md)"
        )
    # a spec has all three of control_reward, controller, theta_box or none (SystemSpec checks)
    if spec is None or spec.control_reward is None or spec.controller is None:
        names = sorted(s.name for s in all_systems() if s.control_reward is not None)
        why = " (logged data: no system to run episodes on)" if spec is None else ""
        raise TrajmbrlError(
            f"mode=control has no task for envs={env}{why}; choose one of {names}, or a "
            "Gymnasium env with a state reward (envs=gym, docs/own-robot.md)"
        )
    if horizon is not None and horizon < 2:
        raise ArgumentError(f"{{make_task.horizon}} must be >= 2, got {horizon}")
    sampler = spec.make_controller()
    assert spec.theta_box is not None
    low, high = (np.asarray(b, dtype=np.float64) for b in spec.theta_box(sampler))
    reference = None if spec.reference is None else spec.reference(sampler)
    return ControlTask(
        spec.name,
        spec.gym_id,
        sampler,
        horizon or spec.horizon,
        low,
        high,
        spec.control_reward,
        reference=None if reference is None else np.asarray(reference, dtype=np.float64),
        per_episode=spec.per_episode,
        env_kwargs=dict(spec.control_env_kwargs),
        state_indices=(
            None if spec.state_indices is None else np.asarray(spec.state_indices, dtype=np.int64)
        ),
        action_low=None if spec.action_low is None else np.array(spec.action_low),
        action_high=None if spec.action_high is None else np.array(spec.action_high),
    )
