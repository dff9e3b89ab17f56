"""mode=control final table from the tidy per-run CSVs (one row per env, method and model)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def final_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, method, model) from each seed's last round.

    Columns: env, method, model, seeds, episodes, true score median / mean / std / min over
    seeds, predicted score (mean) and its gap to the true score (model exploitation), compute
    seconds per run (median).
    """
    last = frame.loc[
        frame.groupby(["env", "method", "model", "seed"], dropna=False)["round"].idxmax()
    ]
    rows = []
    for (env, method, model), g in last.groupby(
        ["env", "method", "model"], dropna=False, sort=True
    ):
        true, pred = g["true_score"].to_numpy(), g["predicted_score"].to_numpy(dtype=float)
        gap = pred - true
        rows.append(
            {
                "env": env,
                "method": method,
                "model": model,
                "seeds": int(g["seed"].nunique()),
                "episodes": int(g["episodes"].max()),
                "true_median": float(np.median(true)),
                "true_mean": float(true.mean()),
                "true_std": float(true.std()),
                "true_min": float(true.min()),
                "predicted_mean": float(np.nanmean(pred)) if np.isfinite(pred).any() else np.nan,
                "pred_minus_true": float(np.nanmean(gap)) if np.isfinite(gap).any() else np.nan,
                "compute_s": float(g["wall_clock"].median()),
            }
        )
    return pd.DataFrame(rows).sort_values(["env", "true_median"], ascending=[True, False])
