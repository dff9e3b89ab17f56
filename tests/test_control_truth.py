"""The control study's ceilings: planners and searches driven by the true system (issue 22).

A planner is checked on the true system before it is trusted with a model: MPC on the true
dynamics of a toy integrator reaches its known optimum; the true roll-out used by the ceilings
reproduces the system's own episodes; the heavy cart-pole has the headroom its page claims.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from trajmbrl.control.loop import Budget, run_control
from trajmbrl.control.methods import Settings
from trajmbrl.control.mpc import CEMPlanner, CEMSettings, run_mpc_episodes
from trajmbrl.control.system import System
from trajmbrl.control.tasks import make_task
from trajmbrl.control.truth import simulator_rollout, true_scores
from trajmbrl.envs import spec
from trajmbrl.errors import TrajmbrlError

DT = 0.1


def _step(state: np.ndarray, action: np.ndarray) -> np.ndarray:
    """x' = x + DT clip(u, -1, 1): (N, 1), (N, 1) -> (N, 1)."""
    return state + DT * np.clip(action, -1.0, 1.0)


class _Integrator(gym.Env):
    def __init__(self) -> None:
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float64)

    def reset(self, *, seed=None, options=None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-1.5, 1.5, size=1)
        return self.state.copy(), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.state = _step(self.state[None], np.reshape(action, (1, 1)))[0]
        return self.state.copy(), 0.0, False, False, {}


class _Gain:
    def __init__(self, params: np.ndarray) -> None:
        self.params = np.asarray(params, dtype=np.float64)

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.clip(-self.params[:, :1] * obs + self.params[:, 1:], -1.0, 1.0)


class _GainSampler:
    param_names = ("k", "b")  # u = clip(-k x + b): two entries (pycma needs >= 2)

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform([0.0, -1.0], [20.0, 1.0])

    def build(self, params: np.ndarray) -> _Gain:
        return _Gain(params)

    def describe(self) -> dict[str, object]:
        return {}

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        return True


@pytest.fixture
def integrator():
    """A 1-d integrator with reward -|x|: moving to 0 at full speed is optimal."""
    s = spec.register_system(
        spec.SystemSpec(
            name="integrator_truth",
            gym_id="tests/IntegratorTruth-v0",
            entry_point=_Integrator,
            state_names=("x",),
            horizon=30,
            return_reward=lambda s: -np.abs(s[..., 0]),
            control_reward=lambda s: -np.abs(s[..., 0]),
            controller=_GainSampler,
            theta_box=lambda sampler: (np.array([0.0, -1.0]), np.array([20.0, 1.0])),
            reference=lambda sampler: np.array([1.0, 0.0]),
            action_low=(-1.0,),
            action_high=(1.0,),
            oracle_step=lambda copies, start: (
                lambda s, a: torch.as_tensor(_step(s.numpy(), a.numpy()))
            ),
        )
    )
    s.register_gym()
    yield make_task(s)
    spec._REGISTRY.pop("integrator_truth", None)


def _optimum(task, seeds: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The optimal score per seed: u = clip(-x / DT), the fastest way to 0 (then stay)."""
    system = System(task)
    x = system.initial_states(seeds)[:, 0]
    out = np.zeros(len(seeds))
    for _ in range(task.horizon):
        x = x + DT * np.clip(-x / DT, -1.0, 1.0)
        out += -np.abs(x)
    return out / task.horizon


def test_mpc_on_the_true_dynamics_reaches_the_known_optimum(integrator):
    seeds = np.arange(4)
    cem = CEMSettings(horizon=12, population=128, elites=12, iterations=6)
    planner = CEMPlanner(None, integrator, cem, 0, rollout=simulator_rollout(integrator))
    scores = run_mpc_episodes(integrator, planner, seeds)
    best = _optimum(integrator, seeds)
    # optimum scores lie in [-0.24, 0]: within 0.01 (a mean |x| of 1 cm) in every episode
    np.testing.assert_array_less(best - scores, 0.01)
    assert np.all(scores <= best + 1e-9)  # and never above it (it is the optimum)
    # a planner that is too short does measurably worse than the optimum: the check can fail
    short = CEMPlanner(
        None,
        integrator,
        CEMSettings(horizon=1, population=4, elites=1, iterations=1),
        0,
        rollout=simulator_rollout(integrator),
    )
    assert (best - run_mpc_episodes(integrator, short, seeds)).max() > 0.01


def test_the_true_rollout_reproduces_the_systems_own_episodes():
    task = make_task("cartpole", 40)
    system = System(task)
    seeds = np.array([3, 11])
    theta = np.stack([task.reference, 0.5 * task.reference])
    s0 = system.initial_states(seeds)
    for th in theta:
        expected = [system.run(th, int(s)) for s in seeds]
        got = [true_scores(task, th[None], s0[i : i + 1])[0] for i in range(len(seeds))]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    system.close()


def test_the_heavy_cartpole_has_headroom_over_its_reference():
    task = make_task("cartpole_heavy", 200)
    s0 = System(task).initial_states(np.arange(8))
    ref = true_scores(task, task.reference[None], s0)[0]
    assert ref < 0.5  # K* was designed for the nominal pole and does poorly here
    better = true_scores(task, (task.reference * np.array([2.4, 2.6, 2.3, 3.9]))[None], s0)[0]
    assert better > ref + 0.3
    nominal = make_task("cartpole", 200)
    np.testing.assert_allclose(nominal.reference, task.reference)  # the same design K*


def test_ceiling_methods_run_through_the_control_loop_without_a_model(integrator):
    budget = Budget(random_episodes=3, chosen_episodes=2, rounds=1, eval_episodes=2, init_states=2)
    st = Settings(mpc=CEMSettings(horizon=8, population=32, elites=4, iterations=3))
    for method in ("mpc_true", "model_cma_true"):
        frame = run_control(integrator, method, st, budget, seed=0)
        assert list(frame["model"].unique()) == ["oracle"]
        assert frame["true_score"].iloc[-1] > -0.5
    again = run_control(integrator, "mpc_true", st, budget, seed=0)
    np.testing.assert_array_equal(
        again["true_score"], run_control(integrator, "mpc_true", st, budget, seed=0)["true_score"]
    )


def test_a_task_without_a_true_step_has_no_ceiling(integrator):
    s = spec.register_system(
        spec.SystemSpec(
            name="integrator_notruth",
            gym_id="tests/IntegratorTruth-v0",
            entry_point=_Integrator,
            state_names=("x",),
            return_reward=lambda s: -np.abs(s[..., 0]),
            control_reward=lambda s: -np.abs(s[..., 0]),
            controller=_GainSampler,
            theta_box=lambda sampler: (np.array([0.0, -1.0]), np.array([20.0, 1.0])),
        )
    )
    try:
        with pytest.raises(TrajmbrlError, match="no true simulator step"):
            simulator_rollout(make_task(s))
    finally:
        spec._REGISTRY.pop("integrator_notruth", None)


def test_random_search_on_a_per_episode_task_answers_each_goal_from_its_nearest_episodes(
    integrator,
):
    import dataclasses

    from trajmbrl.control.methods import NEIGHBOURS, make_method
    from trajmbrl.control.system import EpisodeLog

    task = dataclasses.replace(integrator, per_episode=True)
    system = System(task)
    log = EpisodeLog()
    rng = np.random.default_rng(0)
    for s in range(12):
        system.run(task.to_theta(rng.uniform(size=2)), s, log)
    method = make_method("random", task, system, Settings(), 0, system.initial_states([0]))
    method.update(log, 0)
    chosen: list[np.ndarray] = []
    real = system.run_planned

    def spy(choose, seed, *args):  # type: ignore[no-untyped-def]
        chosen.append(choose(system.initial_states([seed])[0], task.horizon))
        return real(choose, seed, *args)

    system.run_planned = spy  # type: ignore[method-assign]
    method.evaluate(np.array([100, 101]))
    starts = np.stack([st[0] for st in log.states])
    for seed, theta in zip((100, 101), chosen):
        s0 = system.initial_states([seed])[0]
        near = np.argsort(((starts - s0) / starts.std(0)) ** 2 @ np.ones(1))[:NEIGHBOURS]
        best = near[int(np.argmax(np.asarray(log.scores)[near]))]
        np.testing.assert_array_equal(theta, log.thetas[best])
    system.close()
