"""Section 5.5 from a common start: which controller is best *from this initial state*?

The test set holds N controllers run from each of M initial states
(:mod:`trajmbrl.data.common_start`). Per method and model seed, :func:`ranking_scores` scores
within every start: Spearman and Kendall between true and predicted returns of its N
controllers, ``regret@1`` (true best return minus the true return of the controller the method
ranks first) and ``regret@k`` (minus the best true return among its top k), and whether the
pick is the true best. :func:`ranking_table` averages over starts, then takes the median (and
range) over seeds; the pooled MSE of returns is kept beside them.

Direct baselines (:func:`direct_return_baselines`) are GPs fitted on the TRAIN split on
``(s_0, K)``, on ``s_0`` alone and on ``K`` alone: a GP on ``s_0`` predicts one return per start,
so it cannot rank within a start (its rank correlations are undefined, NaN, and its pick is the
first controller); a GP on ``K`` alone ignores the start.

Non-finite predictions (diverged roll-outs) rank as the worst controller
(:func:`trajmbrl.evaluation.reward_tables.worst_last`) and their return error is infinite.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.regressors import fit_gp
from trajmbrl.evaluation.reward_tables import _rank_stat, worst_last

#: the direct GP baselines: name -> which inputs ("s0": initial state, "K": controller)
GP_INPUTS = {"gp (s0, K)": ("s0", "K"), "gp (s0)": ("s0",), "gp (K)": ("K",)}
#: columns of a common-start frame
FRAME_COLUMNS = ("seed", "method", "start", "traj", "true_return", "predicted_return", "diverged")
#: the second regret cut-off (regret@1 is always reported)
TOP_K = 5


def gp_features(data: TrajectoryData, inputs: tuple[str, ...]) -> np.ndarray:
    """``[s_0]``, ``[theta]`` or both of every trajectory. :returns: (N, ds and/or dp)"""
    parts = {"s0": data.states[:, 0], "K": data.params}
    return np.concatenate([parts[name] for name in inputs], axis=1).astype(np.float64)


def direct_return_baselines(
    train: TrajectoryData, train_returns: np.ndarray, test: TrajectoryData, seed: int
) -> dict[str, np.ndarray]:
    """Predicted test returns (N_test,) of the GPs of :data:`GP_INPUTS`, fitted on ``train``
    (its returns ``train_returns`` (N_train,)) with seed ``seed``."""
    return {
        name: fit_gp(gp_features(train, inputs), train_returns, seed)(gp_features(test, inputs))
        for name, inputs in GP_INPUTS.items()
    }


def _pick_order(pred: np.ndarray) -> np.ndarray:
    """Controllers by predicted return, best first (non-finite last, ties in input order)."""
    return np.argsort(-worst_last(pred), kind="stable")


def start_scores(true: np.ndarray, pred: np.ndarray, k: int = TOP_K) -> dict[str, float]:
    """Scores of one start's N controllers: true (N,) finite, pred (N,) may be non-finite.

    :returns: ``spearman``, ``kendall`` (NaN when a side is constant), ``regret_1``,
        ``regret_k`` (with ``k`` capped at N), ``picked_best`` (1.0 when the first pick has the
        true best return, else 0.0)
    """
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    if true.ndim != 1 or true.shape != pred.shape or true.size < 2:
        raise TrajmbrlError(
            f"a common start needs >= 2 controllers with one true and one predicted return "
            f"each, got {true.shape} and {pred.shape}"
        )
    order = _pick_order(pred)
    best = float(true.max())
    ranked = worst_last(pred)
    return {
        "spearman": _rank_stat(stats.spearmanr, true, ranked),
        "kendall": _rank_stat(stats.kendalltau, true, ranked),
        "regret_1": best - float(true[order[0]]),
        "regret_k": best - float(true[order[: min(k, true.size)]].max()),
        "picked_best": float(true[order[0]] == best),
    }


def ranking_scores(frame: pd.DataFrame, k: int = TOP_K) -> pd.DataFrame:
    """Per (method, seed, start): :func:`start_scores`.

    :param frame: tidy rows with :data:`FRAME_COLUMNS`
    :returns: columns ``method, seed, start, n, spearman, kendall, regret_1, regret_k,
        picked_best``
    """
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise TrajmbrlError(f"common-start frame lacks columns {missing}")
    if k < 1:
        raise TrajmbrlError(f"ranking_scores: k must be >= 1, got {k}")
    rows = []
    for (method, seed, start), g in frame.groupby(["method", "seed", "start"], sort=False):
        g = g.sort_values("traj")
        scores = start_scores(g["true_return"].to_numpy(), g["predicted_return"].to_numpy(), k)
        rows.append({"method": method, "seed": seed, "start": start, "n": len(g), **scores})
    return pd.DataFrame(rows)


def _mse(g: pd.DataFrame) -> float:
    t, p = g["true_return"].to_numpy(float), g["predicted_return"].to_numpy(float)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(np.isfinite(p), p - t, np.inf)
    return float(np.mean(err**2))


def ranking_table(frame: pd.DataFrame, k: int = TOP_K) -> pd.DataFrame:
    """One row per method (input order): within-start scores averaged over starts, then the
    median over model seeds, with the min and max over seeds of regret@1 and Spearman.

    :returns: columns ``method, seeds, starts, controllers, spearman, spearman_min,
        spearman_max, kendall, regret_1, regret_1_min, regret_1_max, regret_<k>, picked_best,
        mse, n_diverged``
    """
    per = ranking_scores(frame, k)
    metrics = ["spearman", "kendall", "regret_1", "regret_k", "picked_best"]
    with np.errstate(invalid="ignore"):
        per_seed = per.groupby(["method", "seed"], sort=False)[metrics].mean()
    mse = frame.groupby(["method", "seed"], sort=False).apply(_mse, include_groups=False)
    per_seed["mse"] = mse
    rows = []
    for method in frame["method"].drop_duplicates():
        s = per_seed.loc[method]
        g = per[per["method"] == method]
        rows.append(
            {
                "method": method,
                "seeds": len(s),
                "starts": int(g["start"].nunique()),
                "controllers": int(g["n"].min()),
                "spearman": _median(s["spearman"]),
                "spearman_min": float(s["spearman"].min()),
                "spearman_max": float(s["spearman"].max()),
                "kendall": _median(s["kendall"]),
                "regret_1": _median(s["regret_1"]),
                "regret_1_min": float(s["regret_1"].min()),
                "regret_1_max": float(s["regret_1"].max()),
                f"regret_{k}": _median(s["regret_k"]),
                "picked_best": _median(s["picked_best"]),
                "mse": _median(s["mse"]),
                "n_diverged": int(frame.loc[frame["method"] == method, "diverged"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _median(v: pd.Series) -> float:
    """Median over seeds; NaN when every seed is NaN (e.g. a GP on s_0 alone)."""
    v = v.dropna()
    return float(v.median()) if len(v) else math.nan
