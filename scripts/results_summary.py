"""Markdown tables for docs/results.md from the tables `trajmbrl mode=plot` wrote.

Usage: python scripts/results_summary.py [OUTPUTS_DIR] [--out FILE] [--figures DIR]
(``make results`` writes docs/results_tables.md and docs/figures/ from outputs/).
Reads outputs/<section>/<env>/<tag>/tables/*.csv (no re-evaluation): a verdict table (claim x
system x horizon band), nMSE and skill tables (median over seeds with the min-max),
Holm-corrected Wilcoxon verdicts, divergence shares, calibration, reward prediction and the
data-efficiency grid; the git commits the models were trained at, read from the checkpoints'
meta; ``--figures`` copies each section's figures under flat names.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections import Counter
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
    for name, caption in (
        (
            "median_nmse",
            "Normalised MSE (median over seeds [min, max]; diverged: share of test trajectories)",
        ),
        ("skill", "Skill = nMSE / hmean nMSE (< 1 beats no model)"),
    ):
        path = run / f"tables/{name}.csv"
        if path.exists():
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            drop = ["model", "protocol"] + (["variant"] if table["variant"].nunique() == 1 else [])
            out += [caption + ":", "", markdown(table.drop(columns=drop)), ""]
    wil = run / "tables/wilcoxon.csv"
    if wil.exists():
        out += [
            "Paired Wilcoxon on seed-averaged per-trajectory errors, Holm-corrected over "
            "the horizons of each comparison: the row with the lower errors where "
            "p_holm < 0.05, else n.s.:",
            "",
            markdown(verdicts(pd.read_csv(wil))),
            "",
        ]
    unc = run / "tables/uncertainty.csv"
    if unc.exists():
        out += [
            "Calibration (median NLL, mean 1/2-sigma coverage; median over seeds):",
            "",
            markdown(pd.read_csv(unc)),
            "",
        ]
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
    wide = cells.pivot_table(
        index="comparison", columns="horizon", values="cell", aggfunc="first", sort=False
    )
    wide.columns = [f"h={h}" for h in wide.columns]
    return wide.reset_index()


#: Horizon bands of the verdict table: (name, lowest h, highest h), inclusive.
BANDS = (("h <= 10", 1, 10), ("10 < h <= 100", 11, 100), ("h > 100", 101, 10**9))
#: The paper's claims, as the comparison names of ``tables/wilcoxon.csv`` (a = the claimant).
CLAIMS = (
    "t vs d (logged)",
    "t vs d (closed loop)",
    "t vs strongest baseline",
    "te vs de (logged)",
    "te vs de (closed loop)",
    "te vs strongest baseline",
)


def band_verdict(rows: pd.DataFrame, alpha: float = 0.05) -> str:
    """``holds`` / ``fails`` / ``tie`` when every tested horizon of a band agrees, else the
    outcome per horizon; against the strongest baseline the baselines are named."""

    def outcome(row: pd.Series) -> str:
        if pd.isna(row["p_holm"]) or row["p_holm"] >= alpha or row["lower_error"] == "tie":
            return "tie"
        return "holds" if row["lower_error"] == row["a"] else "fails"

    got = [(int(r["horizon"]), outcome(r)) for _, r in rows.sort_values("horizon").iterrows()]
    kinds = {o for _, o in got}
    text = kinds.pop() if len(kinds) == 1 else ", ".join(f"h={h} {o}" for h, o in got)
    if rows["comparison"].iloc[0].endswith("strongest baseline"):
        text += " (vs " + ", ".join(dict.fromkeys(rows.sort_values("horizon")["b"])) + ")"
    return text


def verdict_table(runs: list[Path], alpha: float = 0.05) -> pd.DataFrame:
    """Claim x system x horizon band from every run's Holm-corrected Wilcoxon tests."""
    out = []
    for run in runs:
        path = run / "tables/wilcoxon.csv"
        if not path.exists():
            continue
        tests = pd.read_csv(path)
        for claim in CLAIMS:
            mine = tests[tests["comparison"] == claim]
            if mine.empty:
                continue
            row = {
                "system": f"{run.parents[1].name}: {run.parent.name} / {run.name}",
                "claim": claim.replace(" vs ", " beats "),
            }
            for band, lo, hi in BANDS:
                sel = mine[(mine["horizon"] >= lo) & (mine["horizon"] <= hi)]
                row[band] = band_verdict(sel, alpha) if len(sel) else "-"
            out.append(row)
    return pd.DataFrame(out)


def training_commits(root: Path) -> Counter[str]:
    """How many checkpoints under ``root`` were trained at each git commit (short hashes)."""
    import torch

    found: Counter[str] = Counter()
    for path in root.glob("sec5*/*/*/models/**/model.pt"):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        commit = json.loads(payload["meta"]).get("git_commit") or "unknown"
        found[commit[:7]] += 1
    return found


def copy_figures(root: Path, dest: Path) -> list[str]:
    """Copy ``<section>/<env>/<tag>/figures/*.png`` to ``dest/<section>_<env>_<tag>_<name>``."""
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for fig in sorted(root.glob("sec5*/*/*/figures/*.png")):
        section, env, tag = fig.parts[-5:-2]
        name = f"{section}_{env}_{tag}_{fig.name}"
        shutil.copyfile(fig, dest / name)
        names.append(name)
    return names


def header(root: Path) -> list[str]:
    """Where the tables come from: this checkout's commit and the models' training commits."""
    head = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    trained = ", ".join(
        f"{c} ({n} model{'' if n == 1 else 's'})" for c, n in training_commits(root).most_common()
    )
    return [
        "# Results tables (generated)",
        "",
        f"Written by `make results` (`python scripts/results_summary.py {root}`) at commit "
        f"{head} from the `tables/*.csv` that `trajmbrl mode=plot` wrote; the models were "
        f"trained at: {trained or 'no checkpoints found'}. Do not edit by hand: "
        "docs/results.md discusses these numbers.",
        "",
    ]


def seed_spread(runs: list[Path]) -> pd.DataFrame:
    """How much a trained row moves across seeds: per system and row, the median over horizons
    of max / min of the seeds' median nMSE (1 = identical seeds; from ``tables/runs.csv``)."""
    cols: dict[str, dict[str, str]] = {}
    for run in runs:
        path = run / "tables/runs.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        hs = [c for c in frame.columns if c.startswith("h=")]
        system = f"{run.parents[1].name}: {run.parent.name} / {run.name}"
        for row, g in frame.groupby("row", sort=False):
            if g["seed"].nunique() < 2:
                continue
            vals = g[hs].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = vals.max(axis=0) / vals.min(axis=0)
            ratio = ratio[np.isfinite(ratio)]
            cols.setdefault(system, {})[str(row)] = (
                f"{np.median(ratio):.2g}x" if ratio.size else "div."
            )
    table = pd.DataFrame(cols)
    return table.rename_axis("row").reset_index() if not table.empty else table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="outputs", type=Path)
    ap.add_argument("--out", type=Path, help="write here (atomically) instead of stdout")
    ap.add_argument("--figures", type=Path, help="copy the figures into this directory")
    args = ap.parse_args()
    root = args.root
    lines: list[str] = header(root) if args.out else []
    horizon_runs = sorted(
        p.parent
        for s in SECTIONS
        for p in (root / s).glob("*/*/tables")
        if (p / "wilcoxon.csv").exists()
    )
    table = verdict_table(horizon_runs)
    if not table.empty:
        lines += [
            "### Verdicts",
            "",
            "Each claim per system and horizon band, from the Holm-corrected paired "
            "Wilcoxon tests below (p_holm < 0.05): holds = the claimant has the lower "
            "errors, fails = the other row has, tie = not significant; a band whose "
            "horizons disagree lists them.",
            "",
            markdown(table),
            "",
        ]
    spread = seed_spread(horizon_runs)
    if not spread.empty:
        lines += [
            "### How much the numbers move across seeds",
            "",
            "Per trained row and system: the median over horizons of max / min of the "
            "three seeds' median nMSE (1x = the seeds agree; div. = a seed diverged).",
            "",
            markdown(spread.fillna("-")),
            "",
        ]
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
                lines += [
                    f"#### {run.parent.name} / {run.name}: reward prediction",
                    "",
                    markdown(reward),
                    "",
                ]
            grid = run / "tables/efficiency_grid.csv"
            if grid.exists():
                agg = pd.read_csv(grid)
                wide = agg.pivot_table(
                    index="metric", columns="model", values="value", aggfunc="median"
                ).reset_index()
                wins = agg.pivot_table(
                    index=["metric", "num_traj", "t_range"], columns="model", values="value"
                ).reset_index()
                lines += [
                    f"#### {run.parent.name} / {run.name}: data efficiency",
                    "",
                    "Median over the grid cells:",
                    "",
                    markdown(wide),
                    "",
                ]
                for other in [m for m in ("d", "d (closed loop)") if m in wins]:
                    better = {
                        "mse": wins["t"] < wins[other],
                        "cosine": wins["t"] > wins[other],
                        "gaussian": wins["t"] > wins[other],
                    }
                    share = {m: float(better[m][wins["metric"] == m].mean()) for m in better}
                    lines += [
                        f"Share of grid cells where t beats {other}: "
                        + ", ".join(f"{m} {v:.0%}" for m, v in share.items()),
                        "",
                    ]
                    mse = wins[wins["metric"] == "mse"].set_index(["num_traj", "t_range"])
                    ratio = (mse["t"] / mse[other]).unstack("t_range")
                    ratio.columns = [f"t_range={c}" for c in ratio.columns]
                    lines += [
                        f"MSE of t / MSE of {other} per cell (< 1: t better; median over "
                        "copies, capped MSE):",
                        "",
                        markdown(ratio.reset_index(), digits=2),
                        "",
                    ]
    if args.figures:
        lines += (
            ["### Figures", ""]
            + [f"- ![{n}](figures/{n})" for n in copy_figures(root, args.figures)]
            + [""]
        )
    text = "\n".join(lines)
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
