"""Section 5.5: predict the task return of a controller, from model roll-outs or directly.

This module runs the comparison; the pieces live in :mod:`~trajmbrl.evaluation.returns`
(rewards, returns), :mod:`~trajmbrl.evaluation.regressors` (GP, direct network) and
:mod:`~trajmbrl.evaluation.reward_tables` (per-trajectory frame, accuracy table).

The return of a trajectory is ``R = sum_{t=1..H} r(s_t)``: the known reset state ``s_0`` is
left out, and the *same* index range ``s_1..s_H`` is used for the true states
(``states[:, 1:H+1]``) and for the predictions (``pred[:, 0:H]``, whose index ``k`` is ``s_{k+1}``,
see :mod:`trajmbrl.evaluation.rollout`).

Divergence follows the rule of the horizon tables: a prediction is *diverged* when its roll-out
diverged (normalised MSE above the threshold or non-finite at any step, flags passed in by the
caller) or its predicted return is not finite. Non-finite predictions are kept, never dropped: their
error is infinite (MSE and MAE at the ceiling) and they rank as the worst controller in the rank
statistics; nothing here raises on them.

Direct baselines map ``(s_0, theta)`` to ``R`` and are fitted on the TRAIN split only (the
original fitted and tested on the training split, spec section 8 flaw 22).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.regressors import baseline_inputs, fit_direct_nn, fit_gp
from trajmbrl.evaluation.returns import RewardFn, cartpole_return_reward, returns, true_returns
from trajmbrl.evaluation.reward_tables import reward_frame, reward_table


def reward_prediction(
    test: TrajectoryData,
    train: TrajectoryData,
    predicted: Mapping[str, np.ndarray],
    *,
    reward_fn: RewardFn = cartpole_return_reward,
    seed: int = 0,
    horizon: int | None = None,
    baselines: tuple[str, ...] = ("gp", "nn"),
    nn_epochs: int = 500,
    diverged: Mapping[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Section 5.5 end to end: true returns of ``test``, model-based and direct predictions.

    :param test: the TEST split (every ``split == 1``); :param train: the TRAIN split (``== 0``),
        used only to fit the direct baselines ``[s_0, theta] -> R``.
    :param predicted: method -> (N_test, H', ds) predicted ``s_1..s_H'`` (rows as in ``test``).
    :param horizon: H (default: the shortest predicted horizon, else ``test.horizon``); returns
        sum ``s_1..s_H`` for truth, predictions and baseline targets alike.
    :param baselines: subset of ``("gp", "nn")``.
    :param diverged: method -> (N_test,) roll-out divergence flags (horizon rule).
    :returns: (table from :func:`reward_table`, tidy frame from :func:`reward_frame`).
    """
    if test.num and not np.all(test.split == TEST):
        raise TrajmbrlError("reward prediction must be evaluated on the test split (split == 1)")
    if not np.all(train.split == TRAIN):
        raise TrajmbrlError("reward baselines must be fitted on the train split (split == 0)")
    unknown = sorted(set(baselines) - {"gp", "nn"})
    if unknown:
        raise TrajmbrlError(f"unknown reward baselines {unknown}; choose from ['gp', 'nn']")
    for name, arr in predicted.items():
        if np.ndim(arr) != 3 or np.shape(arr)[0] != test.num:
            raise TrajmbrlError(
                f"predicted states of '{name}' must be ({test.num}, H, ds), got {np.shape(arr)}"
            )
    if horizon is None:
        horizon = min([np.shape(a)[1] for a in predicted.values()], default=test.horizon)
    short = [k for k, a in predicted.items() if np.shape(a)[1] < horizon]
    if short:
        raise ArgumentError(
            f"{{reward_prediction.horizon}}={horizon} exceeds the predictions of {short}"
        )
    true = true_returns(test, horizon, reward_fn)
    preds = {k: returns(np.asarray(a)[:, :horizon], reward_fn) for k, a in predicted.items()}
    if baselines:
        x_train, y_train = baseline_inputs(train), true_returns(train, horizon, reward_fn)
        x_test = baseline_inputs(test)
        if "gp" in baselines:
            preds["gp"] = fit_gp(x_train, y_train, seed)(x_test)
        if "nn" in baselines:
            preds["nn"] = fit_direct_nn(x_train, y_train, seed, epochs=nn_epochs)(x_test)
    return (
        reward_table(true, preds, diverged=diverged),
        reward_frame(true, preds, diverged=diverged),
    )
