"""Import logged robot data (CSV / Parquet) into the dataset contract (design.md section 3).

Two entry points:

- :func:`import_logs`: any robot, described by a :class:`LogColumns` mapping ("bring your own
  robot" by config). Row semantics: row ``k`` holds the state ``s_k`` and the action ``a_k``
  applied *at* ``s_k``; the next row of the same episode holds ``s_{k+1}``. An episode of ``L``
  rows therefore gives ``L`` states and ``L - 1`` usable actions (the last row's action has no
  logged successor).
- :func:`import_crazyflie_hw`: the real Crazyflie 2.0 flights (paper section 5.2) packaged as
  ``crazyflie_hw/cf.csv``. That log stores each row's true next state (``*_1fx``), so a run of
  ``L`` consecutive rows gives ``L`` actions and ``L + 1`` states; flights are additionally cut
  where rows were removed from the source log (row ``k``'s next state is not row ``k+1``'s state).

Rewards are not logged by either source: ``rewards`` is 0 on valid steps (NaN padding beyond).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import sha256_file

log = logging.getLogger("trajmbrl")

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

#: The Crazyflie state at t (column in cf.csv, clean name, unit as logged).
CF_STATE = (
    ("omegax_0tx", "omegax", "deg/s"),
    ("omegay_0tx", "omegay", "deg/s"),
    ("omegaz_0tx", "omegaz", "deg/s"),
    ("pitch_0tx", "pitch", "deg"),
    ("roll_0tx", "roll", "deg"),
    ("yaw_0tx", "yaw", "deg"),
    ("linax_0tx", "linax", "accel (as logged)"),
    ("linay_0tx", "linay", "accel (as logged)"),
    ("linyz_0tx", "linaz", "accel (as logged)"),  # 'linyz' is the source's typo for z
)
#: The true next state of each row, same order as CF_STATE.
CF_NEXT = (
    "omegax_1fx", "omegay_1fx", "omegaz_1fx", "pitch_1fx", "roll_1fx", "yaw_1fx",
    "linax_1fx", "linay_1fx", "linaz_1fx",
)
CF_ACTION = ("m1pwm_0tu", "m2pwm_0tu", "m3pwm_0tu", "m4pwm_0tu")
CF_TIME = "flight times"
CF_SOURCE = "natolambert/dynamicslearn ex_data/SAS/cf.csv (MIT, Copyright (c) 2019 Nathan Lambert)"


@dataclass(frozen=True)
class LogColumns:
    """Which table columns hold the state, action and controller parameters of a log.

    ``episode``: column holding an episode id. If None, episodes start wherever ``time`` drops
    back (a time reset); if ``time`` is None too, the whole file is one episode.
    """

    state: tuple[str, ...]
    action: tuple[str, ...]
    theta: tuple[str, ...] = ()
    episode: str | None = None
    time: str | None = None


def read_table(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` / ``.pq`` table; TrajmbrlError for anything unreadable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise TrajmbrlError(
            f"Log file {path} has unsupported suffix '{path.suffix}'; "
            f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise TrajmbrlError(f"Log file {what}: {path}")
    try:
        if suffix in CSV_SUFFIXES:
            df = pd.read_csv(path)
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise TrajmbrlError(
                    f"Reading Parquet log {path} needs pyarrow: pip install pyarrow"
                ) from None
            df = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise TrajmbrlError(f"Log file is empty: {path}") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrajmbrlError(f"Log file {path} could not be read ({msg})") from None
    if len(df) == 0:
        raise TrajmbrlError(f"Log file is empty (no data rows): {path}")
    return df


def _require_columns(df: pd.DataFrame, names: Sequence[str], source: str) -> None:
    """Raise naming every missing column and listing the available ones."""
    missing = [c for c in names if c not in df.columns]
    if missing:
        available = ", ".join(repr(str(c)) for c in df.columns)
        raise TrajmbrlError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"available columns: {available}"
        )


def _numeric(df: pd.DataFrame, cols: Sequence[str], source: str, role: str) -> np.ndarray:
    """The columns as a finite float64 array (rows, len(cols)); error naming a bad column."""
    out = np.empty((len(df), len(cols)), dtype=np.float64)
    for j, col in enumerate(cols):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            rows = ", ".join(str(int(r) + 1) for r in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise TrajmbrlError(
                f"{source}: {role} column {col!r} has {bad.size} row(s) that are missing, "
                f"non-numeric or infinite (data row(s) {rows}; 1-based, header excluded)"
            )
        out[:, j] = values
    return out


#: a value further than this many times the column's interquartile range from its median
#: is refused as an outlier (a single 1e30 would make the range normaliser meaningless)
OUTLIER_FACTOR = 1000.0


def _rows(rows: np.ndarray) -> str:
    return ", ".join(str(int(r) + 1) for r in rows[:5]) + (", ..." if rows.size > 5 else "")


def _refuse_outliers(values: np.ndarray, names: Sequence[str], source: str) -> None:
    """Raise naming the column and rows of values far outside the column's bulk."""
    for j, name in enumerate(names):
        col = values[:, j]
        med = float(np.median(col))
        lo, hi = np.percentile(col, [25, 75])
        scale = max(float(hi - lo), 1e-9 * max(abs(med), 1.0))
        bad = np.flatnonzero(np.abs(col - med) > OUTLIER_FACTOR * scale)
        if bad.size:
            raise TrajmbrlError(
                f"{source}: column {name!r} has extreme value(s) {col[bad[0]]:g} at data row(s) "
                f"{_rows(bad)} (more than {OUTLIER_FACTOR:g} x its interquartile range from the "
                "median); fix the log or pass logs.allow_outliers=true")


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
            time = _numeric(df, [columns.time], source, "time")[:, 0]
            for e in range(len(ids)):
                t = time[codes == e]
                if np.any(np.diff(t) <= 0):
                    raise TrajmbrlError(
                        f"{source}: time column {columns.time!r} is not increasing within episode "
                        f"{ids[e]!r} (column {columns.episode!r}); rows of an episode must be "
                        "in time order"
                    )
        return np.asarray(codes, dtype=np.int64), ids
    if columns.time is not None:
        time = _numeric(df, [columns.time], source, "time")[:, 0]
        codes = np.concatenate([[0], np.cumsum(np.diff(time) < 0)]).astype(np.int64)
        return codes, list(range(int(codes[-1]) + 1))
    return np.zeros(n, dtype=np.int64), [0]


def episodes_from_table(
    df: pd.DataFrame, columns: LogColumns, *, min_length: int = 2, source: str = "",
    allow_outliers: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, dict[str, Any]]:
    """Split a log table into episodes (rows kept in file order within an episode).

    :param min_length: minimum number of rows for an episode to be kept (>= 2).
    :param allow_outliers: accept values far outside a column's bulk (see _refuse_outliers).
    :returns: states list of (L_i, ds), actions list of (L_i, du) (row k's action is applied at
        row k's state), theta (E, dp) (constant per episode), and a report dict.
    """
    source = source or "log table"
    if min_length < 2:
        raise TrajmbrlError(
            f"{source}: min_length must be >= 2 (an episode needs two rows for one transition), "
            f"got {min_length}"
        )
    if not columns.state:
        raise TrajmbrlError(f"{source}: no state columns given (logs.state)")
    if not columns.action:
        raise TrajmbrlError(f"{source}: no action columns given (logs.action)")
    named = list(columns.state) + list(columns.action) + list(columns.theta)
    named += [c for c in (columns.episode, columns.time) if c is not None]
    dupes = sorted({c for c in named if named.count(c) > 1})
    if dupes:
        raise TrajmbrlError(f"{source}: column(s) {', '.join(map(repr, dupes))} mapped twice")
    _require_columns(df, named, source)

    states = _numeric(df, columns.state, source, "state")
    actions = _numeric(df, columns.action, source, "action")
    theta_rows = _numeric(df, columns.theta, source, "theta")
    if not allow_outliers:
        _refuse_outliers(np.hstack([states, actions]), [*columns.state, *columns.action], source)
    dup = np.flatnonzero(df[named].duplicated(keep="first").to_numpy())
    if dup.size:
        raise TrajmbrlError(f"{source}: duplicated row(s) {_rows(dup)} (1-based data rows): a "
                            "repeated row would be a zero-time transition; remove them")
    codes, ids = _episode_codes(df, columns, source)
    for e, ep_id in enumerate(ids):
        rows = np.flatnonzero(codes == e)
        if rows[-1] - rows[0] + 1 != rows.size:
            gap = rows[np.flatnonzero(np.diff(rows) > 1)[0] + 1]
            raise TrajmbrlError(f"{source}: episode id {ep_id!r} is reused: its rows start at "
                                f"data row {rows[0] + 1} and again at row {gap + 1}; give each "
                                "episode its own id")

    s_list: list[np.ndarray] = []
    a_list: list[np.ndarray] = []
    thetas: list[np.ndarray] = []
    kept_ids: list[Any] = []
    lengths_found: list[int] = []
    for e, ep_id in enumerate(ids):
        rows = np.flatnonzero(codes == e)
        lengths_found.append(int(rows.size))
        th = theta_rows[rows]
        for j, col in enumerate(columns.theta):
            if np.any(th[:, j] != th[0, j]):
                raise TrajmbrlError(
                    f"{source}: theta column {col!r} is not constant within episode {ep_id!r} "
                    f"(values from {th[:, j].min():g} to {th[:, j].max():g}); controller "
                    "parameters must be fixed for a whole episode"
                )
        if rows.size < min_length:
            continue
        s_list.append(states[rows])
        a_list.append(actions[rows])
        thetas.append(th[0])
        kept_ids.append(ep_id)
    if not s_list:
        raise TrajmbrlError(
            f"{source}: all {len(ids)} episode(s) are shorter than min_length={min_length} rows "
            f"(longest has {max(lengths_found)} rows)"
        )
    theta = np.stack(thetas) if thetas else np.zeros((0, len(columns.theta)))
    report = {
        "rows": len(df),
        "episodes_found": len(ids),
        "episodes_kept": len(s_list),
        "episodes_dropped_too_short": len(ids) - len(s_list),
        "rows_kept": int(sum(len(s) for s in s_list)),
        "min_length": min_length,
        "episode_ids": [ep if isinstance(ep, int | float) else str(ep) for ep in kept_ids],
    }
    return s_list, a_list, theta, report


def build_dataset(
    states_list: Sequence[np.ndarray],
    actions_list: Sequence[np.ndarray],
    theta: np.ndarray,
    *,
    test_fraction: float,
    seed: int,
    split_by: str = "episode",
    groups: Sequence[Any] | None = None,
) -> TrajectoryData:
    """Pad episodes into a TrajectoryData with a seeded random train/test split.

    Each episode is either rows (states (L, ds), actions (L, du): the last action has no
    successor and is dropped, giving L-1 steps) or explicit transitions (states (L+1, ds),
    actions (L, du)). theta is (N, dp).

    :param split_by: ``"episode"``: a random permutation of the N episodes from
        ``default_rng(seed)``, the first ``ceil(test_fraction * N)`` are test. ``"group"``: the same
        over the distinct ``groups`` values (e.g. the flight each segment came from), so episodes
        sharing a group always land in the same split.
    """
    n = len(states_list)
    if n == 0:
        raise TrajmbrlError("No episodes to build a dataset from")
    if len(actions_list) != n:
        raise TrajmbrlError(f"{n} state sequences but {len(actions_list)} action sequences")
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != n:
        raise TrajmbrlError(f"theta must be (N={n}, dp), got shape {theta.shape}")
    if not 0.0 <= test_fraction < 1.0:
        raise TrajmbrlError(f"test_fraction must lie in [0, 1), got {test_fraction}")

    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (s, a) in enumerate(zip(states_list, actions_list)):
        s = np.asarray(s, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        if s.ndim != 2 or a.ndim != 2:
            raise TrajmbrlError(f"episode {i}: states and actions must be 2-D (L, dim)")
        if len(s) == len(a):
            a = a[:-1]
        if len(s) != len(a) + 1 or len(a) < 1:
            raise TrajmbrlError(
                f"episode {i}: {len(s)} states and {len(a)} actions; need L+1 states for L >= 1 "
                "actions (or L rows of both)"
            )
        pairs.append((s, a))
    ds, du = pairs[0][0].shape[1], pairs[0][1].shape[1]
    if any(s.shape[1] != ds or a.shape[1] != du for s, a in pairs):
        raise TrajmbrlError("episodes differ in state or action dimension")

    lengths = np.asarray([len(a) for _, a in pairs], dtype=np.int64)
    t = int(lengths.max())
    states = np.full((n, t + 1, ds), np.nan)
    actions = np.full((n, t, du), np.nan)
    rewards = np.full((n, t), np.nan)
    for i, (s, a) in enumerate(pairs):
        states[i, : len(s)] = s
        actions[i, : len(a)] = a
        rewards[i, : len(a)] = 0.0

    split = _split(n, test_fraction, seed, split_by, groups)
    return TrajectoryData(
        states=states,
        actions=actions,
        params=theta.copy(),
        rewards=rewards,
        lengths=lengths,
        seeds=np.full(n, -1, dtype=np.int64),
        split=split,
    )


def _split(
    n: int, test_fraction: float, seed: int, split_by: str, groups: Sequence[Any] | None
) -> np.ndarray:
    """(n,) int8 split: a ``default_rng(seed)`` permutation of the units, first ceil(f*U) test."""
    if split_by == "episode":
        unit = np.arange(n)
    elif split_by == "group":
        if groups is None or len(groups) != n:
            raise TrajmbrlError("split_by='group' needs one group id per episode (groups=...)")
        unit, _ = pd.factorize(pd.Series(list(groups)), sort=False)
    else:
        raise TrajmbrlError(f"split_by must be 'episode' or 'group', got {split_by!r}")
    num_units = int(unit.max()) + 1
    num_test = math.ceil(test_fraction * num_units - 1e-9)
    if num_test >= num_units and test_fraction > 0:
        raise TrajmbrlError(
            f"test_fraction={test_fraction} puts all {num_units} {split_by}(s) in the test split; "
            "lower it or import more episodes"
        )
    order = np.random.default_rng(seed).permutation(num_units)
    is_test = np.zeros(num_units, dtype=bool)
    is_test[order[:num_test]] = True
    return np.where(is_test[unit], TEST, TRAIN).astype(np.int8)


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
        df, columns, min_length=min_length, source=f"Log file {path}",
        allow_outliers=allow_outliers,
    )
    log.info("Imported %d of %d episodes from %s; %d dropped as shorter than min_length=%d rows",
             report["episodes_kept"], report["episodes_found"], path,
             report["episodes_dropped_too_short"], min_length)
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


def packaged_crazyflie_csv() -> Path:
    """Path of the packaged real Crazyflie log (``trajmbrl/data/crazyflie_hw/cf.csv``)."""
    return Path(__file__).parent / "crazyflie_hw" / "cf.csv"


def import_crazyflie_hw(
    path: Path | None = None,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_length: int = 10,
) -> tuple[TrajectoryData, dict[str, Any]]:
    """Import the real Crazyflie flights: states (N, T+1, 9), actions (N, T, 4) PWM, dp = 0.

    Flights start where ``flight times`` drops back. A flight is cut into segments wherever row
    k's logged next state (``*_1fx``) differs from row k+1's state (rows were removed from the
    source log there), so every ``states[n, k+1]`` is the true successor of ``states[n, k]``
    under ``actions[n, k]``; a segment's last state is its last row's ``*_1fx``. Segments with
    fewer than ``min_length`` rows (= actions) are dropped. The split is by flight: all segments
    of one flight are train or all are test.
    """
    packaged = path is None
    path = packaged_crazyflie_csv() if path is None else Path(path)
    df = read_table(path)
    source = f"Crazyflie log {path}"
    if min_length < 1:
        raise TrajmbrlError(f"{source}: min_length must be >= 1, got {min_length}")
    state_cols = [c for c, _, _ in CF_STATE]
    _require_columns(df, state_cols + list(CF_NEXT) + list(CF_ACTION) + [CF_TIME], source)
    s0 = _numeric(df, state_cols, source, "state")
    s1 = _numeric(df, CF_NEXT, source, "next-state")
    act = _numeric(df, CF_ACTION, source, "action")
    time = _numeric(df, [CF_TIME], source, "time")[:, 0]

    new_flight = np.concatenate([[True], np.diff(time) < 0])
    consistent = np.all(np.isclose(s1[:-1], s0[1:], rtol=1e-9, atol=1e-9), axis=1)
    broken = np.concatenate([[False], ~consistent]) & ~new_flight
    flight = np.cumsum(new_flight) - 1
    segment = np.cumsum(new_flight | broken) - 1
    num_flights = int(flight[-1]) + 1

    s_list, a_list, groups, seg_rows = [], [], [], []
    num_segments = int(segment[-1]) + 1
    for g in range(num_segments):
        rows = np.flatnonzero(segment == g)
        if rows.size < min_length:
            continue
        s_list.append(np.vstack([s0[rows], s1[rows[-1]][None, :]]))
        a_list.append(act[rows])
        groups.append(int(flight[rows[0]]))
        seg_rows.append(int(rows[0]))
    if not s_list:
        longest = int(np.bincount(segment).max())
        raise TrajmbrlError(
            f"{source}: all {num_segments} flight segments are shorter than "
            f"min_length={min_length} rows (longest has {longest} rows)"
        )
    data = build_dataset(
        s_list, a_list, np.zeros((len(s_list), 0)), test_fraction=test_fraction, seed=seed,
        split_by="group", groups=groups,
    )
    flight_len = np.bincount(flight)
    kept_flights = sorted(set(groups))
    test_flights = sorted({g for g, sp in zip(groups, data.split) if sp == TEST})
    report = {
        "rows": len(df),
        "flights": num_flights,
        "flight_rows_min_median_max": [
            int(flight_len.min()), float(np.median(flight_len)), int(flight_len.max())
        ],
        "breaks_at_removed_rows": int(broken.sum()),
        "segments_found": num_segments,
        "segments_kept": len(s_list),
        "segments_dropped_too_short": num_segments - len(s_list),
        "transitions_kept": int(data.lengths.sum()),
        "flights_kept": len(kept_flights),
        "test_flights": test_flights,
        "segment_flight": groups,
        "segment_first_row": seg_rows,
        "min_length": min_length,
    }
    manifest = {
        "data_mode": "imported",
        "env": "crazyflie_hw",
        "source": "package:trajmbrl/data/crazyflie_hw/cf.csv" if packaged else str(path.resolve()),
        "source_origin": CF_SOURCE,
        "source_sha256": sha256_file(path),
        "state_names": [name for _, name, _ in CF_STATE],
        "state_units": [unit for _, _, unit in CF_STATE],
        "state_columns": state_cols,
        "next_state_columns": list(CF_NEXT),
        "action_names": list(CF_ACTION),
        "param_names": [],
        "flight_column": CF_TIME,
        "num_flights": num_flights,
        "rewards": "not logged: 0 on valid steps",
        "split_by": "flight",
        "split_seed": seed,
        "test_fraction": test_fraction,
        "import_report": report,
    }
    return data, manifest
