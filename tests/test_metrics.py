"""The paper's error metric, divergence accounting and statistics."""

import numpy as np

from trajmbrl.evaluation.metrics import (
    diverged,
    divergence_share,
    horizon_summary,
    normalised_mse,
    paired_wilcoxon,
    tidy_errors,
)


def test_normalised_mse_uses_the_given_range():
    true = np.zeros((1, 2, 2))
    pred = np.array([[[1.0, 2.0], [0.5, 0.0]]])
    mse = normalised_mse(true, pred, np.array([0.0, 0.0]), np.array([2.0, 4.0]))
    np.testing.assert_allclose(mse, [[(0.25 + 0.25) / 2, 0.0625 / 2]])


def test_nonfinite_predictions_count_as_diverged_and_never_crash():
    true = np.zeros((3, 4, 2))
    pred = np.zeros((3, 4, 2))
    pred[1, 2:] = np.nan
    pred[2, 3, 0] = 5.0
    mse = normalised_mse(true, pred, np.zeros(2), np.ones(2))
    assert np.isinf(mse[1, 2]) and mse[2, 3] == 12.5
    np.testing.assert_array_equal(diverged(mse), [False, True, True])
    frame = tidy_errors(mse, model="d")
    summary = horizon_summary(frame, ["model"])
    assert np.isfinite(summary[["median", "p10", "p90", "mean"]].to_numpy()).all()
    assert divergence_share(frame, ["model"])["diverged"].iloc[0] == 2 / 3


def test_missing_truth_is_dropped_not_scored():
    true = np.zeros((1, 3, 1))
    true[0, 2] = np.nan
    mse = normalised_mse(true, np.ones((1, 3, 1)), np.zeros(1), np.ones(1))
    frame = tidy_errors(mse, model="t")
    assert list(frame["horizon"]) == [1, 2]


def test_summary_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    mse = rng.lognormal(size=(101, 3))
    s = horizon_summary(tidy_errors(mse, model="t"), ["model"])
    np.testing.assert_allclose(s["median"], np.median(mse, axis=0))
    np.testing.assert_allclose(s["p90"], np.percentile(mse, 90, axis=0))


def test_wilcoxon_detects_a_consistent_difference():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=40)
    assert paired_wilcoxon(a, a + 0.1) < 1e-6
    assert paired_wilcoxon(a, a + rng.normal(scale=0.1, size=40)) > 0.01
    assert np.isnan(paired_wilcoxon(a, a))


def test_tables_stop_where_most_trajectories_have_ended():
    from trajmbrl.evaluation.metrics import median_table, table_horizons

    mse = np.full((4, 30), 0.1)
    mse[1:, 10:] = np.nan  # three of four logs end after 10 steps
    frame = tidy_errors(mse, model="t")
    assert table_horizons(frame, [1, 10, 30]) == [1, 10]
    assert list(median_table(frame, [1, 10, 30]).columns) == ["h=1", "h=10", "diverged"]
