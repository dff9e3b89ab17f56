"""mode=control: model_cma finds a known optimum, every method runs through the CLI config,
same seed same CSV, bad keys fail with one clear message."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from trajmbrl.configs import model_config
from trajmbrl.control.fit import ModelRecipe
from trajmbrl.control.methods import METHODS, Settings, make_method, method_model_key
from trajmbrl.control.search import CMASettings
from trajmbrl.control.system import EpisodeLog, System
from trajmbrl.control.tasks import ControlTask
from trajmbrl.errors import TrajmbrlError
from trajmbrl.training.trainer import TrainConfig

A, B = 0.9, 0.5  # x_{t+1} = A x_t + B u_t, u = -k x: deadbeat gain k* = A / B = 1.8


class LinearEnv(gym.Env):
    """Scalar linear system, x_0 ~ U(-2, 2)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,))
    action_space = gym.spaces.Box(-np.inf, np.inf, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-2.0, 2.0, size=1)
        return self.x.copy(), {}

    def step(self, action):
        self.x = A * self.x + B * np.asarray(action, dtype=np.float64).reshape(1)
        return self.x.copy(), 0.0, False, False, {}


class Gain:
    """u = -k x for a batch of gains (B, 1)."""

    def __init__(self, params):
        self.params = np.asarray(params, dtype=np.float64)

    def reset(self):
        pass

    def act(self, obs):
        return -self.params * np.asarray(obs)


class GainSampler:
    param_names = ("k",)

    def build(self, params):
        return Gain(params)


def linear_task() -> ControlTask:
    if "test/Linear-v0" not in gym.registry:
        gym.register(id="test/Linear-v0", entry_point=LinearEnv, disable_env_checker=True)
    return ControlTask(
        "linear",
        "test/Linear-v0",
        GainSampler(),
        10,
        np.array([0.0]),
        np.array([3.0]),
        lambda s: -(np.asarray(s)[..., 0] ** 2),
    )


def test_model_cma_finds_the_deadbeat_gain_of_a_linear_system():
    task = linear_task()
    system = System(task)
    log = EpisodeLog()
    for i, k in enumerate(np.linspace(0.0, 3.0, 16)):
        system.run(np.array([k]), i, log)
    settings = {**model_config("t"), "hidden": 64, "layers": 2}
    recipe = ModelRecipe(
        "t",
        settings,
        TrainConfig(epochs=30, batch_size=64, patience=10, resample="none"),
        max_pairs=3000,
    )
    st = Settings(cma=CMASettings(popsize=8, iterations=15, sigma=0.3), recipe=recipe)
    s0 = system.initial_states(np.arange(100, 108))
    method = make_method("model_cma", task, system, st, 0, s0)
    method.update(log, 0)
    assert method.theta is not None
    assert abs(method.theta[0] - A / B) < 0.15, method.theta
    assert method.predicted > -0.05  # near-zero predicted cost at the optimum
    true, _ = method.evaluate(np.arange(200, 205))
    assert true.mean() > -0.05


def test_replanning_splits_an_episode_into_constant_theta_segments():
    task = linear_task()
    system = System(task)
    log, steps_left = EpisodeLog(), []

    def choose(state, steps):
        steps_left.append(steps)
        return np.array([1.0])

    score = system.run_planned(choose, seed=3, replan_every=4, log=log)
    assert steps_left == [10, 6, 2]  # at s_0, then every 4 steps from the current state
    assert [len(a) for a in log.actions] == [4, 4, 2] and log.episodes == 1
    np.testing.assert_allclose(log.states[1][0], log.states[0][-1])  # segments chain up
    assert score == pytest.approx(system.run(np.array([1.0]), seed=3))  # same theta: same run
    assert log.to_data().lengths.tolist() == [4, 4, 2]


SMOKE = (
    "control.random_episodes=4",
    "control.chosen_episodes=2",
    "control.rounds=1",
    "control.eval_episodes=2",
    "control.init_states=2",
    "control.horizon=15",
    "control.cma.popsize=4",
    "control.cma.iterations=2",
    "control.mpc.horizon=3",
    "control.mpc.population=8",
    "control.mpc.elites=2",
    "control.mpc.iterations=1",
    "control.mpc.particles=2",
    "model.epochs=1",
    "model.hidden=16",
    "models=te",
    "control.report=false",
)


def _runs(root: Path) -> Path:
    return root / "outputs" / "smoke" / "cartpole" / "toy_control"


def test_every_method_runs_through_the_cli_config(run_mode, tmp_path):
    for method in METHODS:
        run_mode("mode=control", "envs=cartpole", f"control.method={method}", *SMOKE)
    run_mode("mode=control", "envs=cartpole", "control.report_only=true", "plot.formats=[png]")
    out = _runs(tmp_path)
    frame = pd.concat([pd.read_csv(p, skiprows=1) for p in (out / "runs").glob("*.csv")])
    assert set(frame["method"]) == set(METHODS)
    assert (frame.groupby("method")["round"].max() == 1).all()
    assert frame["episodes"].max() == 6 and frame["true_score"].between(0, 1).all()
    assert frame.loc[frame.method == "mpc_pets", "model"].iloc[0] == "pe"
    assert frame.loc[frame.method == "model_cma_onestep", "model"].iloc[0] == "de"
    table = pd.read_csv(out / "tables" / "control.csv")
    assert set(table["method"]) == set(METHODS)
    assert (out / "figures" / "learning_curve.png").exists()


@pytest.mark.parametrize(
    ("method", "selected", "trained"),
    [
        ("model_cma_onestep", "te", "de"),
        ("model_cma_onestep", "dke", "dke"),  # the benchmark's best one-step family
        ("model_cma_onestep", "dk", "dk"),
        ("model_cma", "dke", "te"),
        ("model_cma", "tr", "tr"),
        ("mpc_pets", "dke", "pe"),  # PETS needs a probabilistic model
        ("mpc_pets", "p", "p"),
        ("env_cma", "te", None),
    ],
)
def test_a_method_plans_in_the_selected_key_when_it_has_the_family(method, selected, trained):
    assert method_model_key(method, selected) == trained


def test_model_cma_onestep_trains_the_k_step_ensemble_it_is_given(run_mode, tmp_path):
    smoke = [o for o in SMOKE if not o.startswith("models=")]
    run_mode(
        "mode=control", "envs=cartpole", "control.method=model_cma_onestep", "models=dke", *smoke
    )
    (path,) = (_runs(tmp_path) / "runs").glob("model_cma_onestep__*.csv")
    assert path.name.startswith("model_cma_onestep__dke__seed=0__")
    frame = pd.read_csv(path, skiprows=1)
    assert (frame["model"] == "dke").all() and frame["true_score"].between(0, 1).all()


def test_same_seed_same_csv_and_reruns_skip(run_mode, tmp_path):
    run_mode("mode=control", "envs=cartpole", "control.method=model_cma", *SMOKE)
    (path,) = (_runs(tmp_path) / "runs").glob("model_cma__te__seed=0__*.csv")
    first = path.read_text()
    run_mode("mode=control", "envs=cartpole", "control.method=model_cma", *SMOKE)
    assert path.read_text() == first  # up to date: skipped, not rewritten
    run_mode("mode=control", "envs=cartpole", "control.method=model_cma", "overwrite=true", *SMOKE)
    a = pd.read_csv(path, skiprows=1).drop(columns="wall_clock")
    b = pd.read_csv(pd.io.common.StringIO(first), skiprows=1).drop(columns="wall_clock")
    pd.testing.assert_frame_equal(a, b)
    # other settings: a CSV of their own (the name carries them), never a replaced one ...
    before = path.read_text()
    run_mode(
        "mode=control", "envs=cartpole", "control.method=model_cma", *SMOKE, "control.kappa=1.0"
    )
    assert path.read_text() == before
    assert len(list((_runs(tmp_path) / "runs").glob("model_cma__te__seed=0__*.csv"))) == 2
    # ... and one report never mixes the rounds of two settings in one curve
    with pytest.raises(TrajmbrlError, match="different settings"):
        run_mode("mode=control", "envs=cartpole", "control.report_only=true", "plot.formats=[png]")


@pytest.mark.parametrize(
    "bad, key",
    [
        ("control.method=magic", "control.method"),
        ("control.rounds=0", "control.rounds"),
        ("control.bo_sampler=ei", "control.bo_sampler"),
        ("control.chosen_episodes=5 control.rounds=2", "multiple of"),
        ("control.method=reference envs=reacher", "reference"),
    ],
)
def test_bad_control_keys_name_the_key(run_mode, bad, key):
    with pytest.raises(TrajmbrlError, match=key):
        run_mode("mode=control", *SMOKE, *bad.split())


def test_the_seeds_of_one_model_based_setting_share_their_run_name():
    """The run CSV's settings name leaves the seed out, the model's training seed included (else
    `make control`'s report refused its own seeds as different settings)."""
    from conftest import compose_cfg
    from trajmbrl.modes.control import _settings_hash, settings

    def name(*extra: str) -> str:
        cfg = compose_cfg("experiment=control", "control.method=model_cma", *extra)
        return _settings_hash(cfg, settings(cfg, "te")[0])

    assert name("seed=0") == name("seed=3")
    assert name("seed=0") != name("seed=0", "control.kappa=0.5")


def test_control_logs_a_line_per_round_and_counts_every_episode(caplog, capsys, monkeypatch):
    import logging

    from trajmbrl.control import loop
    from trajmbrl.control.loop import Budget, run_control

    budget = Budget(random_episodes=3, chosen_episodes=4, rounds=2, eval_episodes=3, init_states=1)
    with caplog.at_level(logging.INFO, logger="trajmbrl"):
        frame = run_control(linear_task(), "random", Settings(), budget, 0, progress=False)
    lines = [r.getMessage() for r in caplog.records if "control random seed 0: round" in r.message]
    assert len(lines) == budget.rounds + 1 == len(frame)
    assert "round 0/2, 3 episodes" in lines[0] and "ETA" in lines[0]
    assert lines[-1].endswith("done") and "true score" in lines[-1]
    assert budget.total_episodes() == 3 + 4 + 3 * 3
    counted = []
    original = loop.RoundProgress.episode
    monkeypatch.setattr(
        loop.RoundProgress, "episode", lambda self: (counted.append(1), original(self))
    )
    run_control(linear_task(), "random", Settings(), budget, 0, progress=True)
    assert len(counted) == budget.total_episodes()  # every system episode, evaluation included
    assert "round 2/2" in capsys.readouterr().err  # interactive: written above the bar


def test_a_round_line_names_a_predicted_score_only_when_there_is_one() -> None:
    """mpc_true / model-free rows predict nothing (NaN): no '>=1e6 (div.)' in their line."""
    from trajmbrl.control.loop import Budget, RoundProgress

    bar = RoundProgress("mpc_true seed 0", Budget(), progress=False)
    none = bar.round_done(0, {"episodes": 50, "true_score": 0.93, "predicted_score": np.nan})
    some = bar.round_done(1, {"episodes": 60, "true_score": 0.93, "predicted_score": 0.9})
    assert "predicted" not in none and "div." not in none
    assert "(predicted 0.9)" in some
