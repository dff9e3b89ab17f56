"""Result tables built from tidy metrics frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.evaluation.metrics import divergence_share, horizon_summary, paired_wilcoxon


def table_horizons(nmse: pd.DataFrame, horizons: list[int]) -> list[int]:
    """``horizons`` clipped to the longest horizon that at least half the test trajectories
    reach (variable-length logs end at different steps; a median over a few is noise)."""
    reach = nmse.groupby("horizon")["traj"].nunique()
    max_h = int(reach[reach >= 0.5 * reach.max()].index.max())
    return sorted({min(int(h), max_h) for h in horizons})


def median_table(frame: pd.DataFrame, horizons: list[int], by: tuple[str, ...] = ("model",)) -> (
    pd.DataFrame
):
    """Median normalised MSE at the given horizons (clipped to the data) plus diverged share.

    :param frame: tidy rows (``by`` columns, traj, horizon, metric, value), metric ``nmse``.
    :returns: one row per ``by`` group; columns ``h=<k>`` and ``diverged``.
    """
    nmse = frame[frame["metric"] == "nmse"]
    hs = table_horizons(nmse, horizons)
    summary = horizon_summary(nmse[nmse["horizon"].isin(hs)], list(by))
    table = summary.pivot_table(index=list(by), columns="horizon", values="median")
    table.columns = [f"h={h}" for h in table.columns]
    share = divergence_share(nmse, list(by)).set_index(list(by))["diverged"]
    table["diverged"] = share
    return table


def wilcoxon_table(
    frame: pd.DataFrame, pairs: list[tuple[str, str]], horizons: list[int]
) -> pd.DataFrame:
    """Paired Wilcoxon p-values (trajectory vs one-step model) per horizon.

    :param pairs: (model_a, model_b) keys present in ``frame``; pairs with a missing key are
        skipped. Trajectories are paired by their index in the test split.
    """
    nmse = frame[frame["metric"] == "nmse"]
    models = set(nmse["model"])
    rows = []
    for a, b in pairs:
        if a not in models or b not in models:
            continue
        for h in table_horizons(nmse, horizons):
            at = nmse[(nmse["model"] == a) & (nmse["horizon"] == h)].groupby("traj")["value"]
            bt = nmse[(nmse["model"] == b) & (nmse["horizon"] == h)].groupby("traj")["value"]
            joined = pd.concat([at.median(), bt.median()], axis=1, keys=["a", "b"]).dropna()
            rows.append(
                {
                    "pair": f"{a} vs {b}",
                    "horizon": h,
                    "median_a": float(np.median(joined["a"])) if len(joined) else np.nan,
                    "median_b": float(np.median(joined["b"])) if len(joined) else np.nan,
                    "p_value": paired_wilcoxon(joined["a"].to_numpy(), joined["b"].to_numpy()),
                    "n": len(joined),
                }
            )
    return pd.DataFrame(rows)


def uncertainty_table(frame: pd.DataFrame, horizons: list[int]) -> pd.DataFrame:
    """Calibration per model at the given horizons: median NLL, mean 1- and 2-sigma coverage.

    Well-calibrated Gaussian predictions cover about 0.68 (1 sigma) and 0.95 (2 sigma).
    :returns: one row per model with columns ``nll@h``, ``cov1@h``, ``cov2@h``; empty when
        no model reported uncertainty.
    """
    unc = frame[frame["metric"].isin(["nll", "cov1", "cov2"])]
    if unc.empty:
        return pd.DataFrame()
    hs = table_horizons(frame[frame["metric"] == "nmse"], horizons)
    unc = unc[unc["horizon"].isin(hs)]
    by = ["model", "metric", "horizon"]
    nll = unc[unc["metric"] == "nll"].groupby(by)["value"].median()
    cov = unc[unc["metric"] != "nll"].groupby(by)["value"].mean()
    table = pd.concat([nll, cov]).unstack(["metric", "horizon"])
    table.columns = [f"{m}@{h}" for m, h in table.columns]
    return table[sorted(table.columns, key=lambda c: (c.split("@")[0], int(c.split("@")[1])))]
