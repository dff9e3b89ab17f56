"""mode=plot: figures and tables from the metrics CSVs alone (no re-training)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from trajmbrl.errors import TrajmbrlError
from trajmbrl.plotting.figures import mse_vs_horizon
from trajmbrl.plotting.tables import median_table, wilcoxon_table
from trajmbrl.utils.atomic import atomic_write_text

log = logging.getLogger("trajmbrl")

#: trajectory vs one-step comparisons tested for significance
PAIRS = [("t", "d"), ("te", "de"), ("tp", "p"), ("tpe", "pe")]


def run(cfg: DictConfig) -> None:
    """Read every ``metrics/*.csv`` of the run directory; write the figure and tables."""
    run_dir = Path(cfg.paths.run_dir)
    files = sorted((run_dir / "metrics").glob("*.csv"))
    if not files:
        raise TrajmbrlError(
            f"No metrics under {run_dir / 'metrics'}\n  Evaluate first: trajmbrl mode=eval "
            f"envs={cfg.env.name} eval.models=[...]"
        )
    frame = pd.concat([pd.read_csv(f, comment="#") for f in files], ignore_index=True)
    frame["label"] = frame["model"] + frame["action_source"].map(
        lambda s: "" if s in ("direct", "logged") else f" ({s})"
    )
    horizons = list(cfg.plot.horizons)
    figures = run_dir / "figures"
    paths = mse_vs_horizon(
        frame.assign(model=frame["label"]),
        figures / "nmse_vs_horizon",
        title=f"{cfg.env.name} ({cfg.data.tag}): normalised MSE vs horizon",
        formats=list(cfg.plot.formats),
    )
    table = median_table(frame.assign(model=frame["label"]), horizons)
    tests = wilcoxon_table(frame, PAIRS, horizons)
    tables = run_dir / "tables"
    atomic_write_text(tables / "median_nmse.csv", table.to_csv())
    if len(tests):
        atomic_write_text(tables / "wilcoxon.csv", tests.to_csv(index=False))
    print(f"\nMedian normalised MSE on held-out test trajectories ({cfg.env.name}, "
          f"{cfg.data.tag}):")
    print(table.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if len(tests):
        print("\nPaired Wilcoxon signed-rank tests (trajectory vs one-step):")
        print(tests.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nFigure: " + ", ".join(str(p) for p in paths))
    log.info("Wrote %s and tables under %s", ", ".join(map(str, paths)), tables)
