"""Predicted scores of candidate theta: the objective a model-based search maximises.

A scorer maps a population ``theta (P, dp)`` and initial states ``s0 (S, ds)`` to the predicted
score of every candidate, averaged over the initial states, with the task's reward:

- :func:`trajectory_scores`: one batched query of a trajectory model for all P x S x H rows;
  with an ensemble, per-member scores give a pessimistic ``mean - kappa * std``;
- :func:`onestep_scores`: the one-step model rolled out in closed loop with each candidate's
  controller (batched over P x S, a Python loop over the H steps); with an ensemble, the same
  pessimism ``mean - kappa * std`` over members' own roll-outs;
- :func:`gp_scores`: a GP on ``[s_0, theta] -> score`` fitted on the system episodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from trajmbrl.control.tasks import ControlTask
from trajmbrl.evaluation.predict import predict
from trajmbrl.models.dynamics import DynamicsModel

if TYPE_CHECKING:  # sklearn loads only when a GP is fitted (the config schema imports control)
    from trajmbrl.evaluation.regressors import GPPredictor


def _grid(theta: np.ndarray, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (candidate, initial state) pair, candidate-major. :returns: (P*S, ds), (P*S, dp)"""
    p, s = theta.shape[0], s0.shape[0]
    return np.tile(s0, (p, 1)), np.repeat(theta, s, axis=0)


def trajectory_scores(
    model: DynamicsModel,
    task: ControlTask,
    theta: np.ndarray,
    s0: np.ndarray,
    horizon: int | None = None,
    kappa: float = 0.0,
) -> np.ndarray:
    """Predicted score per candidate from ``f(s_0, h, theta)``, h = 1..H, in one query.

    :param theta: (P, dp); :param s0: (S, ds); :param horizon: H (default: the task's).
    :param kappa: pessimism: ``mean - kappa * std`` over ensemble members (0 = the mean).
    :returns: (P,) scores.
    """
    h = horizon or task.horizon
    starts, params = _grid(theta, s0)
    means = predict(model, starts, h, theta=params)["direct"].samples  # (E, P*S, H, ds)
    per_member = task.score(means).reshape(means.shape[0], theta.shape[0], s0.shape[0])
    per_member = per_member.mean(axis=2)  # (E, P)
    if kappa and per_member.shape[0] > 1:
        return per_member.mean(0) - kappa * per_member.std(0)
    # a single member (or kappa = 0): the score of the mean prediction, as eval uses it
    mean_pred = means.mean(0)
    return task.score(mean_pred).reshape(theta.shape[0], s0.shape[0]).mean(axis=1)


def onestep_scores(
    model: DynamicsModel,
    task: ControlTask,
    theta: np.ndarray,
    s0: np.ndarray,
    horizon: int | None = None,
    kappa: float = 0.0,
) -> np.ndarray:
    """Predicted score per candidate from a closed-loop roll-out of a one-step model.

    :param theta: (P, dp); :param s0: (S, ds).
    :param kappa: pessimism with an ensemble, as :func:`trajectory_scores`: every member is
        rolled out on its own (TS-inf particle p pinned to member p) and the score is
        ``mean - kappa * std`` over members; 0 = the mean model's roll-out.
    :returns: (P,) scores (a blown-up roll-out scores its non-finite states as 0 reward).
    """
    h = horizon or task.horizon
    starts, params = _grid(theta, s0)
    members = model.ensemble_size
    if kappa and members > 1:
        samples = predict(
            model,
            starts,
            h,
            theta=params,
            sampler=task.sampler,
            protocols=("controller",),
            propagation="tsinf",
            particles=members,
        )["controller"].samples  # (E, P*S, H, ds): sample p is member p's roll-out
        per_member = task.score(samples).reshape(members, theta.shape[0], s0.shape[0])
        per_member = per_member.mean(axis=2)  # (E, P)
        return per_member.mean(0) - kappa * per_member.std(0)
    pred = predict(model, starts, h, theta=params, sampler=task.sampler, protocols=("controller",))[
        "controller"
    ].mean
    return task.score(pred).reshape(theta.shape[0], s0.shape[0]).mean(axis=1)


def gp_scores(gp: GPPredictor, theta: np.ndarray, s0: np.ndarray) -> np.ndarray:
    """GP posterior mean of the score per candidate, averaged over s0. :returns: (P,)"""
    starts, params = _grid(theta, s0)
    pred = gp(np.concatenate([starts, params], axis=1))
    return pred.reshape(theta.shape[0], s0.shape[0]).mean(axis=1)
