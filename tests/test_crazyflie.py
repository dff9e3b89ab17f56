"""Crazyflie rigid body (spec 2.3) and its attitude PD + mixer (spec 3.4)."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest

import trajmbrl.envs  # noqa: F401 (registers the ids)
from trajmbrl.controllers.base import Controller, ControllerSampler
from trajmbrl.controllers.crazyflie_pd import (
    PITCH_MULT,
    ROLL_MULT,
    CrazyfliePDController,
    CrazyfliePDSampler,
)
from trajmbrl.envs.crazyflie import (
    CrazyflieEnv,
    crazyflie_step,
    hover_pwm,
    motor_force,
    thrust_torques,
)
from trajmbrl.errors import TrajmbrlError


def state_with(**kw: float) -> np.ndarray:
    names = ("x", "y", "z", "vx", "vy", "vz", "roll", "pitch", "yaw", "p", "q", "r")
    s = np.zeros(12)
    for k, v in kw.items():
        s[names.index(k)] = v
    return s


def test_hover_pwm_balances_gravity_and_holds_altitude():
    pwm = hover_pwm()
    assert 4 * motor_force(pwm) == pytest.approx(0.035 * 9.81, rel=1e-12)
    assert pwm == pytest.approx(13886.6, abs=0.1)
    env = CrazyflieEnv(noise_std=0.0)
    assert env.hover_pwm() == pwm
    env.reset(options={"state": np.zeros(12)})
    for _ in range(100):  # 5 s
        obs, *_ = env.step(np.full(4, pwm))
    assert abs(obs[2]) < 1e-9 and abs(env.state[2]) < 1e-9
    # 10 % more throttle climbs (NED: z and vz go negative), 10 % less sinks
    up = crazyflie_step(np.zeros(12), np.full(4, 1.1 * pwm))
    down = crazyflie_step(np.zeros(12), np.full(4, 0.9 * pwm))
    assert up[5] < -0.01 and down[5] > 0.01


def test_free_fall_and_torque_signs():
    s = crazyflie_step(np.zeros(12), np.zeros(4))
    assert s[5] == pytest.approx(9.81 * 0.05)  # no thrust: gravity only
    base = np.full(4, hover_pwm())
    d_pitch = crazyflie_step(np.zeros(12), base + 500 * PITCH_MULT)
    d_roll = crazyflie_step(np.zeros(12), base + 500 * ROLL_MULT)
    assert d_pitch[10] > 0 and abs(d_pitch[9]) < 1e-12 and d_pitch[7] > 0  # q, p, pitch
    assert d_roll[9] > 0 and abs(d_roll[10]) < 1e-12 and d_roll[6] > 0  # p, q, roll
    # tau / I without the original's extra lever factor L (spec 8.8)
    thrust, tau_x, _, _ = thrust_torques(base + 500 * ROLL_MULT)
    p_expected = tau_x / 2.3951e-5 * 0.05
    assert d_roll[9] == pytest.approx(p_expected, rel=1e-9)
    assert thrust == pytest.approx(2 * motor_force(base[0] + 500) + 2 * motor_force(base[0] - 500))


def test_tilted_thrust_accelerates_sideways():
    # positive pitch at hover thrust tilts thrust towards -x (NED formulas of spec 2.3)
    s = crazyflie_step(state_with(pitch=0.2), np.full(4, hover_pwm()))
    assert s[3] == pytest.approx(-math.sin(0.2) * 9.81 * 0.05, rel=1e-9)
    s = crazyflie_step(state_with(roll=0.2), np.full(4, hover_pwm()))
    assert s[4] == pytest.approx(math.sin(0.2) * 9.81 * 0.05, rel=1e-9)


def test_reset_step_shapes_reward_and_clipping():
    env = gym.make("trajmbrl/Crazyflie-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (9,) and info["state"].shape == (12,)
    assert np.all(np.abs(obs[3:5]) <= math.pi / 8) and obs[5] == 0.0
    roll, pitch = obs[3], obs[4]
    obs2, reward, terminated, truncated, info = env.step(np.array([-5.0, 1e9, 0, 65535]))
    assert obs2.shape == (9,) and not terminated and not truncated
    assert reward == pytest.approx(math.cos(roll) * math.cos(pitch))  # r(s_t)
    env.close()
    with pytest.raises(TrajmbrlError, match="4 PWM"):
        CrazyflieEnv().step(np.zeros(3))
    with pytest.raises(TrajmbrlError, match="init_angle"):
        CrazyflieEnv(init_angle=1.0)


def test_determinism_from_seed_with_noise():
    def run(seed: int) -> np.ndarray:
        env = CrazyflieEnv(noise_std=1e-4)
        obs = [env.reset(seed=seed)[0]]
        for _ in range(20):
            obs.append(env.step(np.full(4, hover_pwm()))[0])
        return np.array(obs)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_termination_at_45_degrees():
    env = CrazyflieEnv(noise_std=0.0)
    env.reset(options={"state": state_with(roll=math.radians(44.0), p=2.0)})
    terminated = False
    for _ in range(5):
        obs, _, terminated, _, _ = env.step(np.full(4, hover_pwm()))
        if terminated:
            break
    assert terminated and obs[3] > math.radians(45.0)


def _fly(gains: list[float], start: np.ndarray, steps: int) -> np.ndarray:
    env = CrazyflieEnv(noise_std=1e-4)
    obs, _ = env.reset(seed=0, options={"state": start})
    ctrl = CrazyfliePDController(np.array([gains]))
    traj = [obs]
    for _ in range(steps):
        obs, _, terminated, _, _ = env.step(ctrl.act(obs[None])[0])
        traj.append(obs)
        if terminated:
            break
    return np.array(traj)


def test_stabilising_pd_recovers_from_10_degrees_and_flipped_gains_do_not():
    start = state_with(roll=math.radians(10.0), pitch=math.radians(-10.0))
    traj = _fly([2000.0, 2000.0, 10000.0, 10000.0], start, 60)
    assert len(traj) == 61
    assert np.abs(np.degrees(traj[-1, 3:5])).max() < 5.0
    assert np.abs(np.degrees(traj[20:, 3:5])).max() < 5.0  # within 1 s
    bad = _fly([-2000.0, -2000.0, 10000.0, 10000.0], start, 60)
    assert np.abs(np.degrees(bad[-1, 3:5])).max() > 20.0


def test_no_derivative_kick_on_first_step():
    ctrl = CrazyfliePDController(np.array([[0.0, 0.0, 5e4, 5e4]]))
    obs = np.zeros((1, 9))
    obs[0, 3] = 0.2
    np.testing.assert_allclose(ctrl.act(obs), hover_pwm())  # D only, first call: no kick
    obs[0, 3] = 0.3
    second = ctrl.act(obs)[0]
    np.testing.assert_allclose(second - hover_pwm(), -0.065 * 5e4 * 0.1 * ROLL_MULT)
    ctrl.reset()
    np.testing.assert_allclose(ctrl.act(obs), hover_pwm())
    assert isinstance(ctrl, Controller)
    big = CrazyfliePDController(np.array([[1e9, 0.0, 0.0, 0.0]])).act(obs + 0.1)
    assert big.min() == 0.0 and big.max() == 65535.0


def test_sampler_ranges_accept_rule_and_describe():
    sampler = CrazyfliePDSampler()
    assert isinstance(sampler, ControllerSampler)
    th = np.stack([sampler.sample_params(np.random.default_rng(i)) for i in range(200)])
    assert th[:, :2].min() >= 100 and th[:, :2].max() < 10100
    assert th[:, 2:].min() >= 10 and th[:, 2:].max() < 50010
    states = np.zeros((501, 9))
    states[-1, 3] = math.radians(4.9)
    assert sampler.accept(states, terminated=False)
    assert not sampler.accept(states, terminated=True)
    states[-1, 4] = math.radians(-5.1)
    assert not sampler.accept(states, terminated=False)
    desc = json.loads(json.dumps(sampler.describe()))
    assert desc["param_names"] == ["P_pitch", "P_roll", "D_pitch", "D_roll"]
    with pytest.raises(TrajmbrlError, match="controller.d_range"):
        CrazyfliePDSampler(d_range=(5.0, 1.0))


def test_random_gains_acceptance_rate():
    """The collector's rule on sampled gains; measured ~0.89 over 1000 draws (report)."""
    sampler = CrazyfliePDSampler()
    env = CrazyflieEnv()
    rng = np.random.default_rng(0)
    n, kept = 24, 0
    for i in range(n):
        ctrl = sampler.build(sampler.sample_params(rng)[None])
        obs, _ = env.reset(seed=i)
        states, terminated = [obs], False
        for _ in range(500):
            obs, _, terminated, _, _ = env.step(ctrl.act(obs[None])[0])
            states.append(obs)
            if terminated:
                break
        kept += sampler.accept(np.array(states), terminated)
    assert 0.6 <= kept / n < 1.0
