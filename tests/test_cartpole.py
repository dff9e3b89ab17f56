"""Cart-pole physics (spec 2.2) and its LQR controller/sampler (spec 3.3)."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest

import trajmbrl.envs  # noqa: F401 (registers the ids)
from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.controllers.lqr import (
    LQRController,
    LQRSampler,
    cartpole_linearization,
    env_kwargs_for_mode,
    lqr_gain,
    riccati_residual,
)
from trajmbrl.envs.cartpole import (
    THETA_THRESHOLD,
    CartpoleEnv,
    CartpoleParams,
    cartpole_dynamics,
    cartpole_energy,
    cartpole_step,
)
from trajmbrl.errors import TrajmbrlError


def spec_step(s: list[float], u: float) -> list[float]:
    """The spec's equations written out by hand for one state (g 9.8, m_c 1, m_p .1, l .5)."""
    x, xd, th, thd = s
    force = 10.0 * u
    temp = (force + 0.05 * thd**2 * math.sin(th)) / 1.1
    th_acc = (9.8 * math.sin(th) - math.cos(th) * temp) / (
        0.5 * (4.0 / 3.0 - 0.1 * math.cos(th) ** 2 / 1.1)
    )
    x_acc = temp - 0.05 * th_acc * math.cos(th) / 1.1
    return [x + 0.02 * xd, xd + 0.02 * x_acc, th + 0.02 * thd, thd + 0.02 * th_acc]


@pytest.mark.parametrize(
    ("state", "u"),
    [([0.1, 0.2, 0.05, -0.1], 0.5), ([-1.0, -0.3, 0.35, 1.2], -0.8), ([0.0, 0.0, 2.5, 3.0], 0.0)],
)
def test_one_step_matches_spec_equations(state, u):
    got = cartpole_step(np.array([state]), np.array([u]))[0]
    np.testing.assert_allclose(got, spec_step(state, u), rtol=1e-12, atol=1e-14)


def test_hand_computed_value():
    # theta = 0, rest, u = 1: temp = 10/1.1, th_acc = -temp / (0.5 (4/3 - 0.1/1.1)) = -14.634...
    nxt = cartpole_step(np.zeros((1, 4)), np.array([1.0]))[0]
    th_acc = -(10 / 1.1) / (0.5 * (4 / 3 - 0.1 / 1.1))
    x_acc = 10 / 1.1 - 0.05 * th_acc / 1.1
    np.testing.assert_allclose(nxt, [0.0, 0.02 * x_acc, 0.0, 0.02 * th_acc], rtol=1e-12)
    assert th_acc == pytest.approx(-14.634146, rel=1e-6)


def test_env_clips_actions_and_matches_pure_step():
    env = CartpoleEnv()
    s0, _ = env.reset(seed=3)
    s1, reward, terminated, truncated, info = env.step(np.array([7.0]))
    assert info["action"] == 1.0 and not terminated and not truncated
    np.testing.assert_array_equal(s1, cartpole_step(s0[None], np.array([1.0]))[0])
    assert reward == pytest.approx(-(s0[0] ** 2 + s0[2] ** 2) / 200.0)  # r(s_t), not r(s_t+1)
    with pytest.raises(TrajmbrlError, match="1 entry"):
        env.step(np.zeros(2))


def test_upright_rest_is_an_exact_equilibrium():
    env = CartpoleEnv()
    env.reset(seed=0, options={"state": np.zeros(4)})
    for _ in range(100):
        s, reward, terminated, _, _ = env.step(np.zeros(1))
    assert np.array_equal(s, np.zeros(4)) and reward == 0.0 and not terminated


def test_released_pole_falls_and_terminates():
    env = CartpoleEnv()
    env.reset(options={"state": [0.0, 0.0, 0.01, 0.0]})
    thetas = []
    for _ in range(200):
        s, _, terminated, _, _ = env.step(np.zeros(1))
        thetas.append(s[2])
        if terminated:
            break
    assert terminated and s[2] > THETA_THRESHOLD
    assert np.all(np.diff(thetas) > 0)  # the pole accelerates away from upright
    assert s[0] < 0.0  # the reaction pushes the cart the other way


def test_energy_and_momentum_conserved_with_first_order_drift():
    s0 = np.array([[0.0, 0.3, 0.5, 0.0], [0.2, -0.1, -1.0, 2.0]])

    def drift(tau: float) -> tuple[float, float]:
        prm = CartpoleParams(tau=tau)
        s = s0.copy()
        for _ in range(round(0.5 / tau)):
            s = cartpole_step(s, np.zeros(2), prm)
        e0, e1 = cartpole_energy(s0, prm), cartpole_energy(s, prm)
        mom = lambda z: 1.1 * z[:, 1] + 0.05 * np.cos(z[:, 2]) * z[:, 3]  # noqa: E731
        return float(np.abs(e1 - e0).max()), float(np.abs(mom(s) - mom(s0)).max())

    e_coarse, p_coarse = drift(2e-4)
    e_fine, p_fine = drift(1e-4)
    assert e_fine < 2e-3 * float(np.abs(cartpole_energy(s0)).max())
    assert p_fine < 1e-3
    assert e_fine / e_coarse == pytest.approx(0.5, abs=0.05)  # explicit Euler: O(tau)


def test_linearization_matches_finite_differences():
    a, b = cartpole_linearization()
    eps = 1e-6
    num_a = np.zeros((4, 4))
    for j in range(4):
        d = np.zeros((1, 4))
        d[0, j] = eps
        num_a[:, j] = (cartpole_dynamics(d, np.zeros(1)) - cartpole_dynamics(-d, np.zeros(1)))[0]
    num_a /= 2 * eps
    num_b = (
        cartpole_dynamics(np.zeros((1, 4)), np.array([eps]))
        - cartpole_dynamics(np.zeros((1, 4)), np.array([-eps]))
    )[0] / (2 * eps)
    np.testing.assert_allclose(a, num_a, atol=1e-7)
    np.testing.assert_allclose(b[:, 0], num_b, atol=1e-7)
    # the original's A put g m_p/m_c on the velocity diagonal (spec 8.6); the true one has 0
    assert a[1, 1] == 0.0 and a[1, 2] < 0.0


def test_lqr_gain_solves_care_and_stabilises_linear_model():
    k = lqr_gain()
    assert riccati_residual() < 1e-10
    a, b = cartpole_linearization()
    assert np.linalg.eigvals(a - b @ k[None]).real.max() < -0.5
    assert k[0] == pytest.approx(-math.sqrt(0.5), rel=1e-6)  # K_x = -sqrt(q_x / r) here
    assert np.all(k < 0)


def test_lqr_closes_loop_on_nonlinear_env():
    env = CartpoleEnv(init_x=0.2, init_theta=0.15)
    ctrl = LQRController(lqr_gain()[None])
    for seed in range(3):
        s, _ = env.reset(seed=seed)
        for _ in range(200):
            s, _, terminated, _, _ = env.step(ctrl.act(s[None])[0])
            assert not terminated
        assert np.abs(s).max() < 0.01


def test_controller_clips_and_batches():
    k = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0]])
    u = LQRController(k).act(np.array([[0.3, 9, 9, 9], [0, 0, 5.0, 0]]))
    np.testing.assert_allclose(u, [[-0.3], [1.0]])
    with pytest.raises(TrajmbrlError):
        LQRController(np.zeros(4))


def _rollout_share_failed(mode: str, n: int = 20, steps: int = 200) -> tuple[float, np.ndarray]:
    """Batch roll-out of n sampled gains on the true model, no termination."""
    sampler = LQRSampler(mode)
    rng = np.random.default_rng(7)
    k = np.stack([sampler.sample_params(rng) for _ in range(n)])
    lim = np.array([1.0, 0.05, 0.3, 0.05])
    s = rng.uniform(-lim, lim, size=(n, 4))
    ctrl = sampler.build(k)
    failed = np.zeros(n, dtype=bool)
    for _ in range(steps):
        s = cartpole_step(s, ctrl.act(s)[:, 0])
        failed |= (np.abs(s[:, 0]) > 9.6) | (np.abs(s[:, 2]) > THETA_THRESHOLD)
    return float(failed.mean()), s


def test_stable_mode_never_diverges_and_unstable_mostly_does():
    share_stable, s = _rollout_share_failed("stable")
    assert share_stable == 0.0 and np.abs(s).max() < 0.2
    share_unstable, _ = _rollout_share_failed("unstable")
    assert share_unstable >= 0.7  # measured 0.9-0.95 on 2000 draws


def test_unstable_mode_env_never_terminates():
    sampler = LQRSampler("unstable")
    assert sampler.env_overrides() == env_kwargs_for_mode("unstable") == {"terminate": False}
    assert env_kwargs_for_mode("stable") == {} and env_kwargs_for_mode("chaotic") == {}
    env = gym.make("trajmbrl/Cartpole-v0", **sampler.env_overrides())
    s, _ = env.reset(seed=0)
    for _ in range(300):
        s, _, terminated, truncated, _ = env.step(np.ones(1))
        assert not terminated and not truncated
    assert abs(s[0]) > 9.6  # far beyond both thresholds
    env.close()


def test_sampler_modes_ranges_and_errors():
    k_star = lqr_gain()
    ranges = {"stable": (1, 1.5), "chaotic": (0, 0.75), "unstable": (-0.75, 0.75)}
    for mode, (lo, hi) in ranges.items():
        sampler = LQRSampler(mode)
        m = np.stack([sampler.sample_params(np.random.default_rng(i)) for i in range(50)]) / k_star
        assert m.min() >= lo and m.max() <= hi and m.max() - m.min() > 0.5 * (hi - lo)
    assert LQRSampler("chaotic").mode == "periodic"
    assert isinstance(LQRSampler(), ControllerSampler)
    a = LQRSampler().sample_params(np.random.default_rng(1))
    np.testing.assert_array_equal(a, LQRSampler().sample_params(np.random.default_rng(1)))
    with pytest.raises(TrajmbrlError, match=r"env\.data_mode.*stable, periodic, unstable, chaotic"):
        LQRSampler("wobbly")
    with pytest.raises(TrajmbrlError, match="controller.R"):
        LQRSampler(R=-1.0)
    desc = json.loads(json.dumps(LQRSampler("unstable").describe()))
    assert desc["K_star"] == pytest.approx(k_star.tolist()) and desc["data_mode"] == "unstable"


def test_accept_rule():
    sampler = LQRSampler()
    states = np.zeros((201, 4))
    assert sampler.accept(states, terminated=False)
    assert not sampler.accept(states, terminated=True)
    states[5, 2] = np.nan
    assert not sampler.accept(states, terminated=False)


def test_env_validation_and_determinism():
    with pytest.raises(TrajmbrlError, match="init_theta"):
        CartpoleEnv(init_theta=0.5)
    CartpoleEnv(init_theta=0.5, terminate=False)  # allowed without termination
    with pytest.raises(TrajmbrlError, match="init_vel"):
        CartpoleEnv(init_vel=-1.0)
    env = CartpoleEnv()
    starts = np.stack([env.reset(seed=i)[0] for i in range(200)])
    assert np.abs(starts[:, 2]).max() <= 0.3 and np.abs(starts[:, 0]).max() <= 1.0
    assert np.abs(starts[:, [1, 3]]).max() <= 0.05
    np.testing.assert_array_equal(env.reset(seed=5)[0], CartpoleEnv().reset(seed=5)[0])
