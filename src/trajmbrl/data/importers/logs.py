"""Importing any robot's CSV/Parquet log described by a :class:`LogColumns` mapping."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trajmbrl.data.importers.dataset import build_dataset
from trajmbrl.data.importers.episodes import episodes_from_table
from trajmbrl.data.importers.tables import LogColumns, read_table
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.utils.atomic import sha256_file

log = logging.getLogger("trajmbrl")


def import_logs(
    path: Path,
    columns: LogColumns,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_length: int = 2,
    allow_outliers: bool = False,
) -> tuple[TrajectoryData, dict[str, Any]]:
    """Import a user's CSV/Parquet log. :returns: the dataset and manifest fields for it."""
    path = Path(path)
    df = read_table(path)
    states, actions, theta, report = episodes_from_table(
        df,
        columns,
        min_length=min_length,
        source=f"Log file {path}",
        allow_outliers=allow_outliers,
    )
    log.info(
        "Imported %d of %d episodes from %s; %d dropped as shorter than min_length=%d rows",
        report["episodes_kept"],
        report["episodes_found"],
        path,
        report["episodes_dropped_too_short"],
        min_length,
    )
    data = build_dataset(states, actions, theta, test_fraction=test_fraction, seed=seed)
    manifest = {
        "data_mode": "imported",
        "source": str(path.resolve()),
        "source_sha256": sha256_file(path),
        "columns": asdict(columns),
        "state_names": list(columns.state),
        "action_names": list(columns.action),
        "param_names": list(columns.theta),
        "rewards": "not logged: 0 on valid steps",
        "split_seed": seed,
        "test_fraction": test_fraction,
        "import_report": report,
    }
    return data, manifest
