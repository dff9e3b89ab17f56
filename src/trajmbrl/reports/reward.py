"""Section 5.5 accuracy table from the tidy per-trajectory returns (``reward/returns.csv``)."""

from __future__ import annotations

import pandas as pd

from trajmbrl.evaluation.reward_tables import reward_table


def reward_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    """MSE of returns, Spearman and Kendall per method (``tables/reward.csv``).

    :param frame: tidy rows ``traj, method, true_return, predicted_return, diverged`` (one per
        method and trajectory), e.g. :func:`trajmbrl.evaluation.reward_tables.reward_frame`.
    :returns: :func:`trajmbrl.evaluation.reward_tables.reward_table` of the methods in order.
    """
    true = frame.drop_duplicates("traj").sort_values("traj")["true_return"].to_numpy()
    groups = {m: g.sort_values("traj") for m, g in frame.groupby("method", sort=False)}
    preds = {m: g["predicted_return"].to_numpy() for m, g in groups.items()}
    return reward_table(
        true, preds, diverged={m: g["diverged"].to_numpy(dtype=bool) for m, g in groups.items()}
    )
