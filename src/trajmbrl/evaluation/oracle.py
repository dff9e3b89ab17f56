"""``oracle``: the true simulator replayed from a perturbed initial state (simulated envs only).

Each test trajectory restarts from ``s_0 + 1e-6 * (max - min) * sign`` (training range per
dimension, a fixed random sign per entry) and is driven by the logged actions and/or by its own
controller in the loop, batched over trajectories and protocols. It shows how well posed the
logged-action protocol is: if the exact dynamics diverge from a 1e-6 error, so must any model.

The step is each system's ``SystemSpec.oracle_step`` (beside its env):

- cartpole: the env's explicit-Euler step (:func:`cartpole_step`), exact.
- crazyflie: the noise-free step; the data were collected with ``noise_std`` per-step noise that
  no replay can reproduce. Positions (unobserved) do not enter the dynamics and start at 0.
- reacher: MuJoCo (``mujoco.rollout``, batched in C, :class:`ReacherReplay`). The 18-dim model
  state holds the 5 actuated joints (cos, sin, velocity) and fingertip - goal, not the 2
  unactuated wrist joints or the goal: the wrist starts at 0 with velocity 0 (reset draws them
  from U(-0.01, 0.01)) and the goal is set so that fingertip - goal matches ``s_0`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trajmbrl.envs.spec import Step, all_systems, find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.rollout import closed_loop_rollout

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.data.storage import TrajectoryData

__all__ = [
    "PERTURBATION",
    "Step",
    "has_simulator",
    "oracle_rollout",
    "perturbed_start",
    "simulator_step",
]
#: size of the initial-state perturbation, as a share of the training range
PERTURBATION = 1e-6


def perturbed_start(s0: np.ndarray, lo: np.ndarray, hi: np.ndarray, seed: int = 0) -> np.ndarray:
    """``s0`` (N, ds) moved by ``PERTURBATION * (hi - lo)`` with a fixed random sign per entry."""
    sign = np.random.default_rng(seed).choice([-1.0, 1.0], size=s0.shape)
    return s0 + PERTURBATION * (np.asarray(hi) - np.asarray(lo)) * sign


def oracle_rollout(
    simulator: str | Step,
    test: TrajectoryData,
    horizon: int,
    protocols: Sequence[str],
    *,
    sampler: ControllerSampler | None,
    state_range: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """The true simulator's predictions (an env name, or any batched float64 step function).

    :returns: {protocol: (N, H, ds)} float64.
    """
    start = perturbed_start(test.states[:, 0], *state_range)
    step = simulator if callable(simulator) else simulator_step(simulator, len(protocols), start)
    with np.errstate(over="ignore", invalid="ignore"):
        preds = closed_loop_rollout(
            step,
            torch.as_tensor(start),
            horizon,
            protocols,
            actions=test.actions,
            sampler=sampler,
            params=test.params,
        )
    return {k: v.numpy() for k, v in preds.items()}


def has_simulator(name: str) -> bool:
    """True when system ``name`` has a true simulator step (everything else is logged data)."""
    spec = find_system(name)
    return spec is not None and spec.oracle_step is not None


def simulator_step(name: str, copies: int, start: np.ndarray) -> Step:
    """The batched true step of env ``name`` on model states (R, ds) -> (R, ds).

    :param copies: protocols run side by side; :param start: (N, ds) start states (reacher).
    """
    spec = find_system(name)
    if spec is None or spec.oracle_step is None:
        names = ", ".join(s.name for s in all_systems() if s.oracle_step is not None)
        raise TrajmbrlError(f"oracle needs a simulated env ({names}), not {name}")
    return spec.oracle_step(copies, start)


def __getattr__(name: str) -> Any:
    """``ReacherReplay`` lives beside its env (trajmbrl.envs.reacher); kept importable here."""
    if name == "ReacherReplay":
        from trajmbrl.envs.reacher import ReacherReplay

        return ReacherReplay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
