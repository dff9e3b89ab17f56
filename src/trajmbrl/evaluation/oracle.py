"""``oracle``: the true simulator replayed from a perturbed initial state (simulated envs only).

Each test trajectory restarts from ``s_0 + 1e-6 * (max - min) * sign`` (training range per
dimension, a fixed random sign per entry) and is driven by the logged actions and/or by its own
controller in the loop, batched over trajectories and protocols. It shows how well posed the
logged-action protocol is: if the exact dynamics diverge from a 1e-6 error, so must any model.

- cartpole: the env's explicit-Euler step (:func:`cartpole_step`), exact.
- crazyflie: the noise-free step; the data were collected with ``noise_std`` per-step noise that
  no replay can reproduce. Positions (unobserved) do not enter the dynamics and start at 0.
- reacher: MuJoCo (``mujoco.rollout``, batched in C). The 18-dim model state holds the 5
  actuated joints (cos, sin, velocity) and fingertip - goal, not the 2 unactuated wrist joints or
  the goal: the wrist starts at 0 with velocity 0 (reset draws them from U(-0.01, 0.01)) and the
  goal is set so that fingertip - goal matches ``s_0`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.rollout import closed_loop_rollout

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.data.storage import TrajectoryData

#: envs with a true simulator (everything else is logged data)
SIMULATORS = ("cartpole", "crazyflie", "reacher")
Step = Callable[[Tensor, Tensor], Tensor]
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


def simulator_step(name: str, copies: int, start: np.ndarray) -> Step:
    """The batched true step of env ``name`` on model states (R, ds) -> (R, ds).

    :param copies: protocols run side by side; :param start: (N, ds) start states (reacher).
    """
    if name == "cartpole":
        from trajmbrl.envs.cartpole import cartpole_step

        def step(state: Tensor, action: Tensor) -> Tensor:
            return torch.as_tensor(cartpole_step(state.numpy(), action[:, 0].numpy()))

        return step
    if name == "crazyflie":
        from trajmbrl.envs.crazyflie import crazyflie_step_batch

        def step_cf(state: Tensor, action: Tensor) -> Tensor:
            full = np.concatenate([np.zeros((state.shape[0], 3)), state.numpy()], 1)
            return torch.as_tensor(crazyflie_step_batch(full, action.numpy())[:, 3:])

        return step_cf
    if name == "reacher":
        return ReacherReplay(copies, start).step
    raise TrajmbrlError(f"oracle needs a simulated env ({', '.join(SIMULATORS)}), not {name}")


class ReacherReplay:
    """Batched MuJoCo replay of the reacher from 18-dim model states (see the module doc)."""

    def __init__(self, copies: int, s0: np.ndarray) -> None:
        import mujoco

        from trajmbrl.envs.reacher import N_ACTUATED, N_JOINTS, XML_PATH

        spec = mujoco.MjSpec.from_file(str(XML_PATH))
        sensor = spec.add_sensor()  # fingertip position, computed at the start of each mj_step
        sensor.type = mujoco.mjtSensor.mjSENS_FRAMEPOS
        sensor.objtype = mujoco.mjtObj.mjOBJ_SITE
        sensor.objname = "fingertip"
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.nu, self.nj, self.nq = N_ACTUATED, N_JOINTS, self.model.nq
        kind = mujoco.mjtState.mjSTATE_FULLPHYSICS
        template = np.zeros(mujoco.mj_stateSize(self.model, kind))
        mujoco.mj_getState(self.model, self.data, template, kind)
        if s0.shape[1] != 3 * N_ACTUATED + 3:
            raise TrajmbrlError(
                "the reacher oracle needs the 18-dim model state (default "
                f"env.state_indices), got {s0.shape[1]} dims"
            )
        s0 = np.tile(s0, (copies, 1))
        state = np.tile(template, (len(s0), 1))  # [time, qpos (nq), qvel (nv)]
        n = self.nu
        state[:, 1 : 1 + n] = np.arctan2(s0[:, n : 2 * n], s0[:, :n])
        state[:, 1 + self.nq : 1 + self.nq + n] = s0[:, 2 * n : 3 * n]
        _, tip = self._advance(state, np.zeros((len(s0), n)), steps=0)
        state[:, 1 + self.nj : 1 + self.nq] = tip - s0[:, 3 * n :]  # goal
        self.state = state

    def _advance(self, state: np.ndarray, ctrl: np.ndarray, steps: int) -> tuple[np.ndarray, ...]:
        """``steps`` physics steps under constant ``ctrl`` (B, nu). :returns: state, tip after."""
        from mujoco import rollout

        control = np.repeat(ctrl[:, None, :], steps + 1, axis=1)
        states, sensors = rollout.rollout(self.model, self.data, state, control)
        return (states[:, steps - 1] if steps else state), sensors[:, steps]

    def step(self, _: Tensor, action: Tensor) -> Tensor:
        """One env step (FRAME_SKIP physics steps). :returns: (B, 18) next model states."""
        from trajmbrl.envs.reacher import FRAME_SKIP

        lo, hi = self.model.actuator_ctrlrange.T
        ctrl = np.clip(action.numpy(), lo, hi)
        self.state, tip = self._advance(self.state, ctrl, FRAME_SKIP)
        n, nq = self.nu, self.nq
        q, qd = self.state[:, 1 : 1 + n], self.state[:, 1 + nq : 1 + nq + n]
        goal = self.state[:, 1 + self.nj : 1 + nq]
        return torch.as_tensor(np.concatenate([np.cos(q), np.sin(q), qd, tip - goal], 1))
