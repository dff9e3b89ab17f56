"""3D reacher (spec 2.1): MJCF facts, Gymnasium API, physics sanity, PD control, rendering."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import trajmbrl.envs  # noqa: F401  (registers the env ids)
from trajmbrl.controllers.base import Controller, ControllerSampler
from trajmbrl.controllers.pd import PDController, ReacherPDSampler
from trajmbrl.envs.reacher import Reacher3DEnv, load_model
from trajmbrl.errors import TrajmbrlError

# a reachable pose with negative angles: cosine control is locally stable there (sin q < 0)
POSE = np.array([-0.8, -0.4, -0.6, -1.0, -0.5])


@pytest.fixture
def env() -> Reacher3DEnv:
    e = Reacher3DEnv()
    yield e
    e.close()


def test_model_matches_spec() -> None:
    m = load_model()
    assert (m.nq, m.nv, m.nu) == (10, 10, 5)
    assert m.opt.timestep == pytest.approx(0.01)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    np.testing.assert_array_equal(m.opt.gravity, 0.0)
    np.testing.assert_allclose(m.dof_damping[:7], [10, 10, 0.1, 1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(m.dof_armature[:7], 0.04)
    np.testing.assert_allclose(m.actuator_ctrlrange, [[-20, 20]] * 5)
    np.testing.assert_array_equal(m.actuator_trnid[:, 0], [0, 1, 2, 3, 4])
    assert [m.jnt_type[j] for j in range(7, 10)] == [mujoco.mjtJoint.mjJNT_SLIDE] * 3


def test_registered_env_shapes_and_names() -> None:
    env = gym.make("trajmbrl/Reacher3D-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (21,) and env.observation_space.shape == (21,)
    assert env.action_space.shape == (5,)
    base = env.unwrapped
    assert len(base.state_names) == 21 and len(base.action_names) == 5
    assert list(base.STATE_INDICES) == [*range(10), *range(13, 21)]
    assert base.state_names[13] == "qdot_shoulder_pan"
    assert base.dt == pytest.approx(0.04)
    obs2, reward, terminated, truncated, step_info = env.step(np.full(5, 100.0))
    assert obs2.shape == (21,) and isinstance(reward, float)
    assert terminated is False and truncated is False
    np.testing.assert_array_equal(step_info["action"], 20.0)  # clipped to ctrlrange
    # reward at the state the action is applied to, with the applied (clipped) torque
    assert reward == pytest.approx(-np.linalg.norm(obs[18:21]) - 0.01 * 5 * 20.0**2)
    env.close()


def test_reset_distribution_and_observation_layout(env: Reacher3DEnv) -> None:
    obs, info = env.reset(seed=3)
    assert np.all(np.abs(env.data.qpos[:7]) <= 0.01) and np.all(np.abs(env.data.qvel[:7]) <= 0.01)
    assert np.all(np.abs(info["goal"]) <= 0.5)
    np.testing.assert_array_equal(obs[10:13], info["goal"])
    for _ in range(5):
        obs, *_ = env.step(np.array([3.0, -2.0, 1.0, 4.0, -1.0]))
    q = env.data.qpos[:5]
    np.testing.assert_allclose(obs[:5], np.cos(q))
    np.testing.assert_allclose(obs[5:10], np.sin(q))
    np.testing.assert_allclose(obs[13:18], env.data.qvel[:5])
    # fingertip - goal is recomputed for the post-step qpos (not mj_step's stale kinematics)
    fresh = mujoco.MjData(env.model)
    fresh.qpos[:] = env.data.qpos
    mujoco.mj_kinematics(env.model, fresh)
    tip = fresh.site_xpos[env.model.site("fingertip").id]
    np.testing.assert_allclose(obs[18:21], tip - info["goal"], atol=1e-12)


def test_seeded_rollouts_are_deterministic() -> None:
    actions = np.random.default_rng(0).uniform(-20, 20, size=(30, 5))
    runs = []
    for _ in range(2):
        env = Reacher3DEnv()
        obs, _ = env.reset(seed=11)
        traj = [obs] + [env.step(a)[0] for a in actions]
        runs.append(np.stack(traj))
    np.testing.assert_array_equal(runs[0], runs[1])
    other, _ = Reacher3DEnv().reset(seed=12)
    assert not np.allclose(other[10:13], runs[0][0, 10:13])


def test_zero_torque_from_rest_stays_put(env: Reacher3DEnv) -> None:
    goal = np.array([0.2, -0.1, 0.3])
    obs0, _ = env.reset(
        seed=0, options={"qpos": [*POSE, -0.5, 0.3], "qvel": np.zeros(7), "goal": goal}
    )
    for _ in range(100):
        obs, *_ = env.step(np.zeros(5))
    np.testing.assert_allclose(env.data.qvel, 0.0, atol=1e-10)
    np.testing.assert_allclose(env.data.qpos[:7], [*POSE, -0.5, 0.3], atol=1e-10)
    np.testing.assert_allclose(obs, obs0, atol=1e-10)


def test_pd_with_true_target_converges(env: Reacher3DEnv) -> None:
    target = np.cos(POSE)
    pd = PDController(P=np.full((1, 5), 5.0), D=np.full((1, 5), 0.5), target=target[None])
    assert isinstance(pd, Controller)
    obs, _ = env.reset(seed=5)
    pd.reset()
    err0 = np.abs(obs[:5] - target).max()
    for _ in range(400):
        obs, *_ = env.step(pd.act(obs[None])[0])
    err = np.abs(obs[:5] - target).max()
    assert err < 0.02 and err < 0.05 * err0
    np.testing.assert_allclose(np.arctan2(obs[5:10], obs[:5]), POSE, atol=0.06)
    assert np.abs(obs[13:18]).max() < 0.05  # settled


def test_pd_first_step_has_no_derivative_kick() -> None:
    pd = PDController(P=[[2.0, 1.0]], D=[[10.0, 10.0]], target=[[0.5, -0.5]], obs_slice=slice(0, 2))
    u0 = pd.act(np.array([[0.0, 0.0, 9.0]]))
    np.testing.assert_allclose(u0, [[1.0, -0.5]])  # P * e0 only
    u1 = pd.act(np.array([[0.25, 0.0, 9.0]]))
    np.testing.assert_allclose(u1, [[2.0 * 0.25 + 10.0 * (0.25 - 0.5), -0.5]])
    pd.reset()
    np.testing.assert_allclose(pd.act(np.array([[0.25, 0.0, 9.0]])), [[0.5, -0.5]])


def test_reacher_pd_sampler_round_trip() -> None:
    sampler = ReacherPDSampler()
    assert isinstance(sampler, ControllerSampler)
    assert sampler.param_names[:2] == ("P0/5", "P1/5") and sampler.param_names[5] == "D0"
    assert sampler.param_names[10] == "target0" and len(sampler.param_names) == 15
    rng = np.random.default_rng(42)
    thetas = np.stack([sampler.sample_params(rng) for _ in range(200)])
    assert thetas.shape == (200, 15)
    assert thetas[:, :10].min() >= 0 and thetas[:, :10].max() < 1
    assert thetas[:, 10:].min() >= -1 and thetas[:, 10:].max() < 1
    assert thetas[:, :5].max() > 0.9  # P/5 spans [0, 1), so the raw P spans [0, 5)
    np.testing.assert_array_equal(
        sampler.sample_params(np.random.default_rng(1)),
        sampler.sample_params(np.random.default_rng(1)),
    )
    # build(theta) acts like the sampled gains, row by row
    ctrl = sampler.build(thetas[:3])
    np.testing.assert_array_equal(ctrl.params, thetas[:3])
    obs = np.random.default_rng(0).uniform(-1, 1, size=(3, 21))
    p, target = thetas[:3, :5] * 5.0, thetas[:3, 10:]
    np.testing.assert_allclose(ctrl.act(obs), p * (target - obs[:, :5]))
    obs2 = obs + 0.1
    d = thetas[:3, 5:10]
    expected = p * (target - obs2[:, :5]) + d * (-0.1)
    np.testing.assert_allclose(ctrl.act(obs2), expected)
    assert sampler.accept(np.zeros((3, 18)), terminated=False)
    assert not sampler.accept(np.zeros((3, 18)), terminated=True)
    assert "U(0, 5)^5" in str(sampler.describe())
    with pytest.raises(TrajmbrlError, match="15 entries"):
        sampler.build(np.zeros((2, 10)))


def test_bad_inputs_raise_clear_errors(env: Reacher3DEnv) -> None:
    env.reset(seed=0)
    with pytest.raises(TrajmbrlError, match="5 entries"):
        env.step(np.zeros(7))
    with pytest.raises(TrajmbrlError, match="goal"):
        env.reset(options={"goal": [0.1, 0.2]})
    with pytest.raises(TrajmbrlError, match="goal_low"):
        Reacher3DEnv(goal_low=0.5, goal_high=0.5)


# ------------------------------------------------------------------ rendering
def _short_rollout(n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    env = Reacher3DEnv()
    sampler = ReacherPDSampler()
    ctrl = sampler.build(sampler.sample_params(np.random.default_rng(0)))
    obs, info = env.reset(seed=1)
    obs_list, wrist = [obs], [env.data.qpos[5:7].copy()]
    for _ in range(n - 1):
        obs, *_ = env.step(ctrl.act(obs[None])[0])
        obs_list.append(obs)
        wrist.append(env.data.qpos[5:7].copy())
    states = np.stack(obs_list)[:, list(Reacher3DEnv.STATE_INDICES)]
    return states, np.stack(wrist), info["goal"]


def test_states_to_qpos_and_goal_inference() -> None:
    from trajmbrl.envs.render import infer_goal, states_to_qpos

    states, wrist, goal = _short_rollout()
    qpos = states_to_qpos(states, goal, wrist)
    np.testing.assert_allclose(np.cos(qpos[:, :5]), states[:, :5], atol=1e-12)
    np.testing.assert_allclose(np.sin(qpos[:, :5]), states[:, 5:10], atol=1e-12)
    np.testing.assert_array_equal(qpos[:, 7:], np.broadcast_to(goal, (len(states), 3)))
    # wrist angles at reset are within +/-0.01 of 0, so the inferred goal is close
    np.testing.assert_allclose(infer_goal(states[0]), goal, atol=0.01)
    np.testing.assert_allclose(infer_goal(states[0], wrist[0]), goal, atol=1e-9)
    with pytest.raises(TrajmbrlError, match="shape"):
        states_to_qpos(np.zeros((4, 15)), goal)


def _renderer_or_skip() -> None:
    from trajmbrl.envs.render import make_renderer

    try:
        make_renderer(load_model(), 32, 32).close()
    except TrajmbrlError as err:
        pytest.skip(f"no working MuJoCo GL backend (EGL/OSMesa) on this machine: {err}")


# imageio-ffmpeg's frame reader leaves its subprocess pipes to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_render_comparison_writes_frames(tmp_path) -> None:
    import imageio.v3 as iio

    from trajmbrl.envs.render import render_comparison

    _renderer_or_skip()
    states, wrist, goal = _short_rollout()
    pred = states.copy()
    pred[:, :10] = np.concatenate([np.cos(POSE), np.sin(POSE)])  # a visibly different arm
    out = render_comparison(
        states, pred, tmp_path / "cmp.mp4", goal, wrist_qpos=wrist, size=(64, 48), fps=10
    )
    assert out.exists() and out.stat().st_size > 0 and out.suffix in (".mp4", ".gif")
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == len(states) and frames.shape[1:3] == (48, 2 * 64 + 2)
    left, right = frames[-1, :, :64].astype(int), frames[-1, :, 66:].astype(int)
    assert np.abs(left - right).mean() > 1.0  # the two panels show different arms
    overlay = render_comparison(
        states, states, tmp_path / "same.gif", layout="overlay", size=(64, 48)
    )
    assert iio.imread(overlay, index=None).shape[:3] == (len(states), 48, 64)
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_env_rgb_array_render() -> None:
    _renderer_or_skip()
    env = Reacher3DEnv(render_mode="rgb_array", width=48, height=32)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (32, 48, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()
    assert Reacher3DEnv().render() is None


def test_reacher_and_render_do_not_import_each_other_and_mujoco_waits_for_the_env() -> None:
    import ast
    import os
    import subprocess
    import sys
    from pathlib import Path

    import trajmbrl.envs.reacher as reacher_module

    tree = ast.parse(Path(reacher_module.__file__).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "trajmbrl.envs.render" not in modules  # the renderer imports the env, not back
    code = (
        "import os, sys, gymnasium, trajmbrl.envs.reacher, trajmbrl.evaluation.oracle; "
        "assert 'mujoco' not in sys.modules; "  # registering the reacher does not load mujoco
        "import gymnasium as gym; gym.make('trajmbrl/Reacher3D-v0'); "
        "assert 'mujoco' in sys.modules and 'MUJOCO_GL' not in os.environ"
    )
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
