"""Importers: real Crazyflie log, generic CSV/Parquet logs, validation messages, docs example."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trajmbrl.data.importers import (
    CF_ACTION,
    CF_NEXT,
    CF_STATE,
    LogColumns,
    build_dataset,
    episodes_from_table,
    import_crazyflie_hw,
    import_logs,
    packaged_crazyflie_csv,
    read_table,
)
from trajmbrl.data.storage import TEST, TRAIN, load_dataset, save_dataset
from trajmbrl.errors import TrajmbrlError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "pendulum_logs.csv"
COLS = LogColumns(state=("q", "qd"), action=("tau",), theta=("kp", "kd"), episode="episode")


# --------------------------------------------------------------------------- Crazyflie


@pytest.fixture(scope="module")
def cf() -> tuple:
    data, manifest = import_crazyflie_hw()
    return data, manifest, pd.read_csv(packaged_crazyflie_csv())


def test_crazyflie_counts_and_shapes(cf):
    data, manifest, _ = cf
    rep = manifest["import_report"]
    assert rep["rows"] == 3812
    assert rep["flights"] == manifest["num_flights"] == 160
    assert rep["breaks_at_removed_rows"] == 129
    assert rep["segments_found"] == 289
    assert rep["segments_kept"] == data.num == 177
    assert data.states.shape == (177, 54, 9)
    assert data.actions.shape == (177, 53, 4)
    assert data.params.shape == (177, 0)
    assert data.lengths.min() >= 10 and data.lengths.sum() == rep["transitions_kept"] == 3234
    assert np.all(data.seeds == -1)
    assert manifest["param_names"] == []
    assert manifest["state_names"][-1] == "linaz" and len(manifest["state_names"]) == 9
    assert manifest["action_names"] == list(CF_ACTION)
    assert manifest["split_seed"] == 0
    assert len(manifest["source_sha256"]) == 64


def test_crazyflie_valid_ranges_finite_and_padding_nan(cf):
    data = cf[0]
    k = np.arange(data.states.shape[1])[None, :]
    valid_s = k <= data.lengths[:, None]
    valid_a = k[:, :-1] < data.lengths[:, None]
    assert np.isfinite(data.states[valid_s]).all()
    assert np.isnan(data.states[~valid_s]).all()
    assert np.isfinite(data.actions[valid_a]).all()
    assert np.isnan(data.actions[~valid_a]).all()
    assert np.all(data.rewards[valid_a] == 0.0)


def test_crazyflie_alignment_with_csv_rows(cf):
    data, manifest, df = cf
    rep = manifest["import_report"]
    s0 = df[[c for c, _, _ in CF_STATE]].to_numpy()
    s1 = df[list(CF_NEXT)].to_numpy()
    act = df[list(CF_ACTION)].to_numpy()
    ft = df["flight times"].to_numpy()
    for n, first in enumerate(rep["segment_first_row"]):
        length = int(data.lengths[n])
        rows = np.arange(first, first + length)
        assert np.all(np.diff(ft[rows]) > 0)  # one flight
        # actions[n, k] is row k's action, applied at row k's state
        np.testing.assert_array_equal(data.actions[n, :length], act[rows])
        np.testing.assert_array_equal(data.states[n, :length], s0[rows])
        # states[n, k+1] is the next CSV row's state within the segment ...
        np.testing.assert_array_equal(data.states[n, 1:length], s0[rows[1:]])
        # ... which equals the logged next state of row k; the final state is the last _1fx
        np.testing.assert_array_equal(data.states[n, 1 : length + 1], s1[rows])


def test_crazyflie_split_deterministic_and_by_flight(cf):
    data, manifest, _ = cf
    again, _ = import_crazyflie_hw(seed=0)
    other, _ = import_crazyflie_hw(seed=1)
    np.testing.assert_array_equal(data.split, again.split)
    assert not np.array_equal(data.split, other.split)
    flights = np.asarray(manifest["import_report"]["segment_flight"])
    train, test = set(flights[data.split == TRAIN]), set(flights[data.split == TEST])
    assert not train & test
    kept = manifest["import_report"]["flights_kept"]
    assert len(test) == math.ceil(0.2 * kept) == 29
    assert sorted(test) == manifest["import_report"]["test_flights"]


def test_crazyflie_manifest_roundtrips_through_storage(cf, tmp_path):
    data, manifest, _ = cf
    save_dataset(data, tmp_path / "cf", manifest)
    loaded = load_dataset(tmp_path / "cf")
    np.testing.assert_array_equal(loaded.lengths, data.lengths)
    assert loaded.meta["num_flights"] == 160


# --------------------------------------------------------------------------- generic logs


def _synthetic(episodes: int = 3, rows: int = 5) -> pd.DataFrame:
    """Episodes 'ep0'.. with t = 0..rows-1, state (x, v), action u, theta (k,)."""
    recs = []
    for e in range(episodes):
        for k in range(rows):
            recs.append(
                {
                    "ep": f"ep{e}",
                    "t": 0.1 * k,
                    "x": 10 * e + k,
                    "v": -k,
                    "u": 100 * e + k,
                    "k": 1.5 + e,
                }
            )
    return pd.DataFrame(recs)


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("by", ["episode", "time"])
def test_generic_import_episode_and_time_reset(tmp_path, suffix, by):
    df = _synthetic(episodes=4, rows=5)
    if by == "time":
        df = df.drop(columns="ep")
    path = _write(df, tmp_path / f"log{suffix}")
    cols = LogColumns(
        state=("x", "v"),
        action=("u",),
        theta=("k",),
        episode="ep" if by == "episode" else None,
        time="t" if by == "time" else None,
    )
    data, manifest = import_logs(path, cols, test_fraction=0.25, seed=3)
    assert data.states.shape == (4, 5, 2) and data.actions.shape == (4, 4, 1)
    assert np.all(data.lengths == 4)  # 5 rows -> 4 usable actions
    assert np.all(data.seeds == -1)
    np.testing.assert_array_equal(data.params[:, 0], [1.5, 2.5, 3.5, 4.5])
    for e in range(4):
        np.testing.assert_array_equal(data.states[e, :, 0], 10 * e + np.arange(5))
        np.testing.assert_array_equal(data.actions[e, :, 0], 100 * e + np.arange(4))
    assert (data.split == TEST).sum() == 1
    assert manifest["state_names"] == ["x", "v"] and manifest["param_names"] == ["k"]
    assert manifest["import_report"]["episodes_kept"] == 4
    assert manifest["columns"]["episode"] == cols.episode


def test_generic_single_episode_without_id_or_time(tmp_path):
    path = _write(_synthetic(episodes=1, rows=7).drop(columns=["ep", "t"]), tmp_path / "a.csv")
    data, _ = import_logs(path, LogColumns(state=("x",), action=("u",)), test_fraction=0.0)
    assert data.num == 1 and data.lengths.tolist() == [6] and data.params.shape == (1, 0)
    assert data.split.tolist() == [TRAIN]


def test_generic_drops_short_episodes_and_reports(tmp_path):
    df = pd.concat([_synthetic(episodes=2, rows=6), _synthetic(episodes=3, rows=2).iloc[4:]])
    path = _write(df.reset_index(drop=True), tmp_path / "a.csv")
    cols = LogColumns(state=("x", "v"), action=("u",), episode="ep")
    data, manifest = import_logs(path, cols, min_length=3)
    rep = manifest["import_report"]
    assert rep["episodes_found"] == 3 and rep["episodes_kept"] == 2
    assert rep["episodes_dropped_too_short"] == 1 and rep["episode_ids"] == ["ep0", "ep1"]
    assert data.lengths.tolist() == [5, 5]


def test_generic_split_deterministic_disjoint(tmp_path):
    path = _write(_synthetic(episodes=10, rows=3), tmp_path / "a.csv")
    cols = LogColumns(state=("x",), action=("u",), theta=("k",), episode="ep")
    a, _ = import_logs(path, cols, test_fraction=0.3, seed=7)
    b, _ = import_logs(path, cols, test_fraction=0.3, seed=7)
    np.testing.assert_array_equal(a.split, b.split)
    assert (a.split == TEST).sum() == 3 and (a.split == TRAIN).sum() == 7
    train_theta = set(a.train().params[:, 0])
    assert not train_theta & set(a.test().params[:, 0])


def test_build_dataset_explicit_transitions_and_padding():
    s = [np.zeros((4, 2)), np.ones((3, 2))]  # L+1 states for L actions
    a = [np.zeros((3, 1)), np.ones((2, 1))]
    data = build_dataset(s, a, np.zeros((2, 0)), test_fraction=0.0, seed=0)
    assert data.lengths.tolist() == [3, 2]
    assert np.isnan(data.states[1, 3]).all() and np.isnan(data.actions[1, 2]).all()
    assert np.isnan(data.rewards[1, 2]) and data.rewards[0].tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- validation errors


def _error(tmp_path, df, cols, name="bad.csv", **kw) -> str:
    path = _write(df, tmp_path / name)
    with pytest.raises(TrajmbrlError) as info:
        import_logs(path, cols, **kw)
    assert name in str(info.value)
    return str(info.value)


def test_error_missing_column(tmp_path):
    cols = LogColumns(state=("x", "pos"), action=("u", "force"), episode="ep")
    msg = _error(tmp_path, _synthetic(), cols)
    assert "'pos'" in msg and "'force'" in msg and "available columns" in msg and "'v'" in msg


def test_error_nan_in_state(tmp_path):
    df = _synthetic().astype({"v": float})
    df.loc[[2, 6], "v"] = np.nan
    msg = _error(tmp_path, df, LogColumns(state=("x", "v"), action=("u",), episode="ep"))
    assert "state column 'v'" in msg and "2 row(s)" in msg and "3, 7" in msg


def test_error_inf_in_action_parquet(tmp_path):
    df = _synthetic().astype({"u": float})
    df.loc[1, "u"] = np.inf
    cols = LogColumns(state=("x",), action=("u",), episode="ep")
    msg = _error(tmp_path, df, cols, name="bad.parquet")
    assert "action column 'u'" in msg and "1 row(s)" in msg


def test_error_non_numeric(tmp_path):
    df = _synthetic().astype({"x": object})
    df.loc[0, "x"] = "oops"
    msg = _error(tmp_path, df, LogColumns(state=("x",), action=("u",), episode="ep"))
    assert "state column 'x'" in msg and "non-numeric" in msg


def test_error_all_too_short(tmp_path):
    cols = LogColumns(state=("x",), action=("u",), episode="ep")
    msg = _error(tmp_path, _synthetic(episodes=2, rows=4), cols, min_length=10)
    assert "min_length=10" in msg and "longest has 4 rows" in msg


def test_error_theta_varies(tmp_path):
    df = _synthetic()
    df.loc[7, "k"] = 9.0  # inside episode 'ep1'
    cols = LogColumns(state=("x",), action=("u",), theta=("k",), episode="ep")
    msg = _error(tmp_path, df, cols)
    assert "theta column 'k'" in msg and "'ep1'" in msg and "not constant" in msg


def test_error_time_not_increasing_in_episode(tmp_path):
    df = _synthetic()
    df.loc[3, "t"] = 0.0
    cols = LogColumns(state=("x",), action=("u",), episode="ep", time="t")
    msg = _error(tmp_path, df, cols)
    assert "time column 't'" in msg and "'ep0'" in msg


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("log.txt", b"x,u\n1,2\n", "unsupported suffix '.txt'"),
        ("empty.csv", b"", "empty"),
        ("header_only.csv", b"x,u\n", "empty"),
        ("garbage.parquet", b"not a parquet file at all", "could not be read"),
    ],
)
def test_read_table_errors(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TrajmbrlError, match=needle) as info:
        read_table(path)
    assert name in str(info.value)


def test_read_table_missing_file(tmp_path):
    with pytest.raises(TrajmbrlError, match="not found.*nope.csv"):
        read_table(tmp_path / "nope.csv")


def test_build_dataset_refuses_all_test():
    with pytest.raises(TrajmbrlError, match="test_fraction"):
        build_dataset(
            [np.zeros((3, 1))], [np.zeros((3, 1))], np.zeros((1, 0)), test_fraction=0.5, seed=0
        )


def test_episodes_from_table_theta_per_episode():
    df = _synthetic(episodes=3, rows=4)
    cols = LogColumns(state=("x", "v"), action=("u",), theta=("k",), episode="ep")
    states, actions, theta, report = episodes_from_table(df, cols, source="mem")
    assert [s.shape for s in states] == [(4, 2)] * 3 and [a.shape for a in actions] == [(4, 1)] * 3
    np.testing.assert_array_equal(theta, [[1.5], [2.5], [3.5]])
    assert report["rows"] == 12 and report["episodes_kept"] == 3


# --------------------------------------------------------------------------- docs example


def test_docs_pendulum_example_imports_with_documented_mapping(tmp_path):
    data, manifest = import_logs(EXAMPLE, COLS)
    assert data.num == 20 and data.states.shape == (20, 60, 2) and data.actions.shape == (20, 59, 1)
    assert np.all(data.lengths == 59) and (data.split == TEST).sum() == 4
    df = pd.read_csv(EXAMPLE)
    gains = df.groupby("episode")[["kp", "kd"]].first().to_numpy()
    np.testing.assert_array_equal(data.params, gains)
    assert manifest["param_names"] == ["kp", "kd"]
    # the committed file is exactly what the documented script generates
    make = runpy.run_path(str(EXAMPLE.with_name("make_pendulum_logs.py")))
    fresh = make["generate"](tmp_path / "pendulum_logs.csv")
    assert fresh.read_bytes() == EXAMPLE.read_bytes()


# ---- the outlier rule (importers/outliers.py): one bad sample is refused ----


def _pendulum(**changes: tuple[int, float]) -> pd.DataFrame:
    """The shipped example log with ``column=(row, value)`` changes."""
    df = pd.read_csv(EXAMPLE)
    for col, (row, value) in changes.items():
        df.loc[df.index[row], col] = value
    return df


def test_one_50_rad_sample_in_an_episode_is_refused():
    with pytest.raises(TrajmbrlError, match=r"column 'q' .*50.* at data row\(s\) 31 "):
        episodes_from_table(_pendulum(q=(30, 50.0)), COLS)
    states, *_ = episodes_from_table(_pendulum(q=(30, 50.0)), COLS, allow_outliers=True)
    assert np.concatenate(states)[30, 0] == 50.0


def test_a_single_sample_spike_inside_the_range_is_refused():
    # 15 rad is within 200 robust spreads (0.18) of the median but far from both neighbours
    with pytest.raises(TrajmbrlError, match=r"column 'q' jumps to 15 at data row\(s\) 41 and back"):
        episodes_from_table(_pendulum(q=(40, 15.0)), COLS)


def test_an_extreme_theta_is_refused():
    df = _pendulum()
    df.loc[df["episode"] == 3, "kp"] = 1e30
    first = int(np.flatnonzero(df["episode"].to_numpy() == 3)[0]) + 1
    with pytest.raises(TrajmbrlError, match=rf"theta column 'kp' .*1e\+30.*row\(s\) {first} "):
        episodes_from_table(df, COLS)
    *_, theta, _ = episodes_from_table(df, COLS, allow_outliers=True)
    assert theta[:, 0].max() == 1e30


def test_a_step_change_is_not_a_spike():
    df = _pendulum()
    ep = df["episode"].to_numpy() == 0
    tau = np.where(np.arange(ep.sum()) < 30, -8.0, 8.0)  # bang-bang: one switch, no glitch
    df.loc[ep, "tau"] = tau
    episodes_from_table(df, COLS)


def test_the_shipped_logs_are_far_inside_the_rule():
    from trajmbrl.data.importers import CF_TIME
    from trajmbrl.data.importers.outliers import refuse_outliers

    df = read_table(packaged_crazyflie_csv())
    names = [c for c, _, _ in CF_STATE] + list(CF_ACTION)
    flights = np.concatenate([[0], np.cumsum(np.diff(df[CF_TIME].to_numpy()) < 0)])
    refuse_outliers(df[names].to_numpy(float), names, "cf.csv", flights)
    import_logs(EXAMPLE, COLS)


def test_collect_refuses_a_glitch_and_imports_it_when_allowed(tmp_path):
    from conftest import compose_cfg
    from trajmbrl.modes import MODES

    df = pd.read_csv(EXAMPLE)
    df.loc[30, "q"] = 50.0
    log = tmp_path / "glitch.csv"
    df.to_csv(log, index=False)
    args = [
        "envs=logs",
        "mode=collect",
        f"paths.root={tmp_path}",
        f"logs.path={log}",
        "logs.state=[q,qd]",
        "logs.action=[tau]",
        "logs.theta=[kp,kd]",
        "logs.episode=episode",
    ]
    with pytest.raises(
        TrajmbrlError, match=r"column 'q' .* data row\(s\) 31 .*allow_outliers=true$"
    ):
        MODES["collect"](compose_cfg(*args))
    assert not list(tmp_path.rglob("*.npz"))  # refused before any dataset is written
    MODES["collect"](compose_cfg(*args, "logs.allow_outliers=true"))
    data = load_dataset(tmp_path / "trajectories" / "logs" / "default")
    assert np.nanmax(data.states[..., 0]) == 50.0
