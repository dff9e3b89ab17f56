"""Result tables built from tidy metrics frames.

Rows are (model, protocol, variant) with seeds aggregated: the median over seeds of each seed's
median over test trajectories, and the min-max across seeds. Values at the error ceiling
(diverged) are marked, never printed as numbers.
"""

from __future__ import annotations

import pandas as pd

from trajmbrl.evaluation.metrics import (
    divergence_share,
    horizon_summary,
    table_horizons,
)
from trajmbrl.evaluation.stats import (
    ROW,
    per_seed_median,
    protocol_name,
    seed_summary,
    skill_scores,
    sort_key,
)
from trajmbrl.utils.format import CEILING_MARK, fmt_number


def seed_median_summary(frame: pd.DataFrame, hue: str = "row") -> pd.DataFrame:
    """Per ``hue`` and horizon: the percentiles over test trajectories of each seed, then the
    median over seeds (the line is the table's value). Diverged values sit at the ceiling.

    :param frame: tidy rows ``hue, seed, traj, horizon, value`` of one metric.
    """
    per_seed = horizon_summary(frame, [hue, "seed"])
    cols = ["p10", "p34", "median", "p66", "p90"]
    return per_seed.groupby([hue, "horizon"], sort=True)[cols].median().reset_index()


def with_skill(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s nmse rows plus their ``skill`` rows (when ``hmean`` was evaluated)."""
    nmse = frame[frame["metric"] == "nmse"]
    return pd.concat([nmse, skill_scores(nmse)], ignore_index=True)


def horizon_stats(scored: pd.DataFrame, hs: list[int]) -> pd.DataFrame:
    """nMSE and skill per row and horizon: median over seeds, min-max across seeds.

    :param scored: :func:`with_skill` rows (:data:`ROW`, ``row`` label, seed, traj, horizon,
        metric, value); :param hs: the table horizons (:func:`table_horizons`).
    :returns: columns ``ROW + [row, metric, horizon, median, min, max, n_seeds]`` (``metric``
        nmse or skill); diverged statistics are ``inf``.
    """
    per_seed = per_seed_median(scored[scored["horizon"].isin(hs)], [*ROW, "row"])
    return seed_summary(per_seed, [*ROW, "row", "metric", "horizon"])


def runs_table(scored: pd.DataFrame, hs: list[int]) -> pd.DataFrame:
    """One line per (env, data, model, protocol, variant, seed): the median over test
    trajectories of nMSE (``h=<k>``) and skill (``skill h=<k>``), and the diverged share."""
    keys = [*ROW, "row", "seed"]
    per_seed = per_seed_median(scored[scored["horizon"].isin(hs)], [*ROW, "row"])
    wide = per_seed.pivot_table(index=keys, columns=["metric", "horizon"], values="value")
    wide.columns = [f"h={h}" if m == "nmse" else f"{m} h={h}" for m, h in wide.columns]
    nmse = scored[scored["metric"] == "nmse"]
    wide["diverged"] = divergence_share(nmse, keys).set_index(keys)["diverged"]
    return wide.reset_index().rename(columns={"action_source": "protocol"})


def divergence_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of diverged test trajectories per row: median and min-max across seeds."""
    nmse = frame[frame["metric"] == "nmse"]
    share = divergence_share(nmse, [*ROW, "row", "seed"]).rename(columns={"diverged": "value"})
    return seed_summary(share, [*ROW, "row"])


def fmt_value(value: float, *, mark: str = CEILING_MARK, infinite_only: bool = False) -> str:
    """A number with 3 significant digits, or ``mark`` when it is at the ceiling (diverged).

    :param infinite_only: mark only ``inf`` (skill scores: large finite ratios are real).
    """
    return fmt_number(value, mark=mark, infinite_only=infinite_only)


def fmt_cell(median: float, lo: float, hi: float, n_seeds: int, **kw: object) -> str:
    """``median [min, max]`` over seeds (just the median for one seed), ceilings marked."""
    text = fmt_value(median, **kw)  # type: ignore[arg-type]
    if n_seeds > 1:
        short = {**kw, "mark": str(kw.get("mark", CEILING_MARK)).split(" ")[0]}
        text += f" [{fmt_value(lo, **short)}, {fmt_value(hi, **short)}]"  # type: ignore[arg-type]
    return text


def wide_table(
    stats: pd.DataFrame, metric: str, diverged: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Printable table of one metric: a row per (model, protocol, variant), ``h=<k>`` cells.

    :param stats: from :func:`horizon_stats`; :param diverged: from :func:`divergence_stats`.
    :returns: columns ``row, model, protocol, variant, seeds, h=<k>..., [diverged]`` (strings),
        rows in the order of the labels.
    """
    part = stats[stats["metric"] == metric]
    kw = {"mark": "div.", "infinite_only": True} if metric == "skill" else {}
    cells = part.assign(
        cell=[
            fmt_cell(m, lo, hi, n, **kw)
            for m, lo, hi, n in zip(part["median"], part["min"], part["max"], part["n_seeds"])
        ]
    )
    keys = ["row", "model", "action_source", "variant"]
    table = cells.pivot_table(index=keys, columns="horizon", values="cell", aggfunc="first")
    table.columns = [f"h={h}" for h in table.columns]
    seeds = part.groupby(keys)["n_seeds"].max()
    table.insert(0, "seeds", seeds)
    if diverged is not None:
        d = diverged.set_index(keys)
        table["diverged"] = [
            f"{d.at[k, 'median']:.0%}"
            + (f" [{d.at[k, 'min']:.0%}, {d.at[k, 'max']:.0%}]" if d.at[k, "n_seeds"] > 1 else "")
            for k in table.index
        ]
    table = table.reset_index()
    order = sorted(
        range(len(table)),
        key=lambda i: (
            sort_key(table.at[i, "model"], table.at[i, "action_source"]),
            table.at[i, "variant"],
        ),
    )
    table = table.iloc[order].reset_index(drop=True)
    table.insert(2, "protocol", table.pop("action_source").map(lambda s: protocol_name(s) or s))
    return table


def uncertainty_table(frame: pd.DataFrame, horizons: list[int]) -> pd.DataFrame:
    """Calibration per row at the given horizons: median NLL, mean 1- and 2-sigma coverage over
    test trajectories for each seed, then the median over seeds.

    Well-calibrated Gaussian predictions cover about 0.68 (1 sigma) and 0.95 (2 sigma).
    :returns: one row per ``row`` label with columns ``nll@h``, ``cov1@h``, ``cov2@h``; empty
        when no model reported uncertainty.
    """
    unc = frame[frame["metric"].isin(["nll", "cov1", "cov2"])]
    if unc.empty:
        return pd.DataFrame()
    hs = table_horizons(frame[frame["metric"] == "nmse"], horizons)
    unc = unc[unc["horizon"].isin(hs)]
    by = ["row", "seed", "metric", "horizon"]
    nll = unc[unc["metric"] == "nll"].groupby(by)["value"].median()
    cov = unc[unc["metric"] != "nll"].groupby(by)["value"].mean()
    per_seed = pd.concat([nll, cov])
    table = (
        per_seed.groupby(level=["row", "metric", "horizon"]).median().unstack(["metric", "horizon"])
    )
    table.columns = [f"{m}@{h}" for m, h in table.columns]
    return table[sorted(table.columns, key=lambda c: (c.split("@")[0], int(c.split("@")[1])))]
