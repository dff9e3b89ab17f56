"""Every env x model composes; unknown options fail with Hydra's list of options."""

import pytest
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from conftest import compose_cfg
from trajmbrl.cli import conf_dir
from trajmbrl.configs import model_config
from trajmbrl.modes.artifacts import model_dir
from trajmbrl.modes.schema import validate
from trajmbrl.modes.settings import model_keys, model_settings

ENVS = sorted(p.stem for p in (conf_dir() / "envs").glob("*.yaml"))
MODELS = sorted(p.stem for p in (conf_dir() / "models").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))


def test_no_model_yaml_depends_on_the_env():
    """What lets PAIRS skip the cross product."""
    for path in (conf_dir() / "models").glob("*.yaml"):
        assert "${env" not in path.read_text(), path.name


def test_the_expected_groups_exist():
    assert {"cartpole", "reacher", "crazyflie", "crazyflie_hw", "logs"} <= set(ENVS)
    assert set(MODELS) >= {"d", "de", "p", "pe", "t", "te", "tp", "tpe"}


#: every env and every model key at least once: no model YAML interpolates an env's keys (the
#: full cross product composed the same nodes 112 times)
PAIRS = sorted(
    {(env, MODELS[i % len(MODELS)]) for i, env in enumerate(ENVS)}
    | {(ENVS[i % len(ENVS)], model) for i, model in enumerate(MODELS)}
)


@pytest.mark.parametrize(("env", "model"), PAIRS)
def test_every_env_and_model_composes(env, model):
    extra = ["logs.path=x.csv", "logs.state=[a]", "logs.action=[b]"] if env == "logs" else []
    cfg = compose_cfg(f"envs={env}", f"models={model}", *extra)
    assert model_keys(cfg) == [model] and cfg.env.name == env
    assert model_settings(cfg, model) == model_config(model)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert "???" not in str(container)
    validate(cfg)  # every shipped config passes the typed schema
    assert model_dir(cfg, model).parts[-3] == model


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("mode", ["collect", "train", "eval", "plot"])
def test_every_experiment_and_mode_composes(experiment, mode):
    cfg = compose_cfg(f"experiment={experiment}", f"mode={mode}", "scale=toy")
    assert cfg.mode.name == mode
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)


@pytest.mark.parametrize(
    ("group", "bad"), [("envs", "hopper"), ("models", "lstm"), ("mode", "bogus")]
)
def test_unknown_option_lists_the_options(group, bad):
    with pytest.raises(MissingConfigException) as info:
        compose_cfg(f"{group}={bad}")
    assert f"{group}/{bad}" in str(info.value)
    assert "Available options" in str(info.value)


def test_command_line_beats_experiment():
    cfg = compose_cfg("experiment=smoke", "env.horizon=17", "seed=3")
    assert cfg.env.horizon == 17 and cfg.seed == 3


def test_model_dir_separates_data_size_variants():
    a = model_dir(compose_cfg("train.num_traj=3", "train.t_range=10"), "t")
    b = model_dir(compose_cfg(), "t")
    assert a.parts[-2] == "n=3_t=10" and b.parts[-2] == "n=all_t=all"
