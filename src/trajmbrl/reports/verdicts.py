"""Verdicts from the tables ``mode=plot`` wrote: per comparison and horizon, per claim and
horizon band, and how much a row moves across seeds.

Reads ``<run>/tables/wilcoxon.csv`` (:func:`trajmbrl.reports.comparisons.comparison_table`) and
``<run>/tables/runs.csv`` (:func:`trajmbrl.reports.tables.runs_table`); a run directory is
``<outputs>/<section>/<env>/<data tag>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trajmbrl.reports.checked import read_table

#: Horizon bands of the verdict table: (name, lowest h, highest h), inclusive.
BANDS = (("h <= 10", 1, 10), ("10 < h <= 100", 11, 100), ("h > 100", 101, 10**9))
#: The paper's claims, as the comparison names of ``tables/wilcoxon.csv`` (a = the claimant).
CLAIMS = (
    "t vs d (logged)",
    "t vs d (closed loop)",
    "t vs strongest row",
    "te vs de (logged)",
    "te vs de (closed loop)",
    "te vs strongest row",
)
#: what a claim against the strongest row is called where only baselines compete (and in
#: tables written before trained opponents were told apart)
_ALIASES = {c: (c, c.replace("strongest row", "strongest baseline")) for c in CLAIMS}


def system_name(run: Path) -> str:
    """``sec52: cartpole / stable`` for the run directory ``.../sec52/cartpole/stable``."""
    return f"{run.parents[1].name}: {run.parent.name} / {run.name}"


def verdicts(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One line per comparison, one column per horizon: ``winner (p)`` or ``n.s. (p)``; against
    the strongest row (or baseline) the cell also names that row (it may change with h).

    :param tests: rows of ``tables/wilcoxon.csv`` (comparison, b, horizon, lower_error, p_holm).
    """

    def cell(row: pd.Series) -> str:
        p = row["p_holm"]
        if pd.isna(p):
            return "-"
        winner = row["lower_error"] if p < alpha and row["lower_error"] != "tie" else "n.s."
        versus = f"; vs {row['b']}" if "strongest" in row["comparison"] else ""
        return f"{winner} ({p:.2g}){versus}"

    cells = tests.assign(cell=tests.apply(cell, axis=1))
    wide = cells.pivot_table(
        index="comparison", columns="horizon", values="cell", aggfunc="first", sort=False
    )
    wide.columns = [f"h={h}" for h in wide.columns]
    return wide.reset_index()


def band_verdict(rows: pd.DataFrame, alpha: float = 0.05) -> str:
    """``holds`` / ``fails`` / ``tie`` when every tested horizon of a band agrees, else the
    outcome per horizon; against the strongest row (or baseline) the opponents are named.

    :param rows: the ``tables/wilcoxon.csv`` rows of one comparison within one band.
    """

    def outcome(row: pd.Series) -> str:
        if pd.isna(row["p_holm"]) or row["p_holm"] >= alpha or row["lower_error"] == "tie":
            return "tie"
        return "holds" if row["lower_error"] == row["a"] else "fails"

    got = [(int(r["horizon"]), outcome(r)) for _, r in rows.sort_values("horizon").iterrows()]
    kinds = {o for _, o in got}
    text = kinds.pop() if len(kinds) == 1 else ", ".join(f"h={h} {o}" for h, o in got)
    if "strongest" in rows["comparison"].iloc[0]:
        text += " (vs " + ", ".join(dict.fromkeys(rows.sort_values("horizon")["b"])) + ")"
    return text


def verdict_table(runs: list[Path], alpha: float = 0.05) -> pd.DataFrame:
    """Claim x system x horizon band from every run's Holm-corrected Wilcoxon tests.

    :returns: columns ``system, claim`` and one per :data:`BANDS` name (strings).
    """
    out = []
    for run in runs:
        path = run / "tables/wilcoxon.csv"
        if not path.exists():
            continue
        tests = read_table(path)
        for claim in CLAIMS:
            mine = tests[tests["comparison"].isin(_ALIASES[claim])]
            if mine.empty:
                continue
            name = str(mine["comparison"].iloc[0])
            row = {"system": system_name(run), "claim": name.replace(" vs ", " beats ")}
            for band, lo, hi in BANDS:
                sel = mine[(mine["horizon"] >= lo) & (mine["horizon"] <= hi)]
                row[band] = band_verdict(sel, alpha) if len(sel) else "-"
            out.append(row)
    return pd.DataFrame(out)


def seed_spread(runs: list[Path]) -> pd.DataFrame:
    """How much a trained row moves across seeds: per system and row, the median over horizons
    of max / min of the seeds' median nMSE (1 = identical seeds; from ``tables/runs.csv``).

    :returns: a ``row`` column and one column per system (``1.5x``, or ``div.``); rows with one
        seed are left out.
    """
    cols: dict[str, dict[str, str]] = {}
    for run in runs:
        path = run / "tables/runs.csv"
        if not path.exists():
            continue
        frame = read_table(path)
        hs = [c for c in frame.columns if c.startswith("h=")]
        for row, g in frame.groupby("row", sort=False):
            if g["seed"].nunique() < 2:
                continue
            vals = g[hs].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = vals.max(axis=0) / vals.min(axis=0)
            ratio = ratio[np.isfinite(ratio)]
            cols.setdefault(system_name(run), {})[str(row)] = (
                f"{np.median(ratio):.2g}x" if ratio.size else "div."
            )
    table = pd.DataFrame(cols)
    return table.rename_axis("row").reset_index() if not table.empty else table
