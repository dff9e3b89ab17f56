"""mode=control final table from the tidy per-run CSVs (one row per env, method and model).

Beside the median and spread over seeds, every row gets the evidence a reviewer asks for:

- a percentile bootstrap interval (95 %, seeded) of the mean final score over seeds;
- episodes-to-reach: per seed, the system episodes spent when the true score first reached
  ``REACH`` x the best known score of the env (the best final mean of any row, ceilings
  included); its median over seeds (inf when half the seeds never reach it) and the share of
  seeds that reached it;
- a paired test against the best model-free method of the env (the seeds share their random
  episodes and evaluation episodes: common random numbers): the Wilcoxon signed-rank test on
  the per-seed final scores, Holm-corrected over the rows tested, and the verdict
  ``wins`` / ``ties`` / ``loses`` at the 5 % level;
- the env's headroom: best known score minus the reference (hand-designed) score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

#: model-free methods (their best is what model-based methods are tested against)
MODEL_FREE = ("env_cma", "env_bo", "random")
#: rows that bound what a method can reach (the true system as the model); never tested
CEILINGS = ("mpc_true", "model_cma_true")
#: share of the best known score that counts as reached
REACH = 0.95
ALPHA = 0.05


def bootstrap_mean_ci(
    values: np.ndarray, *, level: float = 0.95, draws: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (n,) (resampling seeds)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(draws, v.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def episodes_to_reach(runs: pd.DataFrame, target: float) -> np.ndarray:
    """Per seed (sorted), the episodes used when ``true_score >= target`` first (inf: never).

    :param runs: one method's rows (every round of every seed).
    """
    out = []
    for _, g in runs.sort_values("round").groupby("seed", sort=True):
        hit = g.loc[g["true_score"] >= target, "episodes"]
        out.append(float(hit.iloc[0]) if len(hit) else np.inf)
    return np.asarray(out)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def _last_rounds(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[
        frame.groupby(["env", "method", "model", "seed"], dropna=False)["round"].idxmax()
    ]


def _paired_p(a: pd.Series, b: pd.Series) -> tuple[float, int]:
    """Two-sided Wilcoxon signed-rank p of final scores paired by seed (NaN: < 5 pairs) and
    the number of pairs."""
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    if len(both) < 5 or np.allclose(both.iloc[:, 0], both.iloc[:, 1]):
        return (float("nan") if len(both) < 5 else 1.0), len(both)
    return float(wilcoxon(both.iloc[:, 0], both.iloc[:, 1]).pvalue), len(both)


def can_reject(pairs: int, tests: int, alpha: float = ALPHA) -> bool:
    """Whether a two-sided exact Wilcoxon test over ``pairs`` seeds, Holm-corrected over
    ``tests`` tests, could reach ``alpha`` at all: its smallest p (every seed on one side) is
    2 / 2^pairs, times at most ``tests``. Without that power a non-significant result is no
    tie (6 seeds against 4 tests: 0.125 at best)."""
    return pairs >= 5 and tests * 2.0 / 2.0**pairs < alpha


def final_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, method, model) from each seed's last round.

    Columns: env, method, model, seeds, episodes, true score median / mean / std / min over
    seeds, the bootstrap interval of the mean (true_lo, true_hi), predicted score (mean) and its
    gap to the true score (model exploitation), episodes-to-reach (median, share of seeds),
    the paired test against the best model-free method (vs, p_holm, verdict), the env's best
    known score and headroom, compute seconds per run (median).
    """
    last = _last_rounds(frame)
    rows = []
    for (env, method, model), g in last.groupby(
        ["env", "method", "model"], dropna=False, sort=True
    ):
        true, pred = g["true_score"].to_numpy(), g["predicted_score"].to_numpy(dtype=float)
        gap = pred - true
        lo, hi = bootstrap_mean_ci(true)
        rows.append(
            {
                "env": env,
                "method": method,
                "model": model,
                "seeds": int(g["seed"].nunique()),
                "episodes": int(g["episodes"].max()),
                "true_median": float(np.median(true)),
                "true_mean": float(true.mean()),
                "true_lo": lo,
                "true_hi": hi,
                "true_std": float(true.std()),
                "true_min": float(true.min()),
                "predicted_mean": float(np.nanmean(pred)) if np.isfinite(pred).any() else np.nan,
                "pred_minus_true": float(np.nanmean(gap)) if np.isfinite(gap).any() else np.nan,
                "compute_s": float(g["wall_clock"].median()),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    parts = [_evidence(frame, last, t) for _, t in table.groupby("env", sort=True)]
    return pd.concat(parts).sort_values(["env", "true_median"], ascending=[True, False])


def _evidence(frame: pd.DataFrame, last: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Reach, headroom and the paired test for one env's rows."""
    table = table.copy()
    env = table["env"].iloc[0]
    best = float(table["true_mean"].max())
    ref = table.loc[table["method"] == "reference", "true_mean"]
    table["best_known"] = best
    table["headroom"] = best - float(ref.iloc[0]) if len(ref) else np.nan
    target = REACH * best if best > 0 else best / REACH  # negative scores (reacher): closer to 0
    reach_median, reach_share = [], []
    for _, row in table.iterrows():
        runs = frame[
            (frame["env"] == env)
            & (frame["method"] == row["method"])
            & (frame["model"].fillna("") == ("" if pd.isna(row["model"]) else row["model"]))
        ]
        e = episodes_to_reach(runs, target)
        reach_median.append(float(np.median(e)))
        reach_share.append(float(np.isfinite(e).mean()))
    table["reach_target"] = target
    table["reach_episodes"] = reach_median
    table["reach_share"] = reach_share
    free = table[table["method"].isin(MODEL_FREE)]
    table["vs"], table["p_holm"], table["verdict"] = "", np.nan, ""
    if free.empty:
        return table
    champion = free.loc[free["true_mean"].idxmax()]
    per_seed = last[last["env"] == env].assign(model=lambda d: d["model"].fillna(""))
    key = (champion["method"], "" if pd.isna(champion["model"]) else champion["model"])
    ref_scores = per_seed[(per_seed["method"] == key[0]) & (per_seed["model"] == key[1])]
    ref_series = ref_scores.set_index("seed")["true_score"]
    tested = table.index[~table["method"].isin((*MODEL_FREE, *CEILINGS, "reference"))]
    raw, pairs = [], []
    for i in tested:
        row = table.loc[i]
        mine = per_seed[
            (per_seed["method"] == row["method"])
            & (per_seed["model"] == ("" if pd.isna(row["model"]) else row["model"]))
        ].set_index("seed")["true_score"]
        p, n = _paired_p(mine, ref_series)
        raw.append(p)
        pairs.append(n)
    adjusted = holm(np.asarray(raw))
    tests = int(np.isfinite(raw).sum())
    for i, p, n in zip(tested, adjusted, pairs):
        table.loc[i, "vs"] = str(key[0])
        table.loc[i, "p_holm"] = p
        better = table.loc[i, "true_mean"] > champion["true_mean"]
        if not np.isfinite(p):
            verdict = "n/a (< 5 seeds)"
        elif p < ALPHA:
            verdict = "wins" if better else "loses"
        elif not can_reject(n, tests):
            verdict = f"n/a ({n} seeds: the test cannot reach {ALPHA:.0%})"
        else:
            verdict = "ties"
        table.loc[i, "verdict"] = verdict
    return table


def tuning_table(study: pd.DataFrame, values: list[float], hidden: list[int]) -> pd.DataFrame:
    """Mean final score over the tuning seeds of every candidate of the grid ``values`` x
    ``hidden`` ([] hidden: every width in the study), the chosen one (best mean; ties: the
    smaller kappa, then the smaller width) and whether it lies on the grid's edge (the largest
    kappa: a wider grid might choose a larger one).

    :param study: a tuning study (rows kappa, hidden, seed, true_score).
    :returns: one row per candidate: kappa, hidden, seeds, mean, chosen, edge.
    """
    rows = study[study["kappa"].isin(values)]
    if hidden:
        rows = rows[rows["hidden"].isin(hidden)]
    t = (
        rows.groupby(["kappa", "hidden"])["true_score"]
        .agg(seeds="count", mean="mean")
        .reset_index()
        .sort_values(["kappa", "hidden"], ignore_index=True)
    )
    best = np.flatnonzero(np.isclose(t["mean"], t["mean"].max()))
    t["chosen"] = False
    if len(best):
        t.loc[best[0], "chosen"] = True
    top = max(values) if len(values) > 1 and max(values) > 0 else None
    t["edge"] = t["chosen"] & (t["kappa"] == top)
    return t
