"""mode=plot: figures and tables from the CSVs alone (no re-training, no re-evaluation)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.aggregate import collect_metrics, per_run_table
from trajmbrl.modes.common import command, model_keys, models_override
from trajmbrl.plotting.figures import mse_vs_horizon
from trajmbrl.plotting.tables import median_table, uncertainty_table, wilcoxon_table
from trajmbrl.utils.atomic import atomic_write_text

log = logging.getLogger("trajmbrl")

#: trajectory vs one-step comparisons tested for significance
PAIRS = [("t", "d"), ("te", "de"), ("tp", "p"), ("tpe", "pe")]


def run(cfg: DictConfig) -> None:
    """Draw whatever the run directory holds: horizon metrics, efficiency grid, rewards."""
    run_dir = Path(cfg.paths.run_dir)
    drawn = [
        plot_horizon(cfg, run_dir),
        plot_efficiency(cfg, run_dir),
        plot_reward(cfg, run_dir),
    ]
    if not any(drawn):
        raise TrajmbrlError(
            f"Nothing to plot under {run_dir}: no metrics/*.csv, efficiency/ or reward/ CSVs.\n"
            f"  Evaluate first: {command(cfg, 'eval', models_override(model_keys(cfg)))}"
        )


def plot_horizon(cfg: DictConfig, run_dir: Path) -> bool:
    """Median normalised MSE vs horizon figure, median table and Wilcoxon tests."""
    if not sorted((run_dir / "metrics").glob("*.csv")):
        return False
    frame = collect_metrics(run_dir)
    frame["label"] = frame["model"] + frame["action_source"].map(
        lambda s: "" if s in ("direct", "logged") else f" ({s})"
    )
    labelled = frame.assign(model=frame["label"])
    horizons = list(cfg.plot.horizons)
    paths = mse_vs_horizon(
        labelled,
        run_dir / "figures" / "nmse_vs_horizon",
        title=f"{cfg.env.name} ({cfg.data.tag}): normalised MSE vs horizon",
        formats=list(cfg.plot.formats),
    )
    table = median_table(labelled, horizons)
    tests = wilcoxon_table(frame[frame["action_source"].isin(["direct", "logged"])], PAIRS,
                           horizons)
    tables = run_dir / "tables"
    atomic_write_text(tables / "median_nmse.csv", table.to_csv())
    if len(tests):
        atomic_write_text(tables / "wilcoxon.csv", tests.to_csv(index=False))
    atomic_write_text(tables / "runs.csv", per_run_table(frame, horizons).to_csv(index=False))
    calibration = uncertainty_table(labelled, horizons)
    if len(calibration):
        atomic_write_text(tables / "uncertainty.csv", calibration.to_csv())
    fmt = lambda v: f"{v:.3g}"  # noqa: E731
    print(f"\nMedian normalised MSE on held-out test trajectories ({cfg.env.name}, "
          f"{cfg.data.tag}):")
    print(table.reset_index().to_string(index=False, float_format=fmt))
    if len(tests):
        print("\nPaired Wilcoxon signed-rank tests (trajectory vs one-step):")
        print(tests.to_string(index=False, float_format=fmt))
    if len(calibration):
        print("\nUncertainty (median NLL per dim, share of truth within 1 / 2 sigma):")
        print(calibration.reset_index().to_string(index=False, float_format=fmt))
    print("\nFigure: " + ", ".join(str(p) for p in paths))
    return True


def plot_efficiency(cfg: DictConfig, run_dir: Path) -> bool:
    """Heat-maps of the 5.4 grid: mean over test trajectories, median over copies."""
    from trajmbrl.evaluation.efficiency import aggregate_grid
    from trajmbrl.modes.eval_efficiency import efficiency_csv
    from trajmbrl.plotting.heatmaps import efficiency_heatmaps

    path = efficiency_csv(cfg)
    if not path.exists():
        return False
    agg = aggregate_grid(pd.read_csv(path, comment="#"))
    atomic_write_text(run_dir / "tables" / "efficiency_grid.csv", agg.to_csv(index=False))
    paths = efficiency_heatmaps(agg, run_dir / "figures", list(cfg.plot.formats))
    wide = agg.pivot_table(index=["num_traj", "t_range"], columns=["metric", "model"],
                           values="value")
    print(f"\nData efficiency ({cfg.env.name}): mean over test trajectories, median over copies")
    print(wide.to_string(float_format=lambda v: f"{v:.3g}"))
    print("\nFigures: " + ", ".join(str(p) for p in paths))
    return True


def plot_reward(cfg: DictConfig, run_dir: Path) -> bool:
    """Predicted vs true returns (5.5), if the reward task was evaluated."""
    path = run_dir / "reward" / "returns.csv"
    if not path.exists():
        return False
    from trajmbrl.modes.eval_reward import reward_outputs

    reward_outputs(cfg, pd.read_csv(path, comment="#"), run_dir)
    return True
