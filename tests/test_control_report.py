"""The control table's evidence: intervals, episodes-to-reach, headroom, the paired test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.reports.control import (
    bootstrap_mean_ci,
    can_reject,
    episodes_to_reach,
    final_table,
    holm,
)


def _runs(method: str, model: str | None, finals: np.ndarray, first: float) -> list[dict]:
    """Two rounds per seed: ``first`` after 10 episodes, ``finals[seed]`` after 20."""
    rows = []
    for seed, final in enumerate(finals):
        for rnd, (eps, score) in enumerate([(10, first), (20, final)]):
            rows.append(
                dict(
                    env="toy",
                    method=method,
                    model=model,
                    seed=seed,
                    round=rnd,
                    episodes=eps,
                    true_score=score,
                    true_std=0.0,
                    predicted_score=np.nan,
                    wall_clock=1.0,
                    theta="null",
                )
            )
    return rows


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 10)
    rows = (
        _runs("reference", None, np.full(10, 0.3), 0.3)
        + _runs("env_cma", None, 0.5 + noise, 0.4)
        + _runs("random", None, 0.45 + noise, 0.4)
        + _runs("model_cma", "te", 0.8 + noise, 0.9)  # reaches the target after 10 episodes
        + _runs("model_cma_onestep", "de", 0.5 + noise[::-1], 0.4)
        + _runs("mpc_true", "true", np.full(10, 0.9), 0.9)
    )
    return pd.DataFrame(rows)


def test_the_table_has_intervals_reach_headroom_and_verdicts_against_the_best_model_free():
    t = final_table(_frame()).set_index("method")
    assert np.allclose(t["best_known"], 0.9) and np.allclose(t["headroom"], 0.6)
    assert t.loc["model_cma", "true_lo"] < 0.8 < t.loc["model_cma", "true_hi"]
    assert np.isclose(t.loc["reference", "true_lo"], 0.3) and np.isclose(
        t.loc["reference", "true_hi"], 0.3
    )
    # the target is 0.95 * 0.9: model_cma reaches it in round 0 (10 episodes), env_cma never
    assert t.loc["model_cma", "reach_episodes"] == 10 and t.loc["model_cma", "reach_share"] == 1
    assert np.isinf(t.loc["env_cma", "reach_episodes"]) and t.loc["env_cma", "reach_share"] == 0
    assert t.loc["model_cma", "vs"] == "env_cma" and t.loc["model_cma", "verdict"] == "wins"
    assert t.loc["model_cma", "p_holm"] < 0.01
    assert t.loc["model_cma_onestep", "verdict"] == "ties"
    # ceilings, the reference and the model-free rows are not tested
    assert (t.loc[["mpc_true", "reference", "env_cma", "random"], "verdict"] == "").all()


def test_five_seeds_cannot_give_a_verdict_below_five_pairs():
    frame = _frame()
    t = final_table(frame[frame["seed"] < 4]).set_index("method")
    assert t.loc["model_cma", "verdict"] == "n/a (< 5 seeds)"


def test_the_bootstrap_interval_and_holm_on_known_cases():
    np.testing.assert_allclose(bootstrap_mean_ci(np.full(7, 2.5)), (2.5, 2.5))
    lo, hi = bootstrap_mean_ci(np.array([0.0, 1.0] * 50), draws=20000)
    # the mean of 100 fair coin flips: standard error 0.05, so about +-0.098
    assert abs(lo - 0.402) < 0.01 and abs(hi - 0.598) < 0.01
    np.testing.assert_allclose(
        holm(np.array([0.01, 0.04, np.nan, 0.03])), [0.03, 0.06, np.nan, 0.06]
    )
    runs = pd.DataFrame(_runs("m", None, np.array([0.2, 0.9]), 0.5))
    np.testing.assert_array_equal(episodes_to_reach(runs, 0.8), [np.inf, 20.0])


def test_a_test_without_power_is_no_tie():
    """6 seeds, every one far below the best model-free method: the exact Wilcoxon p is at best
    2/64, times 2 tests after Holm = 0.0625, so the verdict is n/a, not 'ties'."""
    frame = _frame()
    six = frame[frame["seed"] < 6].copy()
    six.loc[six["method"] == "model_cma", "true_score"] = 0.1  # far worse than env_cma
    t = final_table(six).set_index("method")
    assert t.loc["model_cma", "p_holm"] >= 0.05
    assert t.loc["model_cma", "verdict"] == "n/a (6 seeds: the test cannot reach 5%)"
    assert can_reject(10, 4) and not can_reject(6, 4) and can_reject(6, 1) and not can_reject(4, 1)
    assert final_table(frame).set_index("method").loc["model_cma_onestep", "verdict"] == "ties"
