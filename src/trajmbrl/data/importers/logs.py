"""Importing any robot's CSV/Parquet log described by a :class:`LogColumns` mapping."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trajmbrl.controllers.declared import action_mismatch, declared_sampler, describe_declared
from trajmbrl.data.importers.dataset import build_dataset
from trajmbrl.data.importers.episodes import episode_table
from trajmbrl.data.importers.tables import LogColumns, read_table
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.utils.atomic import sha256_file

log = logging.getLogger("trajmbrl")
#: a declared controller whose actions differ from the logged ones by more than this share of
#: their standard deviation (RMS) is reported as a warning at import
MISMATCH_WARN = 0.05


def import_logs(
    path: Path,
    columns: LogColumns,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_length: int = 2,
    allow_outliers: bool = False,
    controller: Mapping[str, Any] | None = None,
) -> tuple[TrajectoryData, dict[str, Any]]:
    """Import a user's CSV/Parquet log. :returns: the dataset and manifest fields for it.

    :param controller: the declaration of the controller that produced the logs
        (:mod:`trajmbrl.controllers.declared`; None or empty: unknown); checked against the
        columns and recorded in the manifest with how well it reproduces the logged actions.
    """
    path = Path(path)
    df = read_table(path)
    states, actions, theta, rewards, report = episode_table(
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
    data = build_dataset(
        states, actions, theta, test_fraction=test_fraction, seed=seed, rewards_list=rewards
    )
    sampler = declared_sampler(
        controller,
        param_names=columns.theta,
        state_names=columns.state,
        action_dim=len(columns.action),
    )
    manifest: dict[str, Any] = {
        "data_mode": "imported",
        "source": str(path.resolve()),
        "source_sha256": sha256_file(path),
        "columns": asdict(columns),
        "state_names": list(columns.state),
        "action_names": list(columns.action),
        "param_names": list(columns.theta),
        "rewards": (
            "not logged: 0 on valid steps"
            if columns.reward is None
            else f"column {columns.reward!r}: row k's reward for applying a_k at s_k"
        ),
        "split_seed": seed,
        "test_fraction": test_fraction,
        "import_report": report,
    }
    if sampler is not None and controller is not None:
        mismatch = action_mismatch(sampler, data.states, data.actions, data.params, data.lengths)
        manifest["controller"] = {
            **describe_declared(sampler, controller),
            "action_mismatch": round(mismatch, 6),
        }
        level = logging.WARNING if mismatch > MISMATCH_WARN else logging.INFO
        log.log(
            level,
            "Declared controller vs logged actions: RMS difference %.3g action std%s",
            mismatch,
            "; is it the controller that produced these logs?" if mismatch > MISMATCH_WARN else "",
        )
    return data, manifest
