"""Range-normalised prediction error, per-horizon statistics and significance tests.

The normaliser (per-dimension min/max of the *training* states) comes from the dataset
manifest, so numbers are comparable across runs and horizons (fixes spec 8.20).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: percentiles reported per horizon (the paper's 10-90 and 34-66 bands)
PERCENTILES = (10, 34, 50, 66, 90)
#: a trajectory whose normalised MSE exceeds this at any horizon (or is non-finite) diverged
DIVERGENCE_THRESHOLD = 1.0
#: non-finite errors are replaced by this ceiling in statistics and plots (never in the CSV)
ERROR_CEILING = 1e6


def normalised_mse(
    true: np.ndarray, pred: np.ndarray, state_min: np.ndarray, state_max: np.ndarray
) -> np.ndarray:
    """Mean over dimensions of the squared error in range-normalised units.

    :param true: (N, H, ds) ground truth; NaN where the trajectory has ended
    :param pred: (N, H, ds) predictions; may hold NaN/inf (diverged)
    :returns: (N, H); NaN where the truth is missing, inf where the prediction is non-finite
    """
    span = np.where(state_max - state_min > 1e-12, state_max - state_min, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        err = ((pred - true) / span) ** 2
        mse = err.mean(axis=-1)
    missing = np.isnan(true).any(axis=-1)
    mse = np.where(~np.isfinite(mse), np.inf, mse)
    return np.where(missing, np.nan, mse)


def diverged(mse: np.ndarray, threshold: float = DIVERGENCE_THRESHOLD) -> np.ndarray:
    """Per trajectory: any horizon non-finite or above ``threshold``. (N, H) -> (N,) bool."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(mse) | (np.nan_to_num(mse, nan=0.0) > threshold)
    return bad.any(axis=1)


def tidy_errors(mse: np.ndarray, **keys: object) -> pd.DataFrame:
    """One row per (trajectory, horizon) with the given key columns; horizons start at 1.

    :param mse: (N, H) errors; NaN entries (no ground truth) are dropped.
    """
    n, h = mse.shape
    frame = pd.DataFrame(
        {
            "traj": np.repeat(np.arange(n), h),
            "horizon": np.tile(np.arange(1, h + 1), n),
            "metric": "nmse",
            "value": mse.ravel(),
        }
    )
    frame = frame[~frame["value"].isna()]
    for col, val in reversed(list(keys.items())):
        frame.insert(0, col, val)
    return frame.reset_index(drop=True)


def horizon_summary(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median, percentiles, mean and diverged share per horizon for one metric.

    :param frame: tidy rows with columns ``by + [traj, horizon, value]``.
    """
    values = frame.assign(value=frame["value"].clip(upper=ERROR_CEILING).fillna(ERROR_CEILING))
    grouped = values.groupby([*by, "horizon"])["value"]
    out = grouped.quantile([p / 100 for p in PERCENTILES]).unstack()
    out.columns = [f"p{p}" for p in PERCENTILES]
    out = out.rename(columns={"p50": "median"})
    out["mean"] = grouped.mean()
    out["n"] = grouped.size()
    return out.reset_index()


def divergence_share(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Share of trajectories that diverged (any horizon non-finite or > threshold)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(frame["value"]) | (frame["value"] > DIVERGENCE_THRESHOLD)
    per_traj = frame.assign(bad=bad).groupby([*by, "traj"])["bad"].any()
    return per_traj.groupby(level=list(range(len(by)))).mean().rename("diverged").reset_index()


def table_horizons(nmse: pd.DataFrame, horizons: list[int]) -> list[int]:
    """``horizons`` clipped to the longest horizon that at least half the test trajectories
    reach (variable-length logs end at different steps; a median over a few is noise)."""
    reach = nmse.groupby("horizon")["traj"].nunique()
    max_h = int(reach[reach >= 0.5 * reach.max()].index.max())
    return sorted({min(int(h), max_h) for h in horizons})


def median_table(
    frame: pd.DataFrame, horizons: list[int], by: tuple[str, ...] = ("model",)
) -> pd.DataFrame:
    """Median normalised MSE at the given horizons (clipped to the data) plus diverged share.

    No seed aggregation: ``by`` should name every key that varies (e.g. one run).

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


def at_ceiling(values: np.ndarray | pd.Series) -> np.ndarray:
    """The divergence rule of every table and test: NaN, non-finite, or at/above
    :data:`ERROR_CEILING`. -> bool array of the input's shape."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(v) | (v >= ERROR_CEILING)


def worst_as_inf(values: np.ndarray | pd.Series) -> np.ndarray:
    """Values with every diverged entry (:func:`at_ceiling`) set to ``+inf`` (the worst)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(at_ceiling(v), np.inf, v)


def signed_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Paired error differences ``a - b`` with diverged errors ranked worst.

    A diverged ``a`` against a finite ``b`` is ``+inf`` (and the reverse ``-inf``), so it outranks
    every finite difference whatever the size of ``b``; two diverged errors tie (``0``).
    """
    a, b = worst_as_inf(a), worst_as_inf(b)
    with np.errstate(invalid="ignore"):
        diff = a - b
    return np.where(np.isinf(a) & np.isinf(b), 0.0, diff)


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided paired Wilcoxon signed-rank test of errors ``a`` vs ``b`` (same trajectories).

    Diverged errors are kept and rank worst (:func:`signed_differences`); infinite differences
    share the top rank. Zero differences are dropped (``zero_method="wilcox"``).

    :returns: (p-value, rank balance ``(T+ - T-) / (T+ + T-)`` in [-1, 1]: positive when ``a``
        has the larger errors). Both NaN when undefined (fewer than 2 pairs, all ties).
    """
    from scipy.stats import rankdata, wilcoxon

    diff = signed_differences(a, b)
    diff = diff[diff != 0]
    if len(np.asarray(a)) < 2 or len(diff) == 0:
        return float("nan"), float("nan")
    finite = np.abs(diff[np.isfinite(diff)])
    top = 2.0 * (finite.max() if finite.size else 1.0) + 1.0
    diff = np.where(np.isinf(diff), np.sign(diff) * top, diff)
    ranks = rankdata(np.abs(diff))
    balance = float((ranks[diff > 0].sum() - ranks[diff < 0].sum()) / ranks.sum())
    p = float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
    return p, balance


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """The p-value of :func:`wilcoxon_test` (NaN when undefined)."""
    return wilcoxon_test(a, b)[0]
