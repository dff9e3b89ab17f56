"""The hierarchical bootstrap (reports/bootstrap.py) on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from trajmbrl.errors import ArgumentError
from trajmbrl.reports.bootstrap import BootstrapSettings, bootstrap_rows


def test_constant_errors_give_a_zero_width_interval() -> None:
    boot = bootstrap_rows({"a": np.full((3, 5, 20), 0.25), "b": np.full((3, 1, 20), 0.5)})
    assert boot.median_interval("a", 0.95) == (0.25, 0.25)
    assert boot.ratio("a", "b") == 0.5
    assert boot.ratio_interval("a", "b", 0.95) == (0.5, 0.5)


def test_two_datasets_resampled_as_units() -> None:
    """Dataset 0 has errors 1, dataset 1 errors 3: a replicate draws {0,0} (p 1/4, median 1),
    {1,1} (p 1/4, median 3) or one of each (p 1/2, median 2). A bootstrap of the pooled
    trajectories alone would put nearly every replicate at 2."""
    errors = np.stack([np.ones((2, 30)), np.full((2, 30), 3.0)])  # (D=2, S=2, N=30)
    boot = bootstrap_rows({"a": errors}, BootstrapSettings(replicates=4000, seed=1))
    reps = boot.replicates["a"]
    assert set(np.unique(reps)) == {1.0, 2.0, 3.0}
    assert np.mean(reps == 1.0) == pytest.approx(0.25, abs=0.03)
    assert np.mean(reps == 2.0) == pytest.approx(0.5, abs=0.03)
    assert boot.median_interval("a", 0.95) == (1.0, 3.0)
    assert boot.median["a"] == 2.0


def test_one_dataset_one_seed_is_the_percentile_bootstrap_of_the_median() -> None:
    """D = S = 1: the ordinary bootstrap of a median; scipy's percentile interval agrees."""
    from scipy.stats import bootstrap

    x = np.random.default_rng(0).lognormal(size=41)
    boot = bootstrap_rows({"a": x[None, None]}, BootstrapSettings(replicates=4000, seed=2))
    ref = bootstrap(
        (x,), np.median, n_resamples=4000, method="percentile", random_state=3
    ).confidence_interval
    lo, hi = boot.median_interval("a", 0.95)
    width = ref.high - ref.low
    assert lo == pytest.approx(ref.low, abs=0.15 * width)
    assert hi == pytest.approx(ref.high, abs=0.15 * width)


def test_seeds_are_a_level_of_their_own() -> None:
    """One dataset, two seeds with errors 1 and 5 on every trajectory: a replicate draws both
    seeds' values (median 3, p 1/2) or one seed twice (1 or 5, p 1/4 each)."""
    errors = np.stack([np.ones(25), np.full(25, 5.0)])[None]  # (1, 2, 25)
    reps = bootstrap_rows({"a": errors}, BootstrapSettings(replicates=4000)).replicates["a"]
    assert np.mean(reps == 5.0) == pytest.approx(0.25, abs=0.03)
    assert np.mean(reps == 3.0) == pytest.approx(0.5, abs=0.03)


def test_pairing_a_ratio_of_rows_that_move_together_is_exact() -> None:
    """b = 2 a on every trajectory: the medians move together under the shared draws, so the
    ratio's interval has zero width although each median's interval does not."""
    a = np.random.default_rng(4).lognormal(size=(3, 1, 40))
    boot = bootstrap_rows({"a": a, "b": 2 * a})
    lo, hi = boot.median_interval("a", 0.95)
    assert hi > lo
    assert boot.ratio_interval("a", "b", 0.95) == pytest.approx((0.5, 0.5))


def test_diverged_errors_stay_in_the_median_and_padding_does_not() -> None:
    errors = np.array([[[1.0, np.inf, np.inf, np.nan]], [[1.0, 1.0, 2.0, 1e7]]])  # (2, 1, 4)
    boot = bootstrap_rows({"a": errors}, BootstrapSettings(replicates=200))
    assert boot.median["a"] == 2.0  # pooled: 1, inf, inf, 1, 1, 2, inf
    assert np.isinf(boot.replicates["a"]).any()
    assert not np.isnan(boot.replicates["a"]).any()


def test_same_seed_same_replicates_and_bad_input_named() -> None:
    errors = {"a": np.random.default_rng(5).random((3, 5, 10)), "b": np.ones((3, 1, 10))}
    one = bootstrap_rows(errors, BootstrapSettings(seed=7)).replicates["a"]
    again = bootstrap_rows(dict(reversed(errors.items())), BootstrapSettings(seed=7))
    np.testing.assert_array_equal(one, again.replicates["a"])
    with pytest.raises(ArgumentError, match="errors must be"):
        bootstrap_rows({"a": np.ones((3, 5, 10)), "b": np.ones((2, 1, 10))})
    with pytest.raises(ArgumentError, match="level"):
        BootstrapSettings(level=1.5)
