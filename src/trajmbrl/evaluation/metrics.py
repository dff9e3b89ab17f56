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


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p-value of ``a`` vs ``b`` (same trajectories).

    Non-finite errors are replaced by the ceiling (a diverged prediction is a large error).
    Returns NaN when the test is undefined (fewer than 2 pairs or all differences zero).
    """
    from scipy.stats import wilcoxon

    a = np.nan_to_num(np.asarray(a, float), nan=ERROR_CEILING, posinf=ERROR_CEILING)
    b = np.nan_to_num(np.asarray(b, float), nan=ERROR_CEILING, posinf=ERROR_CEILING)
    diff = a - b
    if len(diff) < 2 or np.all(diff == 0):
        return float("nan")
    return float(wilcoxon(a, b, zero_method="wilcox", alternative="two-sided").pvalue)
