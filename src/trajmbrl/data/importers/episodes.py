"""Cutting a log table into episodes: which rows belong together, checked row by row.

Row semantics: row ``k`` holds the state ``s_k`` and the action ``a_k`` applied *at* ``s_k``;
the next row of the same episode holds ``s_{k+1}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trajmbrl.data.importers.outliers import refuse_outliers, refuse_theta_outliers
from trajmbrl.data.importers.tables import (
    LogColumns,
    format_rows,
    numeric,
    require_columns,
)
from trajmbrl.errors import ArgumentError, TrajmbrlError


def _episode_codes(df: pd.DataFrame, columns: LogColumns, source: str) -> tuple[np.ndarray, list]:
    """Per-row episode index (in order of first appearance) :returns: (rows,) codes, the ids."""
    n = len(df)
    if columns.episode is not None:
        codes, uniques = pd.factorize(df[columns.episode], sort=False)
        missing = int((codes < 0).sum())
        if missing:
            raise TrajmbrlError(
                f"{source}: episode column {columns.episode!r} is empty in {missing} row(s)"
            )
        ids = [u.item() if isinstance(u, np.generic) else u for u in uniques]
        if columns.time is not None:
            _check_time_order(df, columns, source, codes, ids)
        return np.asarray(codes, dtype=np.int64), ids
    if columns.time is not None:
        time = numeric(df, [columns.time], source, "time")[:, 0]
        codes = np.concatenate([[0], np.cumsum(np.diff(time) < 0)]).astype(np.int64)
        return codes, list(range(int(codes[-1]) + 1))
    return np.zeros(n, dtype=np.int64), [0]


def _check_time_order(
    df: pd.DataFrame, columns: LogColumns, source: str, codes: np.ndarray, ids: list
) -> None:
    """Raise if the time column is not strictly increasing within an episode."""
    assert columns.time is not None
    time = numeric(df, [columns.time], source, "time")[:, 0]
    for e in range(len(ids)):
        t = time[codes == e]
        if np.any(np.diff(t) <= 0):
            raise TrajmbrlError(
                f"{source}: time column {columns.time!r} is not increasing within episode "
                f"{ids[e]!r} (column {columns.episode!r}); rows of an episode must be "
                "in time order"
            )


def _mapped_columns(columns: LogColumns, min_length: int, source: str) -> list[str]:
    """Check the mapping itself; :returns: every mapped column name (state, action, theta, ...)."""
    if min_length < 2:
        raise TrajmbrlError(
            f"{source}: min_length must be >= 2 (an episode needs two rows for one transition), "
            f"got {min_length}"
        )
    if not columns.state:
        raise ArgumentError(f"{source}: no state columns given ({{LogColumns.state}})")
    if not columns.action:
        raise ArgumentError(f"{source}: no action columns given ({{LogColumns.action}})")
    named = list(columns.state) + list(columns.action) + list(columns.theta)
    named += [c for c in (columns.episode, columns.time, columns.reward) if c is not None]
    dupes = sorted({c for c in named if named.count(c) > 1})
    if dupes:
        raise TrajmbrlError(f"{source}: column(s) {', '.join(map(repr, dupes))} mapped twice")
    return named


def _refuse_duplicates(df: pd.DataFrame, named: list[str], source: str) -> None:
    """Refuse rows repeating an earlier row in every mapped column."""
    dup = np.flatnonzero(df[named].duplicated(keep="first").to_numpy())
    if dup.size:
        raise TrajmbrlError(
            f"{source}: duplicated row(s) {format_rows(dup)} (1-based data rows): "
            "a repeated row would be a zero-time transition; remove them"
        )


def _refuse_reused_ids(codes: np.ndarray, ids: list, source: str) -> None:
    """Refuse an episode id whose rows are not contiguous (codes (rows,) index into ids)."""
    for e, ep_id in enumerate(ids):
        rows = np.flatnonzero(codes == e)
        if rows[-1] - rows[0] + 1 != rows.size:
            gap = rows[np.flatnonzero(np.diff(rows) > 1)[0] + 1]
            raise TrajmbrlError(
                f"{source}: episode id {ep_id!r} is reused: its rows start at "
                f"data row {rows[0] + 1} and again at row {gap + 1}; give each "
                "episode its own id"
            )


def _check_theta_constant(th: np.ndarray, columns: LogColumns, ep_id: Any, source: str) -> None:
    """Raise if a theta column (th is (L, dp)) changes within one episode."""
    for j, col in enumerate(columns.theta):
        if np.any(th[:, j] != th[0, j]):
            raise TrajmbrlError(
                f"{source}: theta column {col!r} is not constant within episode {ep_id!r} "
                f"(values from {th[:, j].min():g} to {th[:, j].max():g}); controller "
                "parameters must be fixed for a whole episode"
            )


def _last_rows(codes: np.ndarray) -> np.ndarray:
    """(rows,) bool: the last row of each episode (codes (rows,) contiguous per episode)."""
    last = np.ones(codes.size, dtype=bool)
    last[:-1] = codes[1:] != codes[:-1]
    return last


def _fill_last(values: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Empty last-row entries (unused) as the previous row's value (0 for a one-row episode),
    so the outlier rule sees no hole."""
    for r in np.flatnonzero(last & np.isnan(values).any(axis=1)):
        prev = values[r - 1] if r > 0 and not last[r - 1] else np.zeros(values.shape[1])
        values[r] = np.where(np.isnan(values[r]), prev, values[r])
    return values


def episodes_from_table(
    df: pd.DataFrame,
    columns: LogColumns,
    *,
    min_length: int = 2,
    source: str = "",
    allow_outliers: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, dict[str, Any]]:
    """Split a log table into episodes (rows kept in file order within an episode).

    :param min_length: minimum number of rows for an episode to be kept (>= 2).
    :param allow_outliers: accept extreme values and single-sample spikes (see
        ``importers/outliers.py``).
    :returns: states list of (L_i, ds), actions list of (L_i, du) (row k's action is applied at
        row k's state; an empty last-row action is filled, unused), theta (E, dp) (constant per
        episode), and a report dict. :func:`episode_table` also returns the rewards.
    """
    states, actions, theta, _, report = episode_table(
        df, columns, min_length=min_length, source=source, allow_outliers=allow_outliers
    )
    return states, actions, theta, report


def episode_table(
    df: pd.DataFrame,
    columns: LogColumns,
    *,
    min_length: int = 2,
    source: str = "",
    allow_outliers: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, list[np.ndarray] | None, dict[str, Any]]:
    """:func:`episodes_from_table` plus the per-row rewards of ``columns.reward``: a list of
    (L_i,) (the last row's unused), or None without a reward column."""
    source = source or "log table"
    named = _mapped_columns(columns, min_length, source)
    require_columns(df, named, source)
    states = numeric(df, columns.state, source, "state")
    theta_rows = numeric(df, columns.theta, source, "theta")
    codes, ids = _episode_codes(df, columns, source)
    _refuse_reused_ids(codes, ids, source)
    last = _last_rows(codes)
    actions = _fill_last(numeric(df, columns.action, source, "action", empty_ok=last), last)
    reward_rows = None
    if columns.reward is not None:
        reward_rows = _fill_last(numeric(df, [columns.reward], source, "reward", last), last)
    if not allow_outliers:
        values = np.hstack([states, actions])
        refuse_outliers(values, [*columns.state, *columns.action], source, codes)
    _refuse_duplicates(df, named, source)

    s_list: list[np.ndarray] = []
    a_list: list[np.ndarray] = []
    thetas: list[np.ndarray] = []
    r_list: list[np.ndarray] = []
    kept_ids: list[Any] = []
    first_rows: list[int] = []
    lengths_found: list[int] = []
    for e, ep_id in enumerate(ids):
        rows = np.flatnonzero(codes == e)
        lengths_found.append(int(rows.size))
        _check_theta_constant(theta_rows[rows], columns, ep_id, source)
        if rows.size < min_length:
            continue
        s_list.append(states[rows])
        a_list.append(actions[rows])
        if reward_rows is not None:
            r_list.append(reward_rows[rows, 0])
        thetas.append(theta_rows[rows][0])
        kept_ids.append(ep_id)
        first_rows.append(int(rows[0]))
    if not s_list:
        raise TrajmbrlError(
            f"{source}: all {len(ids)} episode(s) are shorter than min_length={min_length} rows "
            f"(longest has {max(lengths_found)} rows)"
        )
    theta = np.stack(thetas) if thetas else np.zeros((0, len(columns.theta)))
    if not allow_outliers and columns.theta:
        refuse_theta_outliers(theta, columns.theta, np.asarray(first_rows), source)
    report = {
        "rows": len(df),
        "episodes_found": len(ids),
        "episodes_kept": len(s_list),
        "episodes_dropped_too_short": len(ids) - len(s_list),
        "rows_kept": int(sum(len(s) for s in s_list)),
        "min_length": min_length,
        "episode_ids": [ep if isinstance(ep, int | float) else str(ep) for ep in kept_ids],
    }
    return s_list, a_list, theta, r_list if reward_rows is not None else None, report
