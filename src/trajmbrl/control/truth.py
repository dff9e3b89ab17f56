"""The true system as a planning model: the ceiling every model-based method is judged against.

A planner or search that reaches a poor score with the *true* dynamics measures its own sizes,
not the model. These functions give the project's planners the system's batched true step
(``SystemSpec.oracle_step``, the same one the ``oracle`` baseline replays) in place of a learned
model, so the control study can show what each method reaches with a perfect model
(``mpc_true``, ``model_cma_true``) before it shows what a learned one reaches.

The step is deterministic (no process noise; crazyflie's collection noise is not replayed), so
one particle suffices.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from trajmbrl.control.tasks import ControlTask
from trajmbrl.envs.spec import OracleFactory, find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.rollout import closed_loop_rollout

#: (starts (R, ds), actions (R, Hp, du)) -> predicted s_1..s_Hp (R, Hp, ds)
SequenceRollout = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _factory(task: ControlTask) -> OracleFactory:
    """The system's batched true-step factory (:class:`~trajmbrl.envs.spec.SystemSpec`)."""
    spec = find_system(task.name)
    if spec is None or spec.oracle_step is None:
        raise TrajmbrlError(
            f"the {task.name} task has no true simulator step (SystemSpec.oracle_step), so no "
            "true-model ceiling"
        )
    return spec.oracle_step


def simulator_rollout(task: ControlTask) -> SequenceRollout:
    """Roll action sequences out on the true system (float64, batched over rows)."""
    factory = _factory(task)

    def rollout(starts: np.ndarray, actions: np.ndarray) -> np.ndarray:
        step = factory(1, starts)
        state = torch.as_tensor(starts, dtype=torch.float64)
        acts = torch.as_tensor(actions, dtype=torch.float64)
        out = np.empty((starts.shape[0], actions.shape[1], starts.shape[1]))
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(actions.shape[1]):
                state = step(state, acts[:, t])
                out[:, t] = state.numpy()
        return out

    return rollout


def true_scores(
    task: ControlTask, theta: np.ndarray, s0: np.ndarray, horizon: int | None = None
) -> np.ndarray:
    """The true score of every candidate theta, its controller in the loop of the true step.

    :param theta: (P, dp); :param s0: (S, ds) initial model states. :returns: (P,) scores
        averaged over the initial states.
    """
    h = horizon or task.horizon
    p, s = theta.shape[0], s0.shape[0]
    starts, params = np.tile(s0, (p, 1)), np.repeat(theta, s, axis=0)
    step = _factory(task)(1, starts)
    with np.errstate(over="ignore", invalid="ignore"):
        pred = closed_loop_rollout(
            step,
            torch.as_tensor(starts, dtype=torch.float64),
            h,
            ("controller",),
            sampler=task.sampler,
            params=params,
        )["controller"].numpy()
    return task.score(pred).reshape(p, s).mean(axis=1)
