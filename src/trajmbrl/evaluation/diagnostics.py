"""Diagnostics beside the horizon metrics: the error of every state dimension, and a sample of
predicted and true trajectories (for the predicted-vs-true figure).

One number per trajectory (the mean over dimensions of :func:`.metrics.normalised_mse`) hides
which dimensions fail; :func:`per_dimension_errors` keeps them apart, in the same
range-normalised units, per horizon band (:data:`BANDS`). :func:`prediction_sample` keeps the
predicted and true states of the first few test trajectories, every dimension, as a tidy frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trajmbrl.artifacts.layout import Layout
from trajmbrl.evaluation.metrics import DIVERGENCE_THRESHOLD, ERROR_CEILING
from trajmbrl.evaluation.stats import label_rows, protocol_name, sort_key
from trajmbrl.utils.hashed_csv import read_header
from trajmbrl.utils.schema_check import check_settings, setting

log = logging.getLogger(__name__)

#: horizon bands of the per-dimension errors: (name, lowest h, highest h), inclusive (the
#: one-step error, then the verdict table's bands)
BANDS: tuple[tuple[str, int, int], ...] = (
    ("h = 1", 1, 1),
    ("1 < h <= 10", 2, 10),
    ("10 < h <= 100", 11, 100),
    ("h > 100", 101, 10**9),
)
#: the columns of :func:`per_dimension_errors`
PER_DIM_COLUMNS = ["band", "h_lo", "h_hi", "dim", "state", "median", "mean", "diverged", "n"]
#: the keys of one :func:`per_dim_table` row (a row label, a band, a dimension)
_PER_DIM_KEYS = ["row", "model", "action_source", "variant", "band", "h_lo", "h_hi", "dim"]
#: the columns of :func:`prediction_sample`
SAMPLE_COLUMNS = ["traj", "horizon", "dim", "state", "true", "pred"]


@dataclass
class DiagnosticSettings:
    """What the evaluation stores for the diagnostics (the CLI's ``eval.sample_traj``)."""

    sample_traj: int = setting(
        3,
        "test trajectories whose predicted and true states are stored for the "
        "predicted-vs-true figure (0: none)",
        ge=0,
    )

    def __post_init__(self) -> None:
        check_settings(self)


def state_names(names: Sequence[str] | None, dim: int) -> list[str]:
    """The ``dim`` state names (``s0``, ``s1``, ... where the dataset names none)."""
    names = list(names or [])
    return names if len(names) == dim else [f"s{i}" for i in range(dim)]


def per_dimension_errors(
    true: np.ndarray,
    pred: np.ndarray,
    state_min: np.ndarray,
    state_max: np.ndarray,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Range-normalised squared error of every state dimension, per horizon band.

    Per trajectory the error of a dimension is averaged over the band's horizons (those with
    ground truth); a non-finite prediction makes it ``inf``. Then over trajectories: the
    ``median`` and ``mean`` (both with diverged values at the error ceiling), the ``diverged``
    share (non-finite or above the divergence threshold) and ``n`` trajectories.

    :param true: (N, H, ds) ground truth, NaN where a trajectory has ended.
    :param pred: (N, H, ds) predictions (may hold NaN/inf).
    :param names: (ds,) state names (default ``s<i>``).
    :returns: one row per (band, dim) with :data:`PER_DIM_COLUMNS`; bands beyond H are left out.
    """
    n, h, ds = true.shape
    span = np.where(state_max - state_min > 1e-12, state_max - state_min, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        err = ((pred - true) / span) ** 2  # (N, H, ds)
    err = np.where(np.isnan(true), np.nan, np.where(np.isfinite(err), err, np.inf))
    labels = state_names(names, ds)
    rows = []
    for band, lo, hi in BANDS:
        if lo > h:
            break
        part = err[:, lo - 1 : min(hi, h)]  # (N, B, ds)
        seen = ~np.isnan(part)
        with np.errstate(invalid="ignore"):
            total = np.where(seen, part, 0.0).sum(axis=1)
        count = seen.sum(axis=1)  # (N, ds)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_traj = np.where(count > 0, total / np.maximum(count, 1), np.nan)  # (N, ds)
        for d in range(ds):
            v = per_traj[:, d]
            v = v[~np.isnan(v)]
            if not len(v):
                continue
            capped = np.minimum(v, ERROR_CEILING)
            rows.append(
                {
                    "band": band,
                    "h_lo": lo,
                    "h_hi": min(hi, h),
                    "dim": d,
                    "state": labels[d],
                    "median": float(np.median(capped)),
                    "mean": float(capped.mean()),
                    "diverged": float((~np.isfinite(v) | (v > DIVERGENCE_THRESHOLD)).mean()),
                    "n": len(v),
                }
            )
    return pd.DataFrame(rows, columns=PER_DIM_COLUMNS)


def prediction_sample(
    true: np.ndarray, pred: np.ndarray, k: int, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """The predicted and true states of the first ``k`` trajectories, every dimension.

    :param true: (N, H + 1, ds) true states from s_0 (NaN after a trajectory's end).
    :param pred: (N, H, ds) predicted s_1..s_H.
    :returns: tidy rows :data:`SAMPLE_COLUMNS` (horizon 0: s_0, predicted = true); steps without
        ground truth are left out; non-finite predictions stay as they are.
    """
    k = min(int(k), true.shape[0])
    if k <= 0:
        return pd.DataFrame(columns=SAMPLE_COLUMNS)
    n_h, ds = pred.shape[1], pred.shape[2]
    full = np.concatenate([true[:k, :1], pred[:k]], axis=1)  # (k, H + 1, ds)
    truth = true[:k, : n_h + 1]
    labels = state_names(names, ds)
    traj, hor, dim = np.meshgrid(np.arange(k), np.arange(n_h + 1), np.arange(ds), indexing="ij")
    frame = pd.DataFrame(
        {
            "traj": traj.ravel(),
            "horizon": hor.ravel(),
            "dim": dim.ravel(),
            "state": np.asarray(labels, dtype=object)[dim.ravel()],
            "true": truth.ravel(),
            "pred": full.ravel(),
        }
    )
    return frame[~frame["true"].isna()].reset_index(drop=True)


def diagnostic_files(files: Layout, kind: str) -> list[Path]:
    """The ``diagnostics/<kind>__*.csv`` written with the metrics CSV beside them (same name
    and fingerprint); others (left from an evaluation since replaced) are skipped, logged."""
    out = []
    for path in sorted(files.diagnostics_dir.glob(f"{kind}__*.csv")):
        metrics = files.metrics_dir / path.name.removeprefix(f"{kind}__")
        mine = read_header(path).get("config_hash")
        if not metrics.exists() or read_header(metrics).get("config_hash") != mine:
            log.info("Skipping %s: not written with a current metrics CSV.", path)
            continue
        out.append(path)
    return out


def per_dim_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (row, band, dimension): the median over seeds of each seed's median normalised MSE
    over test trajectories, its min and max across seeds, the median diverged share."""
    labelled = label_rows(frame)
    grouped = labelled.groupby([*_PER_DIM_KEYS, "state"], sort=False)
    table = grouped.agg(
        median=("median", "median"),
        min=("median", "min"),
        max=("median", "max"),
        diverged=("diverged", "median"),
        n_seeds=("seed", "nunique"),
    ).reset_index()
    order = sorted(
        range(len(table)),
        key=lambda i: (
            sort_key(table.at[i, "model"], table.at[i, "action_source"]),
            str(table.at[i, "variant"]),
            int(table.at[i, "h_lo"]),
            int(table.at[i, "dim"]),
        ),
    )
    table = table.iloc[order].reset_index(drop=True)
    table.insert(2, "protocol", table.pop("action_source").map(lambda s: protocol_name(s) or s))
    return table
