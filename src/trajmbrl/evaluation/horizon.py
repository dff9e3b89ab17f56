"""Long-horizon predictions of every baseline, keyed by protocol (plain arguments); learned
models are predicted by :func:`trajmbrl.evaluation.predict.predict`.

A prediction set is ``{action_source: (mean (N, H, ds), variance (N, H, ds) | None)}`` where
``action_source`` is ``direct`` (trajectory models, ``zero``, ``hmean``, ``lint``), ``logged`` or
``controller`` (one-step roll-outs: learned models, ``lin``, ``oracle``), optionally suffixed
``-ts1`` / ``-tsinf`` for sampled propagation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.rollout import closed_loop_rollout
from trajmbrl.utils.threads import single_thread

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.data.storage import TrajectoryData

log = logging.getLogger("trajmbrl")

#: every baseline key, in the order they are evaluated
BASELINES = ("zero", "hmean", "lin", "lint", "oracle")
#: baselines that are one-step roll-outs (one result per protocol)
ROLLOUT_BASELINES = ("lin", "oracle")

Predictions = dict[str, tuple[np.ndarray, "np.ndarray | None"]]


def baseline_predictions(
    key: str,
    train: TrajectoryData,
    test: TrajectoryData,
    horizon: int,
    *,
    protocols: Sequence[str] = ("logged",),
    sampler: ControllerSampler | None = None,
    simulator: str | None = None,
    state_range: tuple[np.ndarray, np.ndarray] | None = None,
) -> Predictions:
    """Predictions of baseline ``key`` (fitted on ``train``) on every test trajectory.

    :param simulator: env name of the true simulator (``oracle`` only).
    :param state_range: training (min, max) per dimension (``oracle``'s 1e-6 perturbation).
    """
    with single_thread():  # small least squares and step-by-step roll-outs
        return _baseline(key, train, test, horizon, protocols, sampler, simulator, state_range)


def _baseline(
    key: str,
    train: TrajectoryData,
    test: TrajectoryData,
    horizon: int,
    protocols: Sequence[str],
    sampler: ControllerSampler | None,
    simulator: str | None,
    state_range: tuple[np.ndarray, np.ndarray] | None,
) -> Predictions:
    """:func:`baseline_predictions` (one thread)."""
    from trajmbrl.models.baselines import (
        HorizonMean,
        LinearModel,
        LinearTrajectoryModel,
        ZeroModel,
    )

    s0 = torch.as_tensor(test.states[:, 0], dtype=torch.float64)
    hs = torch.arange(1, horizon + 1)
    if key == "zero":
        return {"direct": (ZeroModel(test.state_dim).query(s0, hs).numpy(), None)}
    train_states = torch.as_tensor(train.states, dtype=torch.float64)
    if key == "hmean":
        hmean = HorizonMean()
        hmean.fit(train_states)
        return {"direct": (hmean.query(s0, hs).numpy(), None)}
    if key == "lint":
        lint = LinearTrajectoryModel()
        lint.fit(train_states, torch.as_tensor(train.params))
        if lint.ridged:
            log.info(
                "lint: rank-deficient least squares at %d horizons (e.g. h=%d): ridge %.0e*N",
                len(lint.ridged),
                lint.ridged[0],
                lint.RIDGE,
            )
        theta = torch.as_tensor(test.params, dtype=torch.float64)
        return {"direct": (lint.query(s0, hs, theta).numpy(), None)}
    if key == "lin":
        from trajmbrl.data.pairs import one_step_samples

        x, y, _ = one_step_samples(train)
        lin = LinearModel(test.state_dim, test.action_dim)
        lin.fit(torch.as_tensor(x), torch.as_tensor(y))
        with np.errstate(over="ignore", invalid="ignore"):
            preds = closed_loop_rollout(
                lin.step,
                s0,
                horizon,
                protocols,
                actions=test.actions,
                sampler=sampler,
                params=test.params,
            )
        return {k: (v.numpy(), None) for k, v in preds.items()}
    if key == "oracle":
        from trajmbrl.evaluation.oracle import oracle_rollout

        if simulator is None or state_range is None:
            raise TrajmbrlError("the oracle baseline needs a simulated env and the state range")
        states = oracle_rollout(
            simulator, test, horizon, protocols, sampler=sampler, state_range=state_range
        )
        return {k: (v, None) for k, v in states.items()}
    raise ArgumentError(
        f"{{baseline_predictions.key}} accepts {', '.join(BASELINES)} or all, got {key!r}"
    )
