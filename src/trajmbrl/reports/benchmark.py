"""The benchmark's leaderboard: per system and horizon band, every row's skill against ``hmean``.

Input: the tidy nMSE rows of one system over several independently collected datasets
(column ``dataset``: the collection seed), several model seeds and the test trajectories. Per
horizon band (:data:`BANDS`) a trajectory's error is the median of its nMSE over the band's
horizons; every row's median error and every pairwise ratio of medians get a hierarchical
bootstrap interval (:mod:`trajmbrl.reports.bootstrap`: datasets, seeds, trajectories). A row
*wins* against another only when the interval of their ratio excludes 1 **and** the paired
Wilcoxon test on seed-averaged per-trajectory errors (paired over datasets x trajectories),
Holm-corrected over every comparison of the system, agrees (p_holm < alpha, same direction).
Skill = median(row) / median(hmean): below 1 the row beats the training mean.

Tables (tidy, one line per item): ``leaderboard`` (system, band, row: skill and nMSE with
intervals, the verdict against hmean and against the strongest row), ``pairs`` (every pairwise
ratio with interval, p, p_holm and the winner), ``per_seed`` (each dataset x seed median, so the
seeds stay visible) and ``curves`` (skill per horizon with intervals, for the figures).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trajmbrl.errors import ArgumentError
from trajmbrl.evaluation.metrics import wilcoxon_test, worst_as_inf
from trajmbrl.evaluation.stats import REFERENCE, holm, protocol_name, row_label, sort_key
from trajmbrl.reports.bootstrap import BootstrapSettings, RowBootstrap, bootstrap_rows
from trajmbrl.reports.verdicts import BANDS
from trajmbrl.utils.schema_check import check_settings, setting

#: the columns of the tidy input (one nMSE per dataset, row, seed, trajectory and horizon)
INPUT = ["dataset", "model", "action_source", "variant", "seed", "traj", "horizon", "value"]
#: the variant name of the paper's settings (``train.variant`` of a full-data run)
PAPER_VARIANT = "n=all_t=all"


@dataclass
class BenchmarkSettings:
    """The leaderboard's statistics (the CLI's ``benchmark.replicates`` ... ``alpha``)."""

    replicates: int = setting(1000, "bootstrap replicates", ge=10)
    level: float = setting(0.95, "coverage of the bootstrap intervals", gt=0, lt=1)
    alpha: float = setting(0.05, "significance level of the Holm-corrected tests", gt=0, lt=1)
    seed: int = setting(0, "seed of the bootstrap draws", ge=0)

    def __post_init__(self) -> None:
        check_settings(self)

    def bootstrap(self) -> BootstrapSettings:
        """The bootstrap's own settings."""
        return BootstrapSettings(self.replicates, self.level, self.seed)


@dataclass(frozen=True)
class Leaderboard:
    """The four tidy tables of one system (see the module docstring)."""

    board: pd.DataFrame
    pairs: pd.DataFrame
    per_seed: pd.DataFrame
    curves: pd.DataFrame


def settings_name(variant: str) -> str:
    """``paper`` for the paper's variant, ``tuned`` for ``n=all_t=all_tuned`` (a preset's
    variant), else the variant itself."""
    variant = str(variant)
    if variant == PAPER_VARIANT:
        return "paper"
    return variant.removeprefix(PAPER_VARIANT + "_")


def label(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``row``, ``protocol`` and ``settings`` columns; baselines keep one copy (they do not
    depend on the settings: the first variant's)."""
    frame = frame.assign(settings=frame["variant"].map(settings_name))
    base = frame["model"].isin(["zero", "hmean", "lin", "lint", "oracle"])
    first = frame.loc[base].groupby("model")["settings"].transform("min")
    frame = frame[~base | (frame["settings"] == first.reindex(frame.index))]
    several = frame.loc[~base, "settings"].nunique() > 1
    names = {
        (m, s, v): row_label(m, s) + (f" [{v}]" if several and m not in _BASE else "")
        for m, s, v in frame[["model", "action_source", "settings"]]
        .drop_duplicates()
        .itertuples(index=False)
    }
    rows = [names[k] for k in zip(frame["model"], frame["action_source"], frame["settings"])]
    return frame.assign(row=rows, protocol=frame["action_source"].map(protocol_name))


_BASE = ("zero", "hmean", "lin", "lint", "oracle")


def band_errors(frame: pd.DataFrame, lo: int, hi: int) -> pd.DataFrame:
    """Per (dataset, row, seed, traj) the median nMSE over horizons lo..hi (diverged = +inf).

    :returns: columns ``dataset, row, seed, traj, value`` (empty when no horizon is in band).
    """
    sel = frame[(frame["horizon"] >= lo) & (frame["horizon"] <= hi)]
    sel = sel.assign(value=worst_as_inf(sel["value"]))
    keys = ["dataset", "row", "seed", "traj"]
    return sel.groupby(keys, sort=True)["value"].median().reset_index()


def error_arrays(errors: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row -> (D, S_row, N) array of ``band_errors`` (trajectory slots per dataset in id order,
    NaN-padded at the end)."""
    datasets = sorted(errors["dataset"].unique())
    slots = {d: sorted(errors.loc[errors["dataset"] == d, "traj"].unique()) for d in datasets}
    n = max(len(v) for v in slots.values())
    index = {(d, t): i for d in datasets for i, t in enumerate(slots[d])}
    out = {}
    for row, g in errors.groupby("row", sort=True):
        seeds = sorted(g["seed"].unique())
        arr = np.full((len(datasets), len(seeds), n), np.nan)
        di = g["dataset"].map({d: i for i, d in enumerate(datasets)}).to_numpy()
        si = g["seed"].map({s: i for i, s in enumerate(seeds)}).to_numpy()
        ti = np.array([index[(d, t)] for d, t in zip(g["dataset"], g["traj"])])
        arr[di, si, ti] = g["value"].to_numpy()
        out[str(row)] = arr
    return out


def _paired(wide: pd.DataFrame, a: str, b: str) -> tuple[float, float]:
    """Wilcoxon on seed-averaged per-trajectory errors of rows a and b (``wide``: one column
    per row, one line per dataset x trajectory). :returns: (p, balance: > 0 when a has the
    larger errors)."""
    both = wide[[a, b]].dropna()
    return wilcoxon_test(both[a].to_numpy(), both[b].to_numpy())


def _bands(horizons: list[int]) -> list[tuple[str, int, int]]:
    """The :data:`BANDS` that hold at least one evaluated horizon."""
    return [(n, lo, hi) for n, lo, hi in BANDS if any(lo <= h <= hi for h in horizons)]


def leaderboard(
    frame: pd.DataFrame,
    system: str,
    *,
    horizons: list[int] | None = None,
    settings: BenchmarkSettings | None = None,
) -> Leaderboard:
    """The leaderboard of one system from its tidy nMSE rows (:data:`INPUT` columns).

    :param horizons: the horizons of the figure curves (None: every evaluated horizon).
    """
    settings = settings or BenchmarkSettings()
    missing = [c for c in INPUT if c not in frame.columns]
    if missing:
        raise ArgumentError(f"the metrics frame lacks the columns {missing}")
    labelled = label(frame)
    if REFERENCE not in set(labelled["model"]):
        raise ArgumentError(f"the metrics frame has no {REFERENCE} rows: skill needs them")
    cols = ["model", "action_source", "protocol", "settings"]
    meta = labelled.drop_duplicates("row").set_index("row")[cols]
    evaluated = sorted(labelled["horizon"].unique())
    boards, pair_rows, per_seed = [], [], []
    for band, lo, hi in _bands(evaluated):
        errors = band_errors(labelled, lo, hi)
        boot = bootstrap_rows(error_arrays(errors), settings.bootstrap())
        boards.append(_board(boot, errors, meta, system, band, settings))
        pair_rows.append(_pairs(boot, errors, meta, system, band, settings))
        seeds = errors.groupby(["row", "dataset", "seed"])["value"].median().reset_index()
        per_seed.append(seeds.assign(system=system, band=band))
    pairs = pd.concat(pair_rows, ignore_index=True)
    pairs["p_holm"] = holm(pairs["p"].to_numpy())
    pairs["winner"] = [_winner(r, settings.alpha) for r in pairs.itertuples(index=False)]
    board = _verdicts(pd.concat(boards, ignore_index=True), pairs)
    curves = _curves(labelled, meta, system, horizons or evaluated, settings)
    seeds = pd.concat(per_seed, ignore_index=True)
    seeds = seeds[["system", "band", "row", "dataset", "seed", "value"]].rename(
        columns={"value": "median_nmse"}
    )
    return Leaderboard(board, pairs, seeds, curves)


def _order(meta: pd.DataFrame, rows: list[str]) -> list[str]:
    return sorted(
        rows, key=lambda r: (*sort_key(meta.at[r, "model"], meta.at[r, "action_source"]), r)
    )


def _board(
    boot: RowBootstrap,
    errors: pd.DataFrame,
    meta: pd.DataFrame,
    system: str,
    band: str,
    settings: BenchmarkSettings,
) -> pd.DataFrame:
    """One band's rows: median nMSE and skill with intervals, seed counts and spread."""
    seeds = errors.groupby(["row", "dataset", "seed"])["value"].median().groupby("row")
    out = []
    for row in _order(meta, list(boot.median)):
        lo, hi = boot.median_interval(row, settings.level)
        slo, shi = boot.ratio_interval(row, REFERENCE, settings.level)
        out.append(
            {
                "system": system,
                "band": band,
                "row": row,
                "model": meta.at[row, "model"],
                "protocol": meta.at[row, "protocol"],
                "settings": meta.at[row, "settings"],
                "skill": boot.ratio(row, REFERENCE),
                "skill_lo": slo,
                "skill_hi": shi,
                "nmse": boot.median[row],
                "nmse_lo": lo,
                "nmse_hi": hi,
                "n_datasets": int(errors.loc[errors["row"] == row, "dataset"].nunique()),
                "n_seeds": int(errors.loc[errors["row"] == row, "seed"].nunique()),
                "seed_min": float(seeds.get_group(row).min()),
                "seed_max": float(seeds.get_group(row).max()),
            }
        )
    return pd.DataFrame(out)


def _pairs(
    boot: RowBootstrap,
    errors: pd.DataFrame,
    meta: pd.DataFrame,
    system: str,
    band: str,
    settings: BenchmarkSettings,
) -> pd.DataFrame:
    """Every pair (a before b in table order): ratio of medians a / b, interval, Wilcoxon p."""
    out = []
    wide = errors.groupby(["row", "dataset", "traj"])["value"].mean().unstack("row")
    for a, b in itertools.combinations(_order(meta, list(boot.median)), 2):
        lo, hi = boot.ratio_interval(a, b, settings.level)
        p, balance = _paired(wide, a, b)
        out.append(
            {
                "system": system,
                "band": band,
                "a": a,
                "b": b,
                "ratio": boot.ratio(a, b),
                "ratio_lo": lo,
                "ratio_hi": hi,
                "p": p,
                "balance": balance,
            }
        )
    return pd.DataFrame(out)


def _winner(row: Any, alpha: float) -> str:
    """``a`` / ``b`` when the ratio's interval excludes 1 and the Holm-corrected test agrees
    (same direction), else ``tie``."""
    lo, hi, p, balance = (getattr(row, k) for k in ("ratio_lo", "ratio_hi", "p_holm", "balance"))
    significant = bool(np.isfinite(p) and p < alpha)
    if hi < 1 and significant and balance < 0:
        return str(row.a)
    if lo > 1 and significant and balance > 0:
        return str(row.b)
    return "tie"


def _verdicts(board: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Add the verdict against hmean, the strongest row (lowest skill) and the verdict
    against it, and how many rows each row beats."""
    key = pairs.set_index(["band", "a", "b"])["winner"]

    def versus(band: str, row: str, other: str) -> str:
        if row == other:
            return "-"
        won = key.get((band, row, other), key.get((band, other, row)))
        return "wins" if won == row else "loses" if won == other else "tie"

    out = []
    for band, g in board.groupby("band", sort=False):
        finite = g[np.isfinite(g["skill"])]
        best = (finite if len(finite) else g).sort_values(["skill", "nmse"]).iloc[0]["row"]
        for _, r in g.iterrows():
            wins = int((pairs[(pairs["band"] == band)]["winner"] == r["row"]).sum())
            out.append(
                {
                    **r.to_dict(),
                    "vs_hmean": versus(str(band), r["row"], REFERENCE),
                    "strongest": r["row"] == best,
                    "vs_strongest": versus(str(band), r["row"], best),
                    "beats": wins,
                }
            )
    frame = pd.DataFrame(out)
    frame["rank"] = frame.groupby("band", sort=False)["skill"].rank(method="min").astype(int)
    return frame


def _curves(
    labelled: pd.DataFrame,
    meta: pd.DataFrame,
    system: str,
    horizons: list[int],
    settings: BenchmarkSettings,
) -> pd.DataFrame:
    """Skill and nMSE per horizon with their bootstrap intervals (the figures' curves)."""
    out = []
    for h in horizons:
        errors = band_errors(labelled, h, h)
        if errors.empty:
            continue
        boot = bootstrap_rows(error_arrays(errors), settings.bootstrap())
        for row in _order(meta, list(boot.median)):
            lo, hi = boot.median_interval(row, settings.level)
            slo, shi = boot.ratio_interval(row, REFERENCE, settings.level)
            out.append(
                {
                    "system": system,
                    "row": row,
                    "model": meta.at[row, "model"],
                    "action_source": meta.at[row, "action_source"],
                    "horizon": int(h),
                    "skill": boot.ratio(row, REFERENCE),
                    "skill_lo": slo,
                    "skill_hi": shi,
                    "nmse": boot.median[row],
                    "nmse_lo": lo,
                    "nmse_hi": hi,
                }
            )
    return pd.DataFrame(out)


def _num(v: float) -> str:
    """Three significant digits; diverged (+inf or >= 1e6) as ``div.``."""
    return "div." if not np.isfinite(v) or v >= 1e6 else f"{v:.3g}"


def board_markdown(board: pd.DataFrame) -> str:
    """The leaderboard as markdown, one table per band, the strongest row in bold.

    Columns: rank, row, skill [interval], median nMSE [interval], verdicts vs hmean and vs the
    strongest row, the seeds' min-max of their median nMSE.
    """
    lines: list[str] = []
    for (system, band), g in board.groupby(["system", "band"], sort=False):
        lines += [f"**{system}, {band}**", ""]
        lines += [
            "| rank | row | skill vs hmean [95% CI] | median nMSE [95% CI] | vs hmean | "
            "vs strongest | seeds (min-max) |",
            "|---|---|---|---|---|---|---|",
        ]
        for _, r in g.sort_values(["rank", "row"]).iterrows():
            name = f"**{r['row']}** (strongest)" if r["strongest"] else str(r["row"])
            lines.append(
                f"| {r['rank']} | {name} | {_num(r['skill'])} [{_num(r['skill_lo'])}, "
                f"{_num(r['skill_hi'])}] | {_num(r['nmse'])} [{_num(r['nmse_lo'])}, "
                f"{_num(r['nmse_hi'])}] | {r['vs_hmean']} | {r['vs_strongest']} | "
                f"{_num(r['seed_min'])}-{_num(r['seed_max'])} ({r['n_datasets']}x{r['n_seeds']}) |"
            )
        lines.append("")
    return "\n".join(lines)


def verdict_lines(board: pd.DataFrame) -> list[str]:
    """One plain sentence per system and band: the strongest row, by how much it beats hmean
    and whether that is a win; or that nothing beats the training mean."""
    out = []
    for (system, band), g in board.groupby(["system", "band"], sort=False):
        best = g[g["strongest"]].iloc[0]
        beaters = g[g["vs_hmean"] == "wins"]
        ci = f"[{_num(best['skill_lo'])}, {_num(best['skill_hi'])}]"
        if beaters.empty:
            out.append(
                f"- {system}, {band}: nothing beats the training mean (hmean) significantly; "
                f"the lowest skill is {best['row']} at {_num(best['skill'])} {ci}."
            )
            continue
        margin = (
            "and it beats every other row"
            if (g["vs_strongest"].isin(["-", "loses"])).all()
            else "tied with "
            + ", ".join(g.loc[(g["vs_strongest"] == "tie"), "row"].astype(str).head(4))
        )
        out.append(
            f"- {system}, {band}: {best['row']} is strongest, skill {_num(best['skill'])} {ci} "
            f"({len(beaters)} rows beat hmean); {margin}."
        )
    return out
