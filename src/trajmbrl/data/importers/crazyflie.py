"""The real Crazyflie 2.0 flights (paper section 5.2) packaged as ``crazyflie_hw/cf.csv``.

That log stores each row's true next state (``*_1fx``), so a run of ``L`` consecutive rows gives
``L`` actions and ``L + 1`` states; flights are additionally cut where rows were removed from the
source log (row ``k``'s next state is not row ``k+1``'s state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trajmbrl.data.importers.dataset import build_dataset
from trajmbrl.data.importers.tables import numeric, read_table, require_columns
from trajmbrl.data.storage import TEST, TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import sha256_file

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
    "omegax_1fx",
    "omegay_1fx",
    "omegaz_1fx",
    "pitch_1fx",
    "roll_1fx",
    "yaw_1fx",
    "linax_1fx",
    "linay_1fx",
    "linaz_1fx",
)
CF_ACTION = ("m1pwm_0tu", "m2pwm_0tu", "m3pwm_0tu", "m4pwm_0tu")
CF_TIME = "flight times"
CF_SOURCE = "natolambert/dynamicslearn ex_data/SAS/cf.csv (MIT, Copyright (c) 2019 Nathan Lambert)"


def packaged_crazyflie_csv() -> Path:
    """Path of the packaged real Crazyflie log (``trajmbrl/data/crazyflie_hw/cf.csv``)."""
    return Path(__file__).parents[1] / "crazyflie_hw" / "cf.csv"


def _segments(time: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row flight and segment index (rows,): a flight starts where time drops back, a
    segment also where row k's next state s1[k] is not row k+1's state s0[k+1]."""
    new_flight = np.concatenate([[True], np.diff(time) < 0])
    consistent = np.all(np.isclose(s1[:-1], s0[1:], rtol=1e-9, atol=1e-9), axis=1)
    broken = np.concatenate([[False], ~consistent]) & ~new_flight
    return {
        "flight": np.cumsum(new_flight) - 1,
        "segment": np.cumsum(new_flight | broken) - 1,
        "broken": broken,
    }


def _report(
    num_rows: int,
    cuts: dict[str, np.ndarray],
    groups: list[int],
    seg_rows: list[int],
    data: TrajectoryData,
    min_length: int,
) -> dict[str, Any]:
    """The import report: flights, cuts, segments kept/dropped and the flights in the test split."""
    flight, segment = cuts["flight"], cuts["segment"]
    num_segments = int(segment[-1]) + 1
    flight_len = np.bincount(flight)
    return {
        "rows": num_rows,
        "flights": int(flight[-1]) + 1,
        "flight_rows_min_median_max": [
            int(flight_len.min()),
            float(np.median(flight_len)),
            int(flight_len.max()),
        ],
        "breaks_at_removed_rows": int(cuts["broken"].sum()),
        "segments_found": num_segments,
        "segments_kept": len(groups),
        "segments_dropped_too_short": num_segments - len(groups),
        "transitions_kept": int(data.lengths.sum()),
        "flights_kept": len(set(groups)),
        "test_flights": sorted({g for g, sp in zip(groups, data.split) if sp == TEST}),
        "segment_flight": groups,
        "segment_first_row": seg_rows,
        "min_length": min_length,
    }


def _manifest(
    path: Path,
    packaged: bool,
    num_flights: int,
    seed: int,
    test_fraction: float,
    report: dict[str, Any],
) -> dict[str, Any]:
    """The dataset manifest fields of an imported Crazyflie log."""
    return {
        "data_mode": "imported",
        "env": "crazyflie_hw",
        "source": "package:trajmbrl/data/crazyflie_hw/cf.csv" if packaged else str(path.resolve()),
        "source_origin": CF_SOURCE,
        "source_sha256": sha256_file(path),
        "state_names": [name for _, name, _ in CF_STATE],
        "state_units": [unit for _, _, unit in CF_STATE],
        "state_columns": [c for c, _, _ in CF_STATE],
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
    require_columns(df, state_cols + list(CF_NEXT) + list(CF_ACTION) + [CF_TIME], source)
    s0 = numeric(df, state_cols, source, "state")
    s1 = numeric(df, CF_NEXT, source, "next-state")
    act = numeric(df, CF_ACTION, source, "action")
    time = numeric(df, [CF_TIME], source, "time")[:, 0]
    cuts = _segments(time, s0, s1)
    flight, segment = cuts["flight"], cuts["segment"]

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
        s_list,
        a_list,
        np.zeros((len(s_list), 0)),
        test_fraction=test_fraction,
        seed=seed,
        split_by="group",
        groups=groups,
    )
    report = _report(len(df), cuts, groups, seg_rows, data, min_length)
    manifest = _manifest(path, packaged, report["flights"], seed, test_fraction, report)
    return data, manifest
