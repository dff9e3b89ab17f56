"""Paired Wilcoxon tests between table rows, Holm-corrected across the horizons tested.

Comparisons (each one a family of tests over the table horizons):

- every trajectory model vs its one-step counterpart in every protocol evaluated
  (``t`` vs ``d (logged)`` and ``t`` vs ``d (closed loop)``, ...);
- every trained model vs the strongest row at each horizon: the row with the lowest median
  nMSE among ``zero``, ``hmean``, ``lin``, ``lint`` and the closed-loop one-step models (itself
  excluded); the oracle replay is never one. The comparison is named ``<a> vs strongest row``
  when trained models compete among them, ``<a> vs strongest baseline`` when only the
  no-model and linear baselines do (logged data without a controller).

Per trajectory the errors are averaged over seeds; diverged errors rank worst.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.evaluation.metrics import wilcoxon_test
from trajmbrl.evaluation.stats import counterpart, holm, model_keys, seed_mean, sort_key

#: the opponent name of the strongest-opponent comparisons: trained models among the
#: opponents (closed-loop one-step models), or only zero / hmean / lin / lint
STRONGEST, STRONGEST_BASELINE = "strongest row", "strongest baseline"
_BASELINES = ("zero", "hmean", "lin", "lint")
_KEYS = ["row", "model", "action_source", "variant"]


def is_baseline(model: str, source: str) -> bool:
    """A row that a model must beat: trivial predictors, ``lin``, closed-loop one-step models."""
    closed_loop = model in model_keys() and str(source).startswith("controller")
    return model in _BASELINES or closed_loop


def families(rows: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The comparisons as (row a, opponent rows b); several b = strongest at each horizon.

    :param rows: one line per row with columns ``row, model, action_source, variant``.
    """
    out = []
    rows = rows.iloc[
        sorted(
            range(len(rows)),
            key=lambda i: sort_key(rows["model"].iat[i], rows["action_source"].iat[i]),
        )
    ]
    for a in rows.itertuples(index=False):
        same = rows[rows["variant"] == a.variant]
        one_step = counterpart(a.model)
        if one_step is not None:
            out += [(a.row, [b]) for b in same.loc[same["model"] == one_step, "row"]]
        if a.model in model_keys():
            base = [
                b.row
                for b in same.itertuples(index=False)
                if b.row != a.row and is_baseline(b.model, b.action_source)
            ]
            if base:
                out.append((a.row, base))
    return out


def comparison_table(nmse: pd.DataFrame, stats: pd.DataFrame, hs: list[int]) -> pd.DataFrame:
    """Wilcoxon p-values (raw and Holm-adjusted over ``hs``) for every comparison.

    :param nmse: tidy ``nmse`` rows with ``row`` labels, seed, traj, horizon, value.
    :param stats: :func:`trajmbrl.reports.tables.horizon_stats` (picks the strongest row:
        lowest median over seeds at each horizon).
    :returns: columns ``comparison, a, b, variant, horizon, median_a, median_b, lower_error,
        p_value, p_holm, n`` (medians over trajectories of the seed-averaged errors).
    """
    errors = seed_mean(nmse[nmse["horizon"].isin(hs)], ["row"])
    by_cell = {k: g.set_index("traj")["value"] for k, g in errors.groupby(["row", "horizon"])}
    median = stats[stats["metric"] == "nmse"].set_index(["row", "horizon"])["median"]
    rows = nmse[_KEYS].drop_duplicates()
    variant = dict(zip(rows["row"], rows["variant"]))
    out = []
    model_of = dict(zip(rows["row"], rows["model"]))
    for a, opponents in families(rows):
        trained = any(model_of[b] in model_keys() for b in opponents)
        many = STRONGEST if trained else STRONGEST_BASELINE
        name = f"{a} vs {opponents[0] if len(opponents) == 1 else many}"
        family = []
        for h in hs:
            present = [b for b in opponents if (b, h) in median.index]
            if (a, h) not in by_cell or not present:
                continue
            b = min(present, key=lambda r: median[(r, h)])
            joined = pd.concat([by_cell[(a, h)], by_cell[(b, h)]], axis=1, join="inner")
            p, balance = wilcoxon_test(joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy())
            family.append(
                {
                    "comparison": name,
                    "a": a,
                    "b": b,
                    "variant": variant[a],
                    "horizon": h,
                    "median_a": float(np.median(joined.iloc[:, 0])) if len(joined) else np.nan,
                    "median_b": float(np.median(joined.iloc[:, 1])) if len(joined) else np.nan,
                    "lower_error": "tie"
                    if not balance or np.isnan(balance)
                    else (a if balance < 0 else b),
                    "p_value": p,
                    "n": len(joined),
                }
            )
        adjusted = holm([r["p_value"] for r in family])
        out += [{**r, "p_holm": q} for r, q in zip(family, adjusted)]
    columns = [
        "comparison",
        "a",
        "b",
        "variant",
        "horizon",
        "median_a",
        "median_b",
        "lower_error",
        "p_value",
        "p_holm",
        "n",
    ]
    return pd.DataFrame(out, columns=columns)
