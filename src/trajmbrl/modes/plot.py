"""mode=plot: figures and tables from the CSVs alone (no re-training, no re-evaluation)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from trajmbrl.artifacts.layout import Layout
from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.aggregate import collect_metrics
from trajmbrl.evaluation.diagnostics import diagnostic_files, per_dim_table
from trajmbrl.evaluation.metrics import table_horizons
from trajmbrl.evaluation.stats import label_rows, sort_key
from trajmbrl.evaluation.stats import model_keys as trained_keys
from trajmbrl.modes.artifacts import current_dataset_sha256, layout, read_result
from trajmbrl.modes.console import command, common_start_outputs, reward_outputs
from trajmbrl.modes.settings import model_keys, models_override
from trajmbrl.plotting.figures import horizon_figure
from trajmbrl.reports.comparisons import comparison_table
from trajmbrl.reports.tables import (
    divergence_stats,
    fmt_value,
    horizon_stats,
    runs_table,
    uncertainty_table,
    wide_table,
    with_skill,
)
from trajmbrl.utils.atomic import atomic_write_text
from trajmbrl.utils.format import fmt_number
from trajmbrl.utils.locks import artifact_lock

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Draw whatever the run directory holds: horizon metrics, efficiency grid, rewards."""
    files = layout(cfg)
    run_dir = files.run_dir
    with artifact_lock(files.report_lock(), f"the tables and figures of {run_dir}"):
        drawn = [
            plot_horizon(cfg, run_dir),
            plot_efficiency(cfg, files),
            plot_reward(cfg, files),
        ]
        if any(drawn):
            record_tables(cfg, files, drawn)
    if not any(drawn):
        raise TrajmbrlError(
            f"Nothing to plot under {run_dir}: no metrics/*.csv, efficiency/ or reward/ CSVs.\n"
            f"  Evaluate first: {command(cfg, 'eval', models_override(model_keys(cfg)))}"
        )


#: the tables each part of mode=plot writes (some only when non-empty) and what they read
HORIZON_TABLES = (
    "horizon_stats",
    "median_nmse",
    "runs",
    "skill",
    "wilcoxon",
    "uncertainty",
    "per_dim",
)
#: 5.5 from a common start: the per-trajectory rankings next to reward/returns.csv
COMMON_START = "common_start.csv"
EFFICIENCY_TABLES = (
    "efficiency_shares",
    "efficiency_vs_baselines",
    "efficiency_strongest_baseline",
    "efficiency_budget_sweep",
    "efficiency_own_budget",
)


def record_tables(cfg: DictConfig, files: Layout, drawn: list[bool]) -> None:
    """``tables/MANIFEST.json``: the hash record of the tables just written (horizon,
    efficiency, reward, as ``drawn`` says) and of the result CSVs they were made from."""
    tables: list[Path] = []
    sources: list[Path] = []
    if drawn[0]:
        tables += [files.table(n) for n in HORIZON_TABLES if files.table(n).exists()]
        sources += sorted(files.metrics_dir.glob("*.csv"))
        sources += diagnostic_files(files, "per_dim")
    if drawn[1]:
        tables.append(files.table("efficiency_grid"))
        tables += [files.table(n) for n in EFFICIENCY_TABLES if files.table(n).exists()]
        sources.append(files.efficiency_csv())
    if drawn[2]:
        tables.append(files.table("reward"))
        sources.append(files.reward_csv())
        if files.table("reward_common_start").exists():
            tables.append(files.table("reward_common_start"))
            sources.append(files.reward_csv().parent / COMMON_START)
    write_manifest(
        files.run_dir / "tables",
        tables,
        run_dir=files.run_dir,
        sources=sources,
        dataset_sha256=current_dataset_sha256(cfg),
    )


def plot_horizon(cfg: DictConfig, run_dir: Path) -> bool:
    """nMSE and skill vs horizon figures, seed-aggregated tables, Wilcoxon + Holm tests."""
    if not sorted(layout(cfg).metrics_dir.glob("*.csv")):
        return False
    frame = label_rows(collect_metrics(run_dir, dataset_sha256=current_dataset_sha256(cfg)))
    rows = figure_rows(cfg, run_dir, frame)
    scored = with_skill(frame)
    hs = table_horizons(scored[scored["metric"] == "nmse"], list(cfg.plot.horizons))
    stats = horizon_stats(scored, hs)
    nmse_table = wide_table(stats, "nmse", divergence_stats(frame))
    skill_table = wide_table(stats, "skill")
    tests = comparison_table(scored[scored["metric"] == "nmse"], stats, hs)
    calibration = uncertainty_table(frame, hs)
    files = layout(cfg)
    atomic_write_text(files.table("horizon_stats"), stats.to_csv(index=False))
    atomic_write_text(files.table("median_nmse"), nmse_table.to_csv(index=False))
    atomic_write_text(files.table("runs"), runs_table(scored, hs).to_csv(index=False))
    for name, table in (
        ("skill", skill_table),
        ("wilcoxon", tests),
        ("uncertainty", calibration.reset_index()),
    ):
        if len(table):
            atomic_write_text(files.table(name), table.to_csv(index=False))
    paths = horizon_figures(cfg, run_dir, scored, rows)
    paths += plot_diagnostics(cfg, files, rows)
    where = f"{cfg.env.name}, {cfg.data.tag}"
    print(
        f"\nMedian normalised MSE on held-out test trajectories ({where}); with several "
        "seeds: median over seeds [min, max across seeds]:"
    )
    print(nmse_table.to_string(index=False))
    if len(skill_table):
        print("\nSkill = nMSE / hmean nMSE on the same trajectory (< 1 beats no model):")
        print(skill_table.to_string(index=False))
    if len(tests):
        print(
            "\nPaired Wilcoxon signed-rank tests on per-trajectory errors averaged over seeds "
            "(p_holm: Holm over the horizons of each comparison):"
        )
        print(format_tests(tests).to_string(index=False))
    if len(calibration):
        print(
            "\nUncertainty (median NLL per dim, share of truth within 1 / 2 sigma; median over "
            "seeds):"
        )
        print(calibration.reset_index().to_string(index=False, float_format=_fmt))
    print("\nFigures: " + ", ".join(str(p) for p in paths))
    return True


def _fmt(v: float) -> str:
    return fmt_number(v, infinite_only=True)  # p-values, calibration: no error ceiling


def format_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """The comparison table for printing: ceilings marked, p-values with 3 digits."""
    out = tests.drop(columns=["a", "variant"] if tests["variant"].nunique() == 1 else ["a"])
    out = out.rename(columns={"b": "vs (at h)"})
    for col in ("median_a", "median_b"):
        out[col] = out[col].map(fmt_value)
    for col in ("p_value", "p_holm"):
        out[col] = out[col].map(_fmt)
    return out


def figure_rows(cfg: DictConfig, run_dir: Path, frame: pd.DataFrame) -> list[str] | None:
    """The ``plot.rows`` labels (None = every row); each must name a row of ``frame``."""
    rows = cfg.plot.get("rows")
    if rows is None:
        return None
    rows = [str(r) for r in rows]
    missing = [r for r in rows if r not in set(frame["row"])]
    if missing:
        raise TrajmbrlError(
            f"plot.rows names {missing}, which {run_dir}/metrics does not hold; rows there: "
            f"{sorted(set(frame['row']))}"
        )
    return rows


def horizon_figures(
    cfg: DictConfig, run_dir: Path, scored: pd.DataFrame, rows: list[str] | None
) -> list[Path]:
    """figures/nmse_vs_horizon and (with hmean) figures/skill_vs_horizon of ``rows``."""
    where = f"{cfg.env.name} ({cfg.data.tag})"
    formats = list(cfg.plot.formats)
    paths = horizon_figure(
        scored,
        layout(cfg).figure("nmse_vs_horizon"),
        rows=rows,
        title=f"{where}: normalised MSE vs horizon",
        formats=formats,
    )
    if (scored["metric"] == "skill").any():
        paths += horizon_figure(
            scored,
            layout(cfg).figure("skill_vs_horizon"),
            metric="skill",
            rows=rows,
            reference=1.0,
            ylabel="skill = nMSE / hmean nMSE",
            formats=formats,
            title=f"{where}: skill vs horizon (below 1 beats hmean)",
        )
    return paths


def read_diagnostics(cfg: DictConfig, files: Layout, kind: str) -> pd.DataFrame:
    """Every current ``kind`` diagnostics CSV of this run, checked, in one frame (empty if none)."""
    hint = f"Evaluate again: {command(cfg, 'eval', 'overwrite=true')}"
    frames = [read_result(cfg, p, hint) for p in diagnostic_files(files, kind)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_diagnostics(cfg: DictConfig, files: Layout, rows: list[str] | None) -> list[Path]:
    """tables/per_dim.csv, figures/nmse_per_dim and figures/pred_vs_true_<key> (``rows``: the
    ``plot.rows`` selection, None = every row). :returns: the figures written."""
    from trajmbrl.plotting.diagnostics import per_dim_figure, prediction_figure

    formats, where = list(cfg.plot.formats), f"{cfg.env.name} ({cfg.data.tag})"
    paths: list[Path] = []
    per_dim = read_diagnostics(cfg, files, "per_dim")
    if len(per_dim):
        table = per_dim_table(per_dim)
        if rows is not None:
            table = table[table["row"].isin(rows)]
        atomic_write_text(files.table("per_dim"), table.to_csv(index=False))
        order = rows if rows is not None else list(dict.fromkeys(table["row"]))
        paths += per_dim_figure(
            table,
            files.figure("nmse_per_dim"),
            rows=order,
            title=f"{where}: median normalised MSE per state dimension",
            formats=formats,
        )
    samples = read_diagnostics(cfg, files, "sample")
    if len(samples):
        samples = label_rows(samples)
        for key in [k for k in trained_keys() if k in set(samples["model"])]:
            mine = samples[samples["model"] == key]
            if rows is not None:
                mine = mine[mine["row"].isin(rows)]
            if mine.empty:
                continue
            variant = str(cfg.train.variant)
            if variant not in set(mine["variant"]):
                variant = sorted(set(mine["variant"]))[0]
            mine = mine[mine["variant"] == variant]
            seeds = set(mine["seed"])
            seed = int(cfg.seed) if int(cfg.seed) in seeds else min(seeds)
            mine = mine[mine["seed"] == seed]
            by_source = {
                s: g
                for s, g in sorted(
                    mine.groupby("action_source"), key=lambda item: sort_key(key, item[0])
                )
            }
            paths += prediction_figure(
                by_source,
                files.figure(f"pred_vs_true_{key}"),
                model=key,
                title=f"{where}: {key} predicted vs true (seed {seed}, {variant})",
                formats=formats,
            )
    return paths


def plot_efficiency(cfg: DictConfig, files: Layout) -> bool:
    """Heat-maps of the 5.4 grid: mean over test trajectories, median over copies (from a
    scores CSV that is intact and, when the dataset is here, computed on it)."""
    from trajmbrl.evaluation.efficiency import aggregate_grid
    from trajmbrl.plotting.heatmaps import budget_figure, efficiency_heatmaps
    from trajmbrl.reports.efficiency import (
        STRONGEST,
        budget_sweep,
        lowest_mse_shares,
        own_budget_steps,
        strongest_baseline,
        versus_baselines,
        with_strongest,
    )

    path = files.efficiency_csv()
    if not path.exists():
        return False
    hint = f"Score it again: {command(cfg, 'eval', 'eval.task=efficiency')}"
    scores = read_result(cfg, path, hint)
    agg = aggregate_grid(scores)
    atomic_write_text(files.table("efficiency_grid"), agg.to_csv(index=False))
    shares, versus = lowest_mse_shares(agg), versus_baselines(agg)
    atomic_write_text(files.table("efficiency_shares"), shares.to_csv(index=False))
    ratios = [("t", "d"), ("t", "d (closed loop)")]
    if len(versus):  # the grid has baseline rows: each model over the cell's strongest one
        atomic_write_text(files.table("efficiency_vs_baselines"), versus.to_csv(index=False))
        best = strongest_baseline(agg)
        atomic_write_text(files.table("efficiency_strongest_baseline"), best.to_csv(index=False))
        ratios += [(str(m), STRONGEST) for m in versus["model"] if " @" not in str(m)]
    else:  # no stale baseline tables from an earlier evaluation
        for name in ("efficiency_vs_baselines", "efficiency_strongest_baseline"):
            files.table(name).unlink(missing_ok=True)
    paths = efficiency_heatmaps(
        with_strongest(agg),
        files.figures_dir,
        list(cfg.plot.formats),
        ratios=ratios,
        reference_rows=[STRONGEST, *(m for m in agg["model"].unique() if " @" in str(m))],
    )
    wide = agg.pivot_table(
        index=["num_traj", "t_range"], columns=["metric", "model"], values="value"
    )
    print(f"\nData efficiency ({cfg.env.name}): mean over test trajectories, median over copies")
    print(wide.to_string(float_format=fmt_number))
    sweep = budget_sweep(agg, cfg.train.steps)
    chosen = own_budget_steps(scores)
    for name, table in (("efficiency_budget_sweep", sweep), ("efficiency_own_budget", chosen)):
        if len(table):
            atomic_write_text(files.table(name), table.to_csv(index=False))
        else:
            files.table(name).unlink(missing_ok=True)
    if len(sweep):
        stem = files.figure("efficiency_budget_sweep")
        paths += budget_figure(sweep, stem, list(cfg.plot.formats))
        print("\nBudget sweep: median MSE over cells and shares of cells, per step budget:")
        print(sweep.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nCells where each row has the lowest MSE (ties split):")
    print(shares.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if len(versus):
        print("\nEach model against the strongest baseline of its cell (MSE ratio < 1: better):")
        print(versus.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nFigures: " + ", ".join(str(p) for p in paths))
    return True


def plot_reward(cfg: DictConfig, files: Layout) -> bool:
    """Predicted vs true returns (5.5), if the reward task was evaluated (checked as 5.4's)."""
    path = files.reward_csv()
    if not path.exists():
        return False
    hint = f"Predict them again: {command(cfg, 'eval', 'eval.task=reward')}"
    reward_outputs(cfg, read_result(cfg, path, hint), files.run_dir)
    common = path.parent / COMMON_START
    if common.exists():  # 5.5 from a common start (env.common_start)
        common_start_outputs(cfg, read_result(cfg, common, hint), files.run_dir)
    else:
        files.table("reward_common_start").unlink(missing_ok=True)
    return True
