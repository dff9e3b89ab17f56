"""Section 5.5 reward prediction: returns, direct baselines, table and figure."""

from __future__ import annotations

import numpy as np
import pytest

from toy import toy_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.regressors import baseline_inputs, fit_direct_nn, fit_gp
from trajmbrl.evaluation.returns import REWARDS, returns, reward_for, true_returns
from trajmbrl.evaluation.reward import reward_prediction
from trajmbrl.evaluation.reward_tables import reward_frame, reward_table
from trajmbrl.plotting.reward import reward_figure


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return 1.0 - float(np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def _quadratic(s: np.ndarray) -> np.ndarray:
    return -(s**2).sum(-1)


def test_cartpole_returns_of_known_states():
    states = np.zeros((2, 3, 4))
    states[0, :, 0] = [1.0, 2.0, 0.0]  # x
    states[0, :, 2] = [0.0, 0.0, 2.0]  # theta
    states[1, :, 1] = 100.0  # velocities do not count
    np.testing.assert_allclose(returns(states), [-(1 + 4 + 4) / 200.0, 0.0])
    assert reward_for("cartpole") is REWARDS["cartpole"]


def test_true_returns_skip_the_reset_state():
    data = toy_dataset(n=3, horizon=5)
    data.states[:, 0] = 1e6  # s_0 must not enter R
    expect = _quadratic(data.states[:, 1:4]).sum(1)
    np.testing.assert_allclose(true_returns(data, 3, _quadratic), expect)
    with pytest.raises(TrajmbrlError, match=r"^horizon=6 must lie in \[1, 5\]"):
        true_returns(data, 6, _quadratic)


def test_registry_index_assumptions():
    reacher = np.zeros((1, 2, 18))
    reacher[0, 1, 15:18] = [3.0, 4.0, 0.0]
    reacher[0, :, :15] = 9.0
    np.testing.assert_allclose(returns(reacher, REWARDS["reacher"]), [-5.0])
    cf = np.zeros((1, 1, 9))
    cf[0, 0, 3:5] = [1.0, 2.0]
    cf[0, 0, 5:] = 7.0
    np.testing.assert_allclose(returns(cf, REWARDS["crazyflie"]), [-5.0])
    with pytest.raises(TrajmbrlError, match="18-dim"):
        returns(np.zeros((1, 2, 4)), REWARDS["reacher"])
    with pytest.raises(TrajmbrlError, match="env.name"):
        reward_for("lorenz")


def test_gp_recovers_smooth_function():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(120, 3))
    y = 50.0 * np.sin(x[:, 0]) + 20.0 * x[:, 1] ** 2 - 300.0  # third input irrelevant
    gp = fit_gp(x[:80], y[:80], seed=0)
    assert _r2(y[80:], gp(x[80:])) > 0.9
    ls = gp.gp.kernel_.k1.k2.length_scale  # ARD: the irrelevant dimension gets the longest scale
    assert ls[2] > ls[0] and ls[2] > ls[1]
    np.testing.assert_array_equal(gp(x[80:]), fit_gp(x[:80], y[:80], seed=0)(x[80:]))
    with pytest.raises(TrajmbrlError, match=r"\(M, 3\)"):
        gp(x[:, :2])


def test_direct_nn_fits_simple_function():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(300, 4))
    y = 10.0 * x[:, 0] - 5.0 * x[:, 1] * x[:, 2] + 100.0
    nn = fit_direct_nn(x[:240], y[:240], seed=0, epochs=100)
    pred = nn(x[240:])
    assert pred.shape == (60,)
    assert _r2(y[240:], pred) > 0.95
    with pytest.raises(TrajmbrlError, match=r"\(M, 4\)"):
        nn(x[:, :3])


def test_table_rank_correlation_of_monotone_transform():
    true = -np.linspace(1.0, 50.0, 20)
    table = reward_table(true, {"exact": true, "cubic": true**3, "flip": -true})
    row = table.set_index("method")
    assert row.loc["cubic", "spearman"] == pytest.approx(1.0)
    assert row.loc["cubic", "kendall"] == pytest.approx(1.0)
    assert row.loc["flip", "spearman"] == pytest.approx(-1.0)
    assert row.loc["exact", "mse"] == 0.0 and row.loc["exact", "mae"] == 0.0
    assert row.loc["flip", "mae"] == pytest.approx(2 * np.abs(true).mean())


def test_diverged_predictions_are_counted_not_fatal():
    true = np.array([-1.0, -2.0, -3.0, -4.0])
    states = np.zeros((4, 2, 4))
    states[0, 1, 0] = np.nan
    states[1, 1, 2] = 1e200  # overflows to -inf inside the reward, silently
    states[2:, :, 0] = [[1.0, 1.0], [2.0, 2.0]]
    pred = returns(states)
    assert not np.isfinite(pred[:2]).any() and np.isfinite(pred[2:]).all()
    flags = {"m": np.array([False, False, True, False])}  # roll-out diverged, return finite
    table = reward_table(
        true, {"m": pred, "all_bad": np.full(4, np.nan)}, diverged=flags
    ).set_index("method")
    assert table.loc["m", "n_diverged"] == 3 and table.loc["m", "share_diverged"] == 0.75
    # kept, not dropped: infinite errors, and the two blown-up roll-outs rank as the worst
    # controllers although their true returns are the best two
    assert np.isinf(table.loc["m", ["mse", "median_se", "mae"]].astype(float)).all()
    assert table.loc["m", "spearman"] == pytest.approx(-0.7378648)  # ranks [1.5, 1.5, 4, 3]
    assert table.loc["all_bad", "share_diverged"] == 1.0
    assert np.isinf(table.loc["all_bad", "mse"]) and np.isnan(table.loc["all_bad", "spearman"])
    frame = reward_frame(true, {"m": pred}, diverged=flags)
    assert list(frame.columns) == ["traj", "method", "true_return", "predicted_return", "diverged"]
    assert frame["diverged"].tolist() == [True, True, True, False]
    one = reward_table(true[1:], {"m": pred[1:]}).set_index("method")  # one of three diverged
    assert np.isfinite(one.loc["m", "median_se"]) and np.isinf(one.loc["m", "mse"])


def test_reward_prediction_end_to_end_uses_train_split_only():
    data = toy_dataset(n=40, horizon=8, test=10)
    train, test = data.train(), data.test()
    exact = test.states[:, 1:]
    table, frame = reward_prediction(
        test, train, {"t": exact}, reward_fn=_quadratic, seed=0, nn_epochs=100
    )
    row = table.set_index("method")
    assert list(row.index) == ["t", "gp", "nn"]
    assert row.loc["t", "mse"] == 0.0 and row.loc["t", "spearman"] == pytest.approx(1.0)
    assert len(frame) == 3 * test.num
    np.testing.assert_allclose(baseline_inputs(test)[:, 2:], test.params)
    again, _ = reward_prediction(
        test, train, {"t": exact}, reward_fn=_quadratic, seed=0, nn_epochs=100
    )
    assert again.equals(table)
    with pytest.raises(TrajmbrlError, match="test split"):
        reward_prediction(train, train, {}, reward_fn=_quadratic)
    with pytest.raises(TrajmbrlError, match="train split"):
        reward_prediction(test, test, {"t": exact}, reward_fn=_quadratic)


def test_reward_figure_writes_png_and_pdf(tmp_path):
    rng = np.random.default_rng(2)
    true = rng.uniform(-800, -10, 30)
    pred = {"t": true + rng.normal(0, 20, 30), "d": true * 3.0, "gp": true + 5.0}
    pred["d"][:3] = np.nan
    pred["d"][3] = -1e9  # far outside: clipped to the axis edge
    paths = reward_figure(reward_frame(true, pred), tmp_path / "reward_pred")
    assert [p.name for p in paths] == ["reward_pred.png", "reward_pred.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
