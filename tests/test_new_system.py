"""A new system is one module + one YAML: the point mass of docs/new-system.md, written into
tmp_path as its own package (outside trajmbrl), runs collect, train, eval (horizon with the
oracle, reward) and control through the real modes, found only through ``env.system``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.control.tasks import make_task
from trajmbrl.envs import spec
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import load_env_system
from trajmbrl.modes.control import control_horizon

DOC = Path(__file__).resolve().parents[1] / "docs" / "new-system.md"


def doc_block(language: str) -> str:
    """The first ```<language> block of docs/new-system.md (the test runs what the page shows)."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)[0]


CONTROL = (
    "control.random_episodes=4",
    "control.chosen_episodes=2",
    "control.rounds=1",
    "control.eval_episodes=2",
    "control.init_states=2",
    "control.cma.popsize=4",
    "control.cma.iterations=2",
)


@pytest.fixture
def point_system(tmp_path, monkeypatch):
    """The page's module (package ``my_robots``) and YAML in tmp_path; yields the overrides."""
    (tmp_path / "src" / "my_robots").mkdir(parents=True)
    (tmp_path / "src" / "my_robots" / "__init__.py").write_text("")
    (tmp_path / "src" / "my_robots" / "point.py").write_text(doc_block("python"))
    (tmp_path / "conf" / "envs").mkdir(parents=True)
    (tmp_path / "conf" / "envs" / "point.yaml").write_text(doc_block("yaml"))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield (f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "envs=point")
    for name in [m for m in sys.modules if m.split(".")[0] == "my_robots"]:
        del sys.modules[name]
    spec._REGISTRY.pop("point", None)


def test_a_system_added_as_one_module_and_one_yaml_runs_every_mode(
    run_mode, point_system, tmp_path
):
    small = ("models=t", "model.hidden=8", "model.epochs=2", "plot.formats=[png]", *point_system)
    run_mode("mode=collect", *point_system)
    run_mode("mode=train", *small)
    run_mode("mode=eval", "eval.baselines=[oracle]", "eval.protocols=[logged]", *small)
    out = tmp_path / "outputs" / "smoke" / "point" / "toy_default"
    metrics = sorted(p.name for p in (out / "metrics").glob("*.csv"))
    assert [m.split("__")[0] for m in metrics] == ["oracle", "t"], metrics
    oracle = pd.read_csv(next((out / "metrics").glob("oracle__*.csv")), comment="#")
    assert oracle["value"].max() < 1e-6  # the spec's exact step replays the data
    run_mode("mode=eval", "eval=reward", *small)
    returns = pd.read_csv(out / "reward" / "returns.csv", comment="#")
    data = np.load(tmp_path / "trajectories" / "point" / "toy_default.npz")
    test = data["states"][data["split"] == 1]
    expected = -(test[:, 1:, 0] ** 2).sum(axis=1)  # the spec's return_reward over s_1..s_H
    np.testing.assert_allclose(returns.groupby("traj")["true_return"].first(), expected)
    for method in ("model_cma", "reference"):  # (reference alone: see the report)
        run_mode("mode=control", f"control.method={method}", *CONTROL, *small)
    runs = {p.name.split("__")[0]: p for p in (out.parent / "toy_control" / "runs").glob("*.csv")}
    assert sorted(runs) == ["model_cma", "reference"], runs
    reference = pd.read_csv(runs["reference"], skiprows=1)
    assert reference["theta"].iloc[-1] == "[1.0, 1.5]"  # the spec's reference controller
    assert reference["env"].iloc[-1] == "point"


def test_control_episodes_default_to_the_yaml_horizon(point_system, tmp_path):
    cfg = compose_cfg(f"paths.root={tmp_path}", "env.horizon=12", *point_system)
    load_env_system(cfg)
    assert make_task("point", control_horizon(cfg)).horizon == 12
    assert make_task("point").horizon == 15  # the spec's own default from Python


def test_a_yaml_naming_a_missing_module_or_another_system_or_id_is_one_clear_error(
    point_system, tmp_path
):
    cfg = compose_cfg(f"paths.root={tmp_path}", "env.system=no_such_pkg.point", *point_system)
    with pytest.raises(TrajmbrlError, match="cannot import 'no_such_pkg.point'"):
        load_env_system(cfg)
    module = compose_cfg(f"paths.root={tmp_path}", *point_system).env.system
    cfg = compose_cfg(f"paths.root={tmp_path}", f"env.system={module}:PD", *point_system)
    with pytest.raises(TrajmbrlError, match="is not a SystemSpec"):
        load_env_system(cfg)
    cfg = compose_cfg(f"paths.root={tmp_path}", "env.id=trajmbrl/Cartpole-v0", *point_system)
    with pytest.raises(TrajmbrlError, match="env.id=trajmbrl/Cartpole-v0 is not the Gymnasium id"):
        load_env_system(cfg)
    cfg = compose_cfg(f"paths.root={tmp_path}", "env.name=other", *point_system)
    with pytest.raises(TrajmbrlError, match="defines system 'point', but env.name=other"):
        load_env_system(cfg)


def test_every_shipped_simulated_env_has_its_spec_and_an_unchanged_config_hash():
    """Built-in YAMLs find their spec by name (BUILTIN), not by a ``system`` key: the env node,
    and so every existing dataset's config hash, stays as it was."""
    from trajmbrl.modes.settings import to_dict
    from trajmbrl.utils.atomic import config_hash

    before = {"cartpole": "a51c3775e6a0e414", "crazyflie": "f07b545cebf7df66"}
    before["reacher"] = "ebb67bbeee50c915"
    for name, digest in before.items():
        env = compose_cfg(f"envs={name}", "paths.root=/tmp/unused").env
        found = spec.find_system(name)
        assert found is not None and found.gym_id == env.id and "system" not in env
        assert spec.BUILTIN[name] == f"trajmbrl.envs.{name}"
        fingerprint = {"env": to_dict(env), "data_seed": 0, "source_sha256": None}
        assert config_hash(fingerprint) == digest, name  # as modes/collect.py hashes it
    assert sorted(spec.BUILTIN) == sorted([*before, "cartpole_heavy"])
    heavy = spec.find_system("cartpole_heavy")  # a variant spec of the cartpole module
    assert heavy is not None and spec.BUILTIN["cartpole_heavy"].endswith("cartpole:HEAVY_SPEC")
    assert heavy.gym_id == compose_cfg("envs=cartpole_heavy", "paths.root=/tmp/unused").env.id


def test_a_spec_with_half_a_control_task_is_refused():
    with pytest.raises(TrajmbrlError, match="control_reward, controller and theta_box go together"):
        spec.SystemSpec(
            name="half",
            gym_id="toy/Half-v0",
            entry_point="toy:Half",
            state_names=("x",),
            return_reward=lambda s: s[..., 0],
            controller=object,
        )
