"""Markdown tables for docs/results.md from the tables `trajmbrl mode=plot` wrote.

Usage: python -m trajmbrl.reports [OUTPUTS_DIR] [--out FILE] [--figures DIR]
(``make results`` writes docs/results_tables.md and docs/figures/ from outputs/).
Reads outputs/<section>/<env>/<tag>/tables/*.csv (no re-evaluation): a verdict table (claim x
system x horizon band), nMSE and skill tables (median over seeds with the min-max),
Holm-corrected Wilcoxon verdicts, divergence shares, calibration, reward prediction and the
data-efficiency grid; the git commits the models were trained at, read from the checkpoints'
meta; ``--figures`` rebuilds that directory from the published figures
(:mod:`trajmbrl.reports.figures`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NoReturn

import pandas as pd

from trajmbrl.errors import TrajmbrlError
from trajmbrl.reports.benchmark_page import benchmark_section, leaderboard_files
from trajmbrl.reports.checked import read_table
from trajmbrl.reports.figures import publish_figures
from trajmbrl.reports.keep import merge
from trajmbrl.reports.tables import fmt_value
from trajmbrl.reports.verdicts import seed_spread, verdict_table, verdicts

SECTIONS = ("sec52", "sec53", "sec54", "sec54_budgets", "sec55")


def markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table (no tabulate dependency); floats with ``digits`` digits."""

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
            table = read_table(path, dtype=str, keep_default_na=False)
            drop = ["model", "protocol"] + (["variant"] if table["variant"].nunique() == 1 else [])
            out += [caption + ":", "", markdown(table.drop(columns=drop)), ""]
    wil = run / "tables/wilcoxon.csv"
    if wil.exists():
        out += [
            "Paired Wilcoxon on seed-averaged per-trajectory errors, Holm-corrected over "
            "the horizons of each comparison: the row with the lower errors where "
            "p_holm < 0.05, else n.s.:",
            "",
            markdown(verdicts(read_table(wil))),
            "",
        ]
    unc = run / "tables/uncertainty.csv"
    if unc.exists():
        out += [
            "Calibration (median NLL, mean 1/2-sigma coverage; median over seeds):",
            "",
            markdown(read_table(unc)),
            "",
        ]
    return out


def reward_section(run: Path) -> list[str]:
    """The 5.5 accuracy table of one run dir (``tables/reward.csv``), ceilings marked."""
    reward = read_table(run / "tables/reward.csv")
    for col in ("mse", "median_se", "mae"):
        if col in reward:
            reward[col] = reward[col].map(fmt_value)
    lines = [f"#### {run.parent.name} / {run.name}: reward prediction", "", markdown(reward), ""]
    common = run / "tables/reward_common_start.csv"
    if common.exists():  # 5.5 from a common start (issue 21)
        lines += [
            "Controllers ranked from a common start (mean over starts, median over model "
            "seeds; regret in return units, lower is better; spearman NaN = constant within "
            "a start):",
            "",
            markdown(read_table(common)),
            "",
        ]
    return lines


def efficiency_section(run: Path) -> list[str]:
    """The 5.4 grid of one run dir (``tables/efficiency_grid.csv``): medians over the cells,
    the share of cells where t wins and the MSE ratio of t per cell against each d row."""
    agg = read_table(run / "tables/efficiency_grid.csv")
    wide = agg.pivot_table(
        index="metric", columns="model", values="value", aggfunc="median"
    ).reset_index()
    wins = agg.pivot_table(
        index=["metric", "num_traj", "t_range"], columns="model", values="value"
    ).reset_index()
    lines = [
        f"#### {run.parent.name} / {run.name}: data efficiency",
        "",
        "Median over the grid cells:",
        "",
        markdown(wide),
        "",
    ]
    for name, caption in (  # against every row and the no-model baselines (issue 21)
        ("efficiency_shares", "Cells where each row has the lowest MSE (ties split)"),
        ("efficiency_vs_baselines", "Each model against the strongest baseline of its cell"),
        ("efficiency_budget_sweep", "Per step budget: median MSE and shares of cells"),
    ):
        if (run / f"tables/{name}.csv").exists():
            lines += [caption + ":", "", markdown(read_table(run / f"tables/{name}.csv")), ""]
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
            f"MSE of t / MSE of {other} per cell (< 1: t better; median over copies, capped MSE):",
            "",
            markdown(ratio.reset_index(), digits=2),
            "",
        ]
    return lines


def control_section(root: Path) -> list[str]:
    """Every env's control table (``make control``): final scores with their bootstrap
    interval, episodes-to-reach, the paired test against the best model-free method, and the
    env's headroom over its reference controller."""
    lines: list[str] = []
    for path in sorted(root.glob("control/*/control/tables/control.csv")):
        t = read_table(path)
        if t.empty:
            continue
        env = str(t["env"].iloc[0])
        head = t.iloc[0]
        reach = f"{head['reach_target']:.3g}" if "reach_target" in t else "-"
        lines += [
            f"#### control / {env}",
            "",
            f"Best known score {head.get('best_known', float('nan')):.3g}; headroom over the "
            f"reference {head.get('headroom', float('nan')):.3g}; reach = system episodes "
            f"until the true score first reached {reach} (95 % of the best known; median over "
            "seeds, inf = never). Verdicts: paired Wilcoxon against the best model-free method "
            "(Holm-corrected, 5 %); ceilings (mpc_true, model_cma_true) use the true system.",
            "",
        ]
        show = t.assign(
            model=t["model"].fillna(""),
            final=[
                f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
                for m, lo, hi in zip(t["true_mean"], t["true_lo"], t["true_hi"])
            ],
        )
        cols = ["method", "model", "seeds", "episodes", "final", "reach_episodes"]
        cols += ["reach_share", "vs", "p_holm", "verdict", "compute_s"]
        lines += [markdown(show[[c for c in cols if c in show]].fillna("")), ""]
        lines += _tuning_lines(path.with_name("tuning.csv"))
    if lines:
        lines = ["### control", "", *lines]
    return lines


def _tuning_lines(path: Path) -> list[str]:
    """The chosen candidate of every tuned method (``tables/tuning.csv``), if there is one."""
    if not path.exists():
        return []
    t = read_table(path)
    chosen = t[t["chosen"].astype(bool)].assign(
        edge=lambda d: d["edge"].map({True: "yes", False: ""})
    )
    grid = f"{t['kappa'].nunique()} kappa x {t['hidden'].nunique()} widths"
    return [
        f"Tuned on seeds never reported ({grid}, the same grid for every method; mean final "
        "score over the tuning seeds; edge: the largest kappa of the grid was chosen):",
        "",
        markdown(chosen[["method", "model", "kappa", "hidden", "seeds", "mean", "edge"]]),
        "",
    ]


def training_commits(root: Path) -> Counter[str]:
    """How many checkpoints under ``root`` were trained at each git commit (short hashes)."""
    import torch

    found: Counter[str] = Counter()
    paths = [
        *root.glob("sec5*/*/*/models/**/model.pt"),
        *root.glob("benchmark/*/*/models/**/model.pt"),
    ]
    for path in paths:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        commit = json.loads(payload["meta"]).get("git_commit") or "unknown"
        found[commit[:7]] += 1
    return found


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
        f"Written by `make results` (`python -m trajmbrl.reports {root}`) at commit "
        f"{head} from the `tables/*.csv` that `trajmbrl mode=plot` wrote; the models were "
        f"trained at: {trained or 'no checkpoints found'}. Do not edit by hand: "
        "docs/results.md discusses these numbers.",
        "",
    ]


def overview(runs: list[Path]) -> list[str]:
    """The verdict table and the seed spread over every horizon run."""
    lines: list[str] = []
    table = verdict_table(runs)
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
    spread = seed_spread(runs)
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
    return lines


def sections(root: Path) -> list[str]:
    """Every section's tables, run dir by run dir."""
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
                lines += reward_section(run)
            if (run / "tables/efficiency_grid.csv").exists():
                lines += efficiency_section(run)
    return lines


def summary(root: Path, *, with_header: bool) -> list[str]:
    """The page's lines (without the figures) from the tables under the outputs ``root``."""
    horizon_runs = sorted(
        p.parent
        for s in SECTIONS
        for p in (root / s).glob("*/*/tables")
        if (p / "wilcoxon.csv").exists()
    )
    lines = header(root) if with_header else []
    return (
        lines
        + overview(horizon_runs)
        + sections(root)
        + control_section(root)
        + benchmark_section(root)
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split(":", 1)[1].split())  # one line
        raise TrajmbrlError(f"{message} (usage: {usage})")


def main(argv: list[str] | None = None) -> int:
    """``python -m trajmbrl.reports [ROOT] [--out FILE] [--figures DIR]``.

    :returns: 0, or 1 after a one-line error (bad argument, no tables, a table that fails its
        manifest check)."""
    try:
        return _main(argv)
    except TrajmbrlError as exc:
        print(f"trajmbrl: error: {exc}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    ap = _Parser(prog="python -m trajmbrl.reports", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("root", nargs="?", default="outputs", type=Path)
    ap.add_argument("--out", type=Path, help="write here (atomically) instead of stdout")
    ap.add_argument("--figures", type=Path, help="rebuild this directory of published figures")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="write only what ROOT has: drop the blocks and figures of an earlier page that "
        "this run has no outputs for (default: keep them, naming their commit)",
    )
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        raise TrajmbrlError(f"no outputs directory {args.root}; run the experiments first")
    tables = any(next((args.root / s).glob("*/*/tables/*.csv"), None) for s in SECTIONS)
    if not tables and not leaderboard_files(args.root):
        raise TrajmbrlError(
            f"no tables under {args.root}/{{{','.join(SECTIONS)}}}/<env>/<tag>/tables/; "
            "write them with trajmbrl mode=plot experiment=<sec> envs=<env>"
        )
    lines = summary(args.root, with_header=args.out is not None)
    if args.out is not None and args.out.is_file() and not args.fresh:
        lines = merge(args.out.read_text().splitlines(), lines)
    if args.figures:
        written, missing = publish_figures(args.root, args.figures, keep_missing=not args.fresh)
        kept = [n for n in missing if (args.figures / n).is_file()] if not args.fresh else []
        shown = sorted(written + kept)
        lines += ["### Figures", ""] + [f"- ![{n}](figures/{n})" for n in shown] + [""]
        if kept:
            print(
                f"trajmbrl: {len(kept)} published figures have no source under {args.root}: "
                f"kept as they were in {args.figures} (--fresh drops them)",
                file=sys.stderr,
            )
        if len(missing) > len(kept):
            gone = [n for n in missing if n not in kept]
            print(
                f"trajmbrl: warning: {len(gone)} published figures not found under "
                f"{args.root} (left out of {args.figures}): {', '.join(gone)}",
                file=sys.stderr,
            )
    text = "\n".join(lines)
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    else:
        print(text)
    return 0
