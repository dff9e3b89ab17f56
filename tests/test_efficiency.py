"""Section 5.4 data-efficiency scores, evaluation-set selection, grid aggregation and heat-maps."""

import itertools

import numpy as np
import pandas as pd
import pytest

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.efficiency import (
    MSE_CAP,
    aggregate_grid,
    efficiency_scores,
    grid_cell,
    select_eval_trajectories,
    tidy_scores,
)
from trajmbrl.plotting.heatmaps import efficiency_heatmaps


def _series(n=2, h=50, ds=3):
    t = np.linspace(0, 4 * np.pi, h)
    phases = np.arange(n * ds).reshape(n, 1, ds)
    return np.sin(t[None, :, None] + phases) + 0.3


def test_identical_predictions_score_perfectly():
    true = _series()
    s = efficiency_scores(true, true.copy())
    np.testing.assert_allclose(s["mse"], 0.0)
    np.testing.assert_allclose(s["cosine"], 1.0)
    np.testing.assert_allclose(s["gaussian"], 1.0)
    assert set(s) == {"mse", "cosine", "gaussian"} and s["mse"].shape == (2,)


def test_scaled_copy_keeps_cosine_but_not_mse_and_sign_flip_gives_minus_one():
    true = _series()
    scaled = efficiency_scores(true, 3.0 * true)
    np.testing.assert_allclose(scaled["cosine"], 1.0)
    np.testing.assert_allclose(scaled["mse"], (4.0 * true**2).mean(axis=(1, 2)))
    assert (scaled["gaussian"] < 1.0).all()
    flipped = efficiency_scores(true, -true)
    np.testing.assert_allclose(flipped["cosine"], -1.0)


def test_gaussian_and_cosine_by_hand():
    true = np.zeros((1, 2, 2))
    true[0, :, 0] = [1.0, 0.0]
    true[0, :, 1] = [1.0, 1.0]
    pred = np.zeros((1, 2, 2))
    pred[0, :, 0] = [0.0, 1.0]  # orthogonal in dim 0
    pred[0, :, 1] = [1.0, 1.2]
    s = efficiency_scores(true, pred)
    errs = np.array([-1.0, 1.0, 0.0, 0.2])
    np.testing.assert_allclose(s["gaussian"], np.exp(-((5 * errs) ** 2)).mean())
    np.testing.assert_allclose(s["mse"], (errs**2).mean())
    cos1 = (1.0 + 1.2) / (np.sqrt(2) * np.sqrt(1 + 1.44))
    np.testing.assert_allclose(s["cosine"], (0.0 + cos1) / 2)


def test_zero_norm_and_nonfinite_predictions():
    true = _series(n=3)
    pred = true.copy()
    pred[0, :, 1] = 0.0  # zero-norm predicted series -> that dim scores 0
    pred[1, 7, 2] = np.nan
    pred[2, 30:] = np.inf
    s = efficiency_scores(true, pred)
    np.testing.assert_allclose(s["cosine"][0], 2 / 3)
    assert np.isinf(s["mse"][1:]).all() and np.isfinite(s["mse"][0])
    np.testing.assert_array_equal(s["cosine"][1:], 0.0)
    np.testing.assert_array_equal(s["gaussian"][1:], 0.0)
    huge = efficiency_scores(true[:1], true[:1] * 1e200)  # finite but overflowing error
    assert np.isinf(huge["mse"][0]) and huge["gaussian"][0] == 0.0
    np.testing.assert_allclose(huge["cosine"], 1.0)


def test_normalised_variant_divides_errors_by_the_range():
    true = _series(n=1, ds=2)
    pred = true + np.array([0.5, 1.0])
    raw = efficiency_scores(true, pred)
    norm = efficiency_scores(true, pred, np.array([-1.0, 0.0]), np.array([1.0, 4.0]))
    np.testing.assert_allclose(raw["mse"], (0.25 + 1.0) / 2)
    np.testing.assert_allclose(norm["mse"], (0.0625 + 0.0625) / 2)
    with pytest.raises(TrajmbrlError, match="both"):
        efficiency_scores(true, pred, state_min=np.zeros(2))
    with pytest.raises(TrajmbrlError, match="shape"):
        efficiency_scores(true, pred[:, :-1])
    bad_truth = true.copy()
    bad_truth[0, -1, 0] = np.nan
    with pytest.raises(TrajmbrlError, match=r"fewer steps \(horizon\)"):
        efficiency_scores(bad_truth, pred)


def test_eval_trajectories_are_distinct_seeded_and_deterministic():
    a = select_eval_trajectories(100, 10, seed=3)
    assert a.shape == (10,) and len(np.unique(a)) == 10
    assert (a >= 0).all() and (a < 100).all() and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, select_eval_trajectories(100, 10, seed=3))
    assert not np.array_equal(a, select_eval_trajectories(100, 10, seed=4))
    np.testing.assert_array_equal(select_eval_trajectories(5, 5, seed=0), np.arange(5))
    with pytest.raises(TrajmbrlError, match=r"^k=11 .*only 10"):
        select_eval_trajectories(10, 11, seed=0)
    with pytest.raises(TrajmbrlError, match=r"^k must be >= 1"):
        select_eval_trajectories(10, 0, seed=0)


def test_tidy_scores_and_variant_names():
    s = {"mse": np.array([1.0, 2.0]), "cosine": np.array([0.5, 0.6])}
    f = tidy_scores(s, np.array([4, 9]), model="d", num_traj=3, t_range=20, seed=1)
    assert list(f.columns) == ["model", "num_traj", "t_range", "seed", "traj", "metric", "value"]
    assert f[f["metric"] == "cosine"]["traj"].tolist() == [4, 9]
    assert grid_cell("n=3_t=20") == (3, 20)
    with pytest.raises(TrajmbrlError, match="n=<num_traj>_t=<t_range>"):
        grid_cell("n=all_t=20")


def _hand_frame():
    # model d, one cell, 3 copies x 2 trajectories; per-copy means 1, 5, 3 -> median 3
    # (the median over all 6 values would be 2.5, the mean of per-traj medians 3.5)
    rows = []
    values = {0: (0.0, 2.0), 1: (4.0, 6.0), 2: (1.0, 5.0)}
    for seed, pair in values.items():
        for traj, v in zip((7, 8), pair):
            rows.append(("d", 3, 20, seed, traj, "mse", v))
            rows.append(("d", 3, 20, seed, traj, "cosine", v / 10))
    # model t: copy 0 has a diverged trajectory (inf -> capped at 100 before the mean)
    for seed, pair in {0: (np.inf, 0.0), 1: (1.0, 1.0), 2: (2.0, 2.0)}.items():
        for traj, v in zip((7, 8), pair):
            rows.append(("t", 3, 20, seed, traj, "mse", v))
    return pd.DataFrame(
        rows, columns=["model", "num_traj", "t_range", "seed", "traj", "metric", "value"]
    )


def test_aggregate_grid_is_median_over_copies_of_trajectory_means():
    agg = aggregate_grid(_hand_frame()).set_index(["model", "metric"])
    d = agg.loc[("d", "mse")]
    assert d["value"] == 3.0 and d["q25"] == 2.0 and d["q75"] == 4.0 and d["iqr"] == 2.0
    assert d["n_copies"] == 3 and d["n_traj"] == 2
    np.testing.assert_allclose(agg.loc[("d", "cosine"), "value"], 0.3)
    t = agg.loc[("t", "mse")]
    assert t["value"] == 2.0 and t["q75"] == (2.0 + MSE_CAP / 2) / 2
    uncapped = aggregate_grid(_hand_frame(), mse_cap=None).set_index(["model", "metric"])
    assert uncapped.loc[("t", "mse"), "value"] == 2.0
    with pytest.raises(TrajmbrlError, match="duplicate"):
        aggregate_grid(pd.concat([_hand_frame(), _hand_frame()]))
    with pytest.raises(TrajmbrlError, match="lacks columns"):
        aggregate_grid(_hand_frame().drop(columns="seed"))


def _grid_frame(ns, ts, seeds=(0, 1)):
    rng = np.random.default_rng(0)
    rows = []
    for model, n, t, seed, traj in itertools.product("dt", ns, ts, seeds, range(3)):
        base = 1.0 / (n * t) * (0.5 if model == "t" else 1.0)
        mse = base * rng.uniform(0.5, 1.5)
        rows += [
            (model, n, t, seed, traj, "mse", mse),
            (model, n, t, seed, traj, "cosine", 1 - mse),
            (model, n, t, seed, traj, "gaussian", np.exp(-mse)),
        ]
    return pd.DataFrame(
        rows, columns=["model", "num_traj", "t_range", "seed", "traj", "metric", "value"]
    )


def test_heatmaps_written_for_a_grid(tmp_path):
    agg = aggregate_grid(_grid_frame(ns=(1, 3, 5), ts=(10, 20)))
    paths = efficiency_heatmaps(agg, tmp_path / "fig", formats=("png",))
    assert sorted(p.name for p in paths) == [
        "efficiency_cosine.png",
        "efficiency_gaussian.png",
        "efficiency_mse.png",
        "efficiency_mse_ratio_t_over_d.png",
    ]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_line_plots_when_one_axis_varies(tmp_path):
    agg = aggregate_grid(_grid_frame(ns=(1, 3, 5, 7), ts=(100,), seeds=(0,)))
    mse = agg[agg["metric"] == "mse"]
    paths = efficiency_heatmaps(mse, tmp_path)  # default formats: png and pdf
    assert sorted(p.name for p in paths) == [
        "efficiency_mse.pdf",
        "efficiency_mse.png",
        "efficiency_mse_ratio_t_over_d.pdf",
        "efficiency_mse_ratio_t_over_d.png",
    ]
    only_d = efficiency_heatmaps(mse[mse["model"] == "d"], tmp_path / "d", formats=("png",))
    assert [p.name for p in only_d] == ["efficiency_mse.png"] and only_d[0].exists()
    with pytest.raises(TrajmbrlError, match="empty"):
        efficiency_heatmaps(agg.iloc[:0], tmp_path)
