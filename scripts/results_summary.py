"""Markdown tables for docs/results.md from the tables `trajmbrl mode=plot` wrote.

Usage: python scripts/results_summary.py [OUTPUTS_DIR] > summary.md
Reads outputs/<section>/<env>/<tag>/tables/*.csv only (no models, no re-evaluation).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SECTIONS = ("sec52", "sec53", "sec54", "sec55")


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
    """Median nMSE table and the Wilcoxon p-values at the longest horizon."""
    out = [f"#### {run.parent.name} / {run.name}", ""]
    out += [markdown(pd.read_csv(run / "tables/median_nmse.csv")), ""]
    wil = run / "tables/wilcoxon.csv"
    if wil.exists():
        tests = pd.read_csv(wil)
        last = tests[tests["horizon"] == tests["horizon"].max()]
        out += [f"Paired Wilcoxon at h={int(last['horizon'].max())}:", "",
                markdown(last[["pair", "median_a", "median_b", "p_value", "n"]]), ""]
    unc = run / "tables/uncertainty.csv"
    if unc.exists():
        out += ["Calibration (median NLL, mean 1/2-sigma coverage):", "",
                markdown(pd.read_csv(unc)), ""]
    return out


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
                lines += [f"#### {run.parent.name} / {run.name}: reward prediction", "",
                          markdown(pd.read_csv(run / "tables/reward.csv")), ""]
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
