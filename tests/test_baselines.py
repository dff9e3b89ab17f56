"""Known answers for the horizon baselines: hmean, lint, lin and oracle roll-outs, protocols."""

import numpy as np
import pytest
import torch

from toy import A, B, ToySampler, closed_loop, toy_dataset, toy_step
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.evaluation.horizon import baseline_predictions
from trajmbrl.evaluation.oracle import PERTURBATION, oracle_rollout, perturbed_start


def forced_dataset(n: int = 14, horizon: int = 8, seed: int = 1) -> TrajectoryData:
    """s_{t+1} = A s_t + B (c . theta): s_h is exactly linear in [s_0, theta, 1]; the last 3
    trajectories are the test split, train lengths vary (NaN-padded)."""
    rng = np.random.default_rng(seed)
    c = np.array([0.7, -0.3, 1.1])
    params = rng.normal(size=(n, 3))
    states = np.full((n, horizon + 1, 2), np.nan)
    states[:, 0] = rng.normal(size=(n, 2))
    actions = np.repeat((params @ c)[:, None, None], horizon, axis=1)
    for t in range(horizon):
        states[:, t + 1] = states[:, t] @ A.T + actions[:, t] @ B.T
    lengths = np.full(n, horizon)
    lengths[:4] = [3, 5, 6, 7]
    for i, length in enumerate(lengths):
        states[i, length + 1 :] = np.nan
    split = (np.arange(n) >= n - 3).astype(np.int8)
    return TrajectoryData(
        states=states,
        actions=actions,
        params=params,
        rewards=np.zeros((n, horizon)),
        lengths=lengths,
        seeds=np.arange(n),
        split=split,
    )


def test_hmean_is_the_training_mean_over_trajectories_that_reach_h():
    data = forced_dataset()
    train, test = data.train(), data.test()
    pred = baseline_predictions("hmean", train, test, 8)["direct"][0]
    for h in (1, 4, 8):
        reach = train.lengths >= h
        expect = train.states[reach, h].mean(axis=0)
        np.testing.assert_allclose(pred[:, h - 1], np.broadcast_to(expect, (3, 2)), rtol=1e-12)
    assert np.isfinite(pred).all()


def test_lint_is_exact_on_a_linear_system_and_ridges_only_when_underdetermined(caplog):
    data = forced_dataset()
    pred = baseline_predictions("lint", data.train(), data.test(), 8)["direct"][0]
    np.testing.assert_allclose(pred, data.test().states[:, 1:], atol=1e-9)
    # 6 features ([s_0 (2), theta (3), 1]) but only 4 trajectories: minimal ridge, logged
    small = data.subset(np.r_[4:8, 11:14])
    with caplog.at_level("INFO", logger="trajmbrl"):
        pred = baseline_predictions("lint", small.train(), small.test(), 8)["direct"][0]
    assert "rank-deficient" in caplog.text and np.isfinite(pred).all()


def test_lin_is_exact_in_closed_loop_and_with_logged_actions():
    data = toy_dataset(n=8, horizon=10, test=3)
    test = data.test()
    preds = baseline_predictions(
        "lin", data.train(), test, 10, protocols=["logged", "controller"], sampler=ToySampler()
    )
    assert set(preds) == {"logged", "controller"}
    for source in preds:  # the one-step samples are float32: exact up to that
        np.testing.assert_allclose(preds[source][0], test.states[:, 1:], atol=1e-6)
    # closed loop: s_h = (A - B theta)^h s_0, whatever the logged actions were
    test.actions[:] = 0.0
    preds = baseline_predictions(
        "lin", data.train(), test, 10, protocols=["logged", "controller"], sampler=ToySampler()
    )
    np.testing.assert_allclose(
        preds["logged"][0][:, -1], test.states[:, 0] @ np.linalg.matrix_power(A, 10).T, atol=1e-6
    )
    maps = [np.linalg.matrix_power(closed_loop(th), 10) for th in test.params]
    expect = np.stack([m @ s for m, s in zip(maps, test.states[:, 0])])
    np.testing.assert_allclose(preds["controller"][0][:, -1], expect, atol=1e-6)


def test_oracle_of_a_noiseless_linear_system_stays_on_the_data_in_closed_loop():
    data = toy_dataset(n=4, horizon=300, test=2)
    test = data.test()
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    preds = oracle_rollout(
        toy_step, test, 300, ["logged", "controller"], sampler=ToySampler(), state_range=(lo, hi)
    )
    closed = np.abs(preds["controller"] - test.states[:, 1:]).max()
    logged = np.abs(preds["logged"] - test.states[:, 1:]).max()
    assert closed <= 2 * PERTURBATION * 2  # contracts back onto the data
    assert logged > closed  # the open loop (a Jordan block) drifts from the perturbation
    start = perturbed_start(test.states[:, 0], lo, hi)
    np.testing.assert_allclose(np.abs(start - test.states[:, 0]), 2 * PERTURBATION)


def test_cartpole_oracle_replays_the_logged_trajectory():
    from trajmbrl.controllers.lqr import LQRSampler
    from trajmbrl.data.collect import collect

    data, _ = collect(
        "trajmbrl/Cartpole-v0", LQRSampler("stable"), num_train=0, num_test=3, horizon=50, seed=0
    )
    lo, hi = data.state_bounds()
    preds = oracle_rollout(
        "cartpole",
        data,
        50,
        ["logged", "controller"],
        sampler=LQRSampler("stable"),
        state_range=(lo, hi),
    )
    for pred in preds.values():
        err = np.abs(pred - data.states[:, 1:]) / (hi - lo)
        assert err.max() < 1e-4


def test_batched_crazyflie_step_equals_the_env_step():
    from trajmbrl.envs.crazyflie import crazyflie_step, crazyflie_step_batch

    rng = np.random.default_rng(0)
    state = rng.normal(scale=0.2, size=(5, 12))
    pwm = rng.uniform(10000, 20000, size=(5, 4))
    batch = crazyflie_step_batch(state, pwm)
    for i in range(5):
        np.testing.assert_allclose(batch[i], crazyflie_step(state[i], pwm[i]), rtol=1e-12)


def test_reacher_replay_matches_mujoco_when_the_wrist_starts_at_rest():
    import gymnasium as gym

    from trajmbrl.envs.reacher import Reacher3DEnv
    from trajmbrl.evaluation.oracle import ReacherReplay

    env = gym.make("trajmbrl/Reacher3D-v0").unwrapped
    obs, _ = env.reset(
        seed=0,
        options={"qpos": [0.1, -0.2, 0.3, 0.1, 0.2, 0, 0], "qvel": [0.1, 0, -0.1, 0, 0.2, 0, 0]},
    )
    idx = list(Reacher3DEnv.STATE_INDICES)
    replay = ReacherReplay(1, obs[None, idx])
    rng = np.random.default_rng(0)
    for _ in range(5):
        u = rng.uniform(-3, 3, size=5)
        obs, *_ = env.step(u)
        pred = replay.step(torch.zeros(1, 18), torch.as_tensor(u[None]))
        np.testing.assert_allclose(pred.numpy()[0], obs[idx], atol=1e-9)


def test_unknown_baseline_is_refused():
    from trajmbrl.errors import TrajmbrlError

    data = toy_dataset()
    with pytest.raises(TrajmbrlError, match="^key accepts zero"):
        baseline_predictions("gp", data.train(), data.test(), 3)
