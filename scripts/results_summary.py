"""Markdown tables for docs/results.md from the tables `trajmbrl mode=plot` wrote.

Usage: python scripts/results_summary.py [OUTPUTS_DIR] > summary.md
Reads outputs/<section>/<env>/<tag>/tables/*.csv only (no models, no re-evaluation): nMSE and
skill tables (median over seeds with the min-max), Holm-corrected Wilcoxon verdicts, divergence
shares, calibration, reward prediction and the data-efficiency grid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SECTIONS = ("sec52", "sec53", "sec54", "sec55")


def ceiling(value: float) -> str:
    """A value, or the divergence mark of the horizon tables when at the error ceiling."""
    return ">=1e6 (div.)" if not np.isfinite(value) or value >= 1e6 else f"{value:.3g}"


def markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        return str(v)

    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def horizon_section(run: Path) -> list[str]:
    """nMSE and skill tables (median over seeds [min, max]), Holm-corrected Wilcoxon verdicts
    per comparison and horizon, divergence shares and calibration of one run dir."""
    out = [f"#### {run.parent.name} / {run.name}", ""]
    for name, caption in (("median_nmse", "Normalised MSE (median over seeds [min, max]; "
                           "diverged: share of test trajectories)"),
                          ("skill", "Skill = nMSE / hmean nMSE (< 1 beats no model)")):
        path = run / f"tables/{name}.csv"
        if path.exists():
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            drop = ["model", "protocol"] + (["variant"] if table["variant"].nunique() == 1
                                            else [])
            out += [caption + ":", "", markdown(table.drop(columns=drop)), ""]
    wil = run / "tables/wilcoxon.csv"
    if wil.exists():
        out += ["Paired Wilcoxon on seed-averaged per-trajectory errors, Holm-corrected over "
                "the horizons of each comparison: the row with the lower errors where "
                "p_holm < 0.05, else n.s.:", "", markdown(verdicts(pd.read_csv(wil))), ""]
    unc = run / "tables/uncertainty.csv"
    if unc.exists():
        out += ["Calibration (median NLL, mean 1/2-sigma coverage; median over seeds):", "",
                markdown(pd.read_csv(unc)), ""]
    return out


def verdicts(tests: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One line per comparison, one column per horizon: ``winner (p)`` or ``n.s. (p)``; against
    the strongest baseline the cell also names that baseline (it may change with h)."""
    def cell(row: pd.Series) -> str:
        p = row["p_holm"]
        if pd.isna(p):
            return "-"
        winner = row["lower_error"] if p < alpha and row["lower_error"] != "tie" else "n.s."
        versus = f"; vs {row['b']}" if "strongest" in row["comparison"] else ""
        return f"{winner} ({p:.2g}){versus}"

    cells = tests.assign(cell=tests.apply(cell, axis=1))
    wide = cells.pivot_table(index="comparison", columns="horizon", values="cell",
                             aggfunc="first", sort=False)
    wide.columns = [f"h={h}" for h in wide.columns]
    return wide.reset_index()


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs")
    lines: list[str] = []
    for section in SECTIONS:
        runs = sorted(p.parent for p in (root / section).glob("*/*/tables"))
        if not runs:
            continue
        lines += [f"### {section}", ""]
        for run in runs:
            if (run / "tables/median_nmse.csv").exists():
                lines += horizon_section(run)
            if (run / "tables/reward.csv").exists():
                reward = pd.read_csv(run / "tables/reward.csv")
                for col in ("mse", "median_se", "mae"):
                    if col in reward:
                        reward[col] = reward[col].map(ceiling)
                lines += [f"#### {run.parent.name} / {run.name}: reward prediction", "",
                          markdown(reward), ""]
            grid = run / "tables/efficiency_grid.csv"
            if grid.exists():
                agg = pd.read_csv(grid)
                wide = agg.pivot_table(index="metric", columns="model", values="value",
                                       aggfunc="median").reset_index()
                wins = agg.pivot_table(index=["metric", "num_traj", "t_range"], columns="model",
                                       values="value").reset_index()
                better = {"mse": wins["t"] < wins["d"], "cosine": wins["t"] > wins["d"],
                          "gaussian": wins["t"] > wins["d"]}
                share = {m: float(better[m][wins["metric"] == m].mean()) for m in better}
                lines += [f"#### {run.parent.name} / {run.name}: data efficiency", "",
                          "Median over the grid cells:", "", markdown(wide), "",
                          "Share of grid cells where t beats d: " + ", ".join(
                              f"{m} {v:.0%}" for m, v in share.items()), ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
