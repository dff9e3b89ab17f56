"""Aggregate the metrics CSVs of a whole sweep (any launcher) into one tidy table.

Every ``mode=eval`` run writes ``<run_dir>/metrics/<model>__<variant>__seed=<s>__<source>.csv``
with ``run_dir = outputs/<experiment>/<env>/<data tag>``. :func:`collect_metrics` walks a tree
(``outputs/``, ``outputs/<experiment>/`` or one run dir) and concatenates them, keyed by the
sweep's axes. From a shell::

    python -m trajmbrl.evaluation.aggregate outputs/smoke [--out table.csv] [--horizons 1 10 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from trajmbrl.artifacts.layout import METRICS, experiment_of
from trajmbrl.data.pairs import parse_variant
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import median_table
from trajmbrl.utils.atomic import atomic_write_text
from trajmbrl.utils.format import fmt_columns
from trajmbrl.utils.hashed_csv import read_hashed_csv

#: the key columns of the aggregated table, in order; one row per (keys, traj, horizon, metric)
KEYS = [
    "experiment",
    "env",
    "data",
    "model",
    "variant",
    "num_traj",
    "t_range",
    "seed",
    "action_source",
]
#: columns every metrics CSV must have (written by ``evaluation.metrics.tidy_errors``)
REQUIRED = [
    "env",
    "data",
    "model",
    "variant",
    "seed",
    "action_source",
    "traj",
    "horizon",
    "metric",
    "value",
]


def metric_files(root: Path) -> list[Path]:
    """Every ``metrics/*.csv`` under ``root`` (sorted; hidden dirs such as .submitit skipped)."""
    root = Path(root)
    return sorted(
        f
        for f in root.rglob("*.csv")
        if f.parent.name == METRICS
        and not any(p.startswith(".") for p in f.relative_to(root).parts)
    )


def collect_metrics(root: Path, *, dataset_sha256: str | None = None) -> pd.DataFrame:
    """Concatenate every metrics CSV under ``root`` into one tidy frame.

    :returns: columns :data:`KEYS` + ``traj, horizon, metric, value``; ``num_traj`` / ``t_range``
        are nullable integers (<NA> = all), ``experiment`` is the directory two levels above the
        run dir (``outputs/<experiment>/<env>/<tag>/metrics/``).
    :param dataset_sha256: when given, every CSV must have been computed on this dataset.
    :raises TrajmbrlError: no CSVs under ``root``, a CSV without the expected columns, a
        truncated or edited CSV (row count and content hash), or one of another dataset.
    """
    root = Path(root)
    files = metric_files(root)
    if not files:
        raise TrajmbrlError(
            f"No metrics CSVs under {root}\n  Evaluate first: trajmbrl mode=eval models=[d,t]"
        )
    frames = []
    for path in files:
        frame = read_hashed_csv(
            path,
            expect={"dataset": dataset_sha256},
            hint="Evaluate again: trajmbrl mode=eval ... overwrite=true",
        )
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise TrajmbrlError(f"{path} is not a metrics CSV (missing columns {missing})")
        experiment = experiment_of(path)  # <experiment>/<env>/<data tag>/metrics/<file>.csv
        parsed = [parse_variant(v) for v in frame["variant"]]
        frame = frame.assign(
            experiment=experiment,
            num_traj=pd.array([n for n, _ in parsed], dtype="Int64"),
            t_range=pd.array([t for _, t in parsed], dtype="Int64"),
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    rest = [c for c in table.columns if c not in KEYS]
    table = table[KEYS + rest]
    table["experiment"] = table["experiment"].astype("string")
    table["seed"] = table["seed"].astype(int)
    order = KEYS + ["metric", "traj", "horizon"]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def per_run_table(frame: pd.DataFrame, horizons: list[int]) -> pd.DataFrame:
    """One row per (experiment, env, data, model, variant, seed, action source).

    :returns: median normalised MSE over test trajectories at each horizon (``h=<k>``, clipped to
        the data) and the share of diverged trajectories, indexed by :data:`KEYS`.
    """
    keyed = frame.assign(
        num_traj=frame["num_traj"].astype("string").fillna("all"),
        t_range=frame["t_range"].astype("string").fillna("all"),
    )
    return median_table(keyed, horizons, by=tuple(KEYS))


def main(argv: list[str] | None = None) -> int:
    """``python -m trajmbrl.evaluation.aggregate ROOT``: print (and optionally save) the table."""
    parser = argparse.ArgumentParser(
        prog="python -m trajmbrl.evaluation.aggregate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("root", type=Path, help="directory tree holding metrics/*.csv")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 10, 50, 100, 200, 500])
    parser.add_argument("--out", type=Path, help="write the per-run table to this CSV")
    args = parser.parse_args(argv)
    try:
        table = per_run_table(collect_metrics(args.root), args.horizons)
    except TrajmbrlError as exc:
        print(f"trajmbrl: error: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        atomic_write_text(args.out, table.to_csv())
    print(fmt_columns(table.reset_index(), shares=["diverged"]).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
