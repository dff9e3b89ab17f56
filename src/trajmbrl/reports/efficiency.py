"""Section 5.4 tables against every row: who has the lowest MSE in how many cells, and each
model against the strongest no-model / linear baseline of its cell.

Both read :func:`trajmbrl.evaluation.efficiency.aggregate_grid` output (one value per
``model, num_traj, t_range, metric``: mean over test trajectories, median over copies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.efficiency import CELL_BASELINES

#: the model label of the per-cell minimum over the baselines (figures, tables)
STRONGEST = "strongest baseline"
CELL = ["num_traj", "t_range"]


def _is_baseline(row: str) -> bool:
    """``hmean``, ``lin (closed loop)``, ... are baselines; model keys are not."""
    return row.split(" ")[0] in CELL_BASELINES


def _mse(agg: pd.DataFrame) -> pd.DataFrame:
    """(cells, rows) MSE matrix, index ``(num_traj, t_range)``, one column per row."""
    need = {"model", "metric", "value", *CELL}
    if not need <= set(agg.columns):
        raise TrajmbrlError(f"aggregated efficiency frame lacks {sorted(need - set(agg.columns))}")
    mse = agg[agg["metric"] == "mse"]
    if mse.empty:
        raise TrajmbrlError("aggregated efficiency frame has no mse rows")
    return mse.pivot_table(index=CELL, columns="model", values="value", aggfunc="first")


def lowest_mse_shares(agg: pd.DataFrame) -> pd.DataFrame:
    """Per row (models and baselines): the cells where it has the lowest MSE of every row.

    A cell where k rows tie at the minimum gives each ``1/k``. Only cells where every row has
    a value count (``n_cells``).

    :returns: columns ``row, kind (model | baseline), cells_won, share, n_cells``, by share
    """
    wide = _mse(agg).dropna()
    if wide.empty:
        raise TrajmbrlError("no grid cell has an MSE for every row")
    best = wide.to_numpy().min(axis=1, keepdims=True)
    ties = np.isclose(wide.to_numpy(), best, rtol=1e-12, atol=0.0)
    won = (ties / ties.sum(axis=1, keepdims=True)).sum(axis=0)
    out = pd.DataFrame(
        {
            "row": list(wide.columns),
            "kind": ["baseline" if _is_baseline(str(c)) else "model" for c in wide.columns],
            "cells_won": won,
            "share": won / len(wide),
            "n_cells": len(wide),
        }
    )
    return out.sort_values(["share", "row"], ascending=[False, True]).reset_index(drop=True)


def strongest_baseline(agg: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the lowest baseline MSE and which baseline it is.

    :returns: columns ``num_traj, t_range, value, baseline``; empty without baseline rows
    """
    wide = _mse(agg)
    cols = [c for c in wide.columns if _is_baseline(str(c))]
    if not cols:
        return pd.DataFrame(columns=[*CELL, "value", "baseline"])
    sub = wide[cols].dropna()
    out = pd.DataFrame({"value": sub.min(axis=1), "baseline": sub.idxmin(axis=1)})
    return out.reset_index()


def with_strongest(agg: pd.DataFrame) -> pd.DataFrame:
    """``agg`` plus an mse row per cell for :data:`STRONGEST` (for the ratio maps)."""
    best = strongest_baseline(agg)
    if best.empty:
        return agg
    rows = best.drop(columns="baseline").assign(model=STRONGEST, metric="mse")
    for col in ("q25", "q75"):
        rows[col] = rows["value"]
    return pd.concat([agg, rows], ignore_index=True)


def versus_baselines(agg: pd.DataFrame, baselines: Sequence[str] | None = None) -> pd.DataFrame:
    """Every model row against the baselines of the same cells.

    :returns: one row per model: ``median_ratio`` (median over cells of model MSE / strongest
        baseline MSE; < 1: the model beats no model and linear least squares),
        ``share_beats_strongest`` and ``share_beats_<b>`` per baseline ``b`` (share of cells
        with a strictly lower MSE), ``n_cells``
    """
    wide = _mse(agg)
    base = [str(c) for c in wide.columns if _is_baseline(str(c))]
    if baselines is not None:
        base = [b for b in base if b in baselines]
    models = [str(c) for c in wide.columns if not _is_baseline(str(c))]
    if not base or not models:
        return pd.DataFrame()
    wide = wide.dropna()
    strongest = wide[base].min(axis=1)
    rows = []
    for m in models:
        row: dict[str, object] = {
            "model": m,
            "median_ratio": float((wide[m] / strongest.clip(lower=1e-300)).median()),
            "share_beats_strongest": float((wide[m] < strongest).mean()),
        }
        for b in base:
            row[f"share_beats_{b}"] = float((wide[m] < wide[b]).mean())
        row["n_cells"] = len(wide)
        rows.append(row)
    return pd.DataFrame(rows)


def _budget_of(row: str) -> tuple[str, int | None]:
    """``"t @36"`` -> ``("t", 36)``; a row without ``@`` -> ``(row, None)``."""
    base, sep, steps = row.rpartition(" @")
    return (base, int(steps)) if sep and steps.isdigit() else (row, None)


def budget_sweep(agg: pd.DataFrame, final_steps: int | None) -> pd.DataFrame:
    """How the verdict moves with the step budget: per budget and family row, over the cells
    that have every row of that budget.

    Rows ``<row> @<k>`` are the grid snapshots after ``k`` steps (``grid.snapshots``); the
    plain ``<row>`` is the final model (``final_steps``, the equal budget).

    :returns: columns ``steps, row, median_mse, share_beats_strongest, share_lowest`` (the
        cells where it has the lowest MSE among the family rows of the same budget), ``n_cells``;
        empty without snapshot rows
    """
    wide = _mse(agg)
    rows = [str(c) for c in wide.columns]
    snap = [(b, k) for b, k in map(_budget_of, rows) if k is not None]
    if not snap:
        return pd.DataFrame()
    bases = sorted({b for b, _ in snap})
    budgets = sorted({k for _, k in snap})
    by_budget = {k: {b: f"{b} @{k}" for b in bases if f"{b} @{k}" in wide} for k in budgets}
    if final_steps is not None:
        by_budget[int(final_steps)] = {b: b for b in bases if b in wide}
    base_cols = [r for r in rows if _is_baseline(r)]
    strongest = wide[base_cols].min(axis=1) if base_cols else None
    out = []
    for k in sorted(by_budget):
        cols = by_budget[k]
        sub = wide[list(cols.values())].dropna()
        if sub.empty:
            continue
        lowest = sub.eq(sub.min(axis=1), axis=0)
        for base, col in cols.items():
            beats = float("nan")
            if strongest is not None:
                beats = float((sub[col] < strongest.loc[sub.index]).mean())
            out.append(
                {
                    "steps": k,
                    "row": base,
                    "median_mse": float(sub[col].median()),
                    "share_beats_strongest": beats,
                    "share_lowest": float((lowest[col] / lowest.sum(axis=1)).mean()),
                    "n_cells": len(sub),
                }
            )
    return pd.DataFrame(out)


def own_budget_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """The step budget each ``(own budget)`` row chose per cell: median (min, max) over copies.

    :param frame: the tidy efficiency scores (column ``steps`` on the own-budget rows)
    :returns: columns ``model, num_traj, t_range, steps, steps_min, steps_max``; empty when
        there are no own-budget rows
    """
    if "steps" not in frame.columns:
        return pd.DataFrame()
    own = frame[frame["model"].astype(str).str.endswith("(own budget)")]
    own = own.drop_duplicates(["model", *CELL, "seed"])
    if own.empty:
        return pd.DataFrame()
    grouped = own.groupby(["model", *CELL], sort=True)["steps"]
    out = pd.DataFrame(
        {"steps": grouped.median(), "steps_min": grouped.min(), "steps_max": grouped.max()}
    )
    return out.reset_index()
