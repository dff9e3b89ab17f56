"""Section 5.5 tables: per-trajectory true vs predicted returns, per-method accuracy and ranks.

Divergence follows the rule of the horizon tables: a prediction is *diverged* when its roll-out
diverged (flags passed in by the caller) or its predicted return is not finite. Non-finite
predictions are kept: their error is infinite and they rank as the worst controller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from trajmbrl.errors import TrajmbrlError


def reward_frame(
    true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    traj: np.ndarray | None = None,
    diverged: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Tidy per-trajectory rows ``traj, method, true_return, predicted_return, diverged``.

    :param true: (N,); :param predictions: method -> (N,); :param traj: (N,) ids (default 0..N-1).
    :param diverged: method -> (N,) bool, roll-outs that diverged by the horizon rule
        (:func:`trajmbrl.evaluation.metrics.diverged`); non-finite returns are always diverged.
    """
    true = np.asarray(true, dtype=np.float64)
    if true.ndim != 1:
        raise TrajmbrlError(f"true returns must be (N,), got shape {true.shape}")
    ids = np.arange(true.shape[0]) if traj is None else np.asarray(traj)
    flags = dict(diverged or {})
    parts = []
    for method, pred in predictions.items():
        pred = np.asarray(pred, dtype=np.float64)
        if pred.shape != true.shape:
            raise TrajmbrlError(
                f"predicted returns of '{method}' have shape {pred.shape}, expected {true.shape}"
            )
        bad = ~np.isfinite(pred) | np.asarray(flags.get(method, False), dtype=bool)
        parts.append(
            pd.DataFrame(
                {
                    "traj": ids,
                    "method": method,
                    "true_return": true,
                    "predicted_return": pred,
                    "diverged": bad,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=["traj", "method", "true_return", "predicted_return", "diverged"]
        )
    return pd.concat(parts, ignore_index=True)


def _rank_stat(fn: Callable[..., object], a: np.ndarray, b: np.ndarray) -> float:
    """Spearman/Kendall statistic, NaN when undefined (n < 2 or a constant side)."""
    if a.shape[0] < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(fn(a, b).statistic)  # type: ignore[attr-defined]


def worst_last(pred: np.ndarray) -> np.ndarray:
    """Predicted returns with every non-finite one below all finite ones (tied): the rank of a
    blown-up roll-out is the worst controller's. (N,) -> (N,)"""
    ok = np.isfinite(pred)
    if ok.all() or not ok.any():
        return np.where(ok, pred, 0.0)
    lo, hi = pred[ok].min(), pred[ok].max()
    return np.where(ok, pred, lo - (hi - lo) - 1.0)


def reward_table(
    true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    diverged: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per-method accuracy of predicted returns (one row per method, in input order).

    Columns: ``method, n, n_diverged, share_diverged, mse, median_se, mae, bias, spearman,
    kendall`` over every trajectory: a non-finite prediction has an infinite error and ranks as
    the worst controller (the horizon tables' rule; see the module docstring).

    :param true: (N,) true returns (finite); :param predictions: method -> (N,);
    :param diverged: method -> (N,) roll-out divergence flags (see :func:`reward_frame`).
    """
    frame = reward_frame(true, predictions, diverged=diverged)
    rows = []
    for method in predictions:
        g = frame[frame["method"] == method]
        t, p = g["true_return"].to_numpy(), g["predicted_return"].to_numpy()
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.where(np.isfinite(p), p - t, np.inf)
        n, bad = int(len(g)), int(g["diverged"].sum())
        rows.append(
            {
                "method": method,
                "n": n,
                "n_diverged": bad,
                "share_diverged": bad / n if n else math.nan,
                "mse": float(np.mean(err**2)) if n else math.nan,
                "median_se": float(np.median(err**2)) if n else math.nan,
                "mae": float(np.mean(np.abs(err))) if n else math.nan,
                "bias": float(np.mean(p - t)) if n and np.isfinite(p).all() else math.nan,
                "spearman": _rank_stat(stats.spearmanr, t, worst_last(p)),
                "kendall": _rank_stat(stats.kendalltau, t, worst_last(p)),
            }
        )
    return pd.DataFrame(rows)
