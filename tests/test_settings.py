"""A knob is declared once, in the library's settings dataclass: the CLI schema takes its type
and range from there, library errors name library arguments, the CLI names its keys."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

import trajmbrl
from conftest import compose_cfg
from trajmbrl.configs import base_settings, model_config
from trajmbrl.control.loop import Budget
from trajmbrl.control.mpc import CEMSettings
from trajmbrl.data.pairs import Sampling, select_training, trajectory_pairs
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.predict import PredictSettings, predict
from trajmbrl.models.dynamics import ModelSpec
from trajmbrl.modes import MODES
from trajmbrl.modes.schema import cli_message, cli_names, validate
from trajmbrl.modes.settings import model_settings
from trajmbrl.training.config import TrainConfig

SRC = Path(trajmbrl.__file__).parent
ARG = re.compile(r"\{([A-Za-z_]\w*)\.([a-z_]\w*)\}")


@pytest.mark.parametrize(
    ("make", "key", "value"),
    [
        (lambda v: TrainConfig(patience=v), "train.patience", 0),
        (lambda v: TrainConfig(val_fraction=v), "train.val_fraction", 1.0),
        (lambda v: TrainConfig(precision=v), "train.precision", "fp16"),
        (lambda v: TrainConfig(lr=v), "model.lr", 0.0),
        (lambda v: ModelSpec("t", "trajectory", 2, 0, 1, hidden=v), "model.hidden", 0),
        (lambda v: Budget(rounds=v), "control.rounds", 0),
        (lambda v: CEMSettings(alpha=v), "control.mpc.alpha", 1.0),
        (lambda v: Sampling(num_traj=v), "train.num_traj", 0),
        (lambda v: Sampling(t_range=v), "train.t_range", "all"),
        (lambda v: Sampling(keep_rate=v), "train.keep_rate", 2),
        (lambda v: Sampling(max_pairs=v), "train.max_pairs", 2.5),
        (lambda v: PredictSettings(protocols=v), "eval.protocols", ["logged", "open"]),
        (lambda v: PredictSettings(propagation=v), "eval.propagation", "ts2"),
        (lambda v: PredictSettings(particles=v), "eval.particles", 1.5),
    ],
)
def test_library_and_cli_check_a_knob_alike_and_name_it_their_way(make, key, value):
    with pytest.raises(ArgumentError) as lib:
        make(value)
    name = key.rsplit(".", 1)[-1]
    assert str(lib.value).startswith(f"{name} must be ") and key not in str(lib.value)
    cfg = compose_cfg("experiment=smoke", "mode=control" if "control" in key else "mode=train")
    OmegaConf.update(cfg, key, value)
    with pytest.raises(TrajmbrlError) as cli:
        validate(cfg)
    # the same words: the CLI prefixes "config key" and names the key
    assert str(cli.value) == f"config key {cli_message(lib.value)}"


def test_python_callers_see_argument_names_and_the_cli_its_keys():
    s0, actions = np.zeros((2, 3)), np.zeros((2, 4, 1))
    model = trajmbrl.DynamicsModel(ModelSpec.for_key("p", state_dim=3, action_dim=1, param_dim=0))
    with pytest.raises(ArgumentError) as info:
        predict(model, s0, 4, actions=actions, propagation="ts1", particles=0)
    assert str(info.value) == "particles must be >= 1, got 0"
    assert cli_message(info.value) == "eval.particles must be >= 1, got 0"


def test_prediction_knobs_are_predict_settings_for_python_and_the_modes():
    from trajmbrl.modes.prediction import eval_protocols, prediction_settings

    knobs = prediction_settings(compose_cfg("eval.particles=3", "train.precision=bf16"))
    assert knobs == PredictSettings(["logged", "controller"], "mean", 3, "bf16")
    assert [cli_names()[f"PredictSettings.{k}"] for k in ("protocols", "particles")] == [
        "eval.protocols",
        "eval.particles",
    ]
    s0, actions = np.zeros((2, 3)), np.zeros((2, 4, 1))
    model = trajmbrl.DynamicsModel(ModelSpec.for_key("p", state_dim=3, action_dim=1, param_dim=0))
    for bad in ({"protocols": ()}, {"precision": "fp16"}):  # predict checks them as the settings
        with pytest.raises(ArgumentError) as lib:
            predict(model, s0, 4, actions=actions, **bad)  # type: ignore[arg-type]
        with pytest.raises(ArgumentError) as own:
            PredictSettings(**{k: list(v) if k == "protocols" else v for k, v in bad.items()})
        assert str(lib.value) == str(own.value)
    with pytest.raises(ArgumentError) as info:  # the mode's message, as before
        eval_protocols(compose_cfg("eval.protocols=[]"))
    assert cli_message(info.value) == (
        "eval.protocols must be a non-empty subset of ['logged', 'controller'], got []"
    )


def test_sampling_knobs_are_checked_by_the_sampling_settings_everywhere():
    from toy import toy_dataset

    data = toy_dataset()
    with pytest.raises(ArgumentError) as own:
        Sampling(keep_rate=0)
    with pytest.raises(ArgumentError) as pairs:
        trajectory_pairs(data, t_range=3, keep_rate=0, max_pairs=None, seed=0)
    assert str(pairs.value) == str(own.value) == "keep_rate must be a number > 0 and <= 1, got 0"
    with pytest.raises(ArgumentError, match="^t_range must be an integer >= 1, got 0$"):
        select_training(data, num_traj=None, t_range=0, seed=0)
    cfg = compose_cfg("train.keep_rate=0.5", "train.max_pairs=7")
    with open_dict(cfg):
        cfg.train.num_traj = 10_000
    from trajmbrl.modes.train import build_training_set

    with pytest.raises(ArgumentError) as big:
        build_training_set(cfg, model_config("t") | {"key": "t"}, data)
    assert cli_message(big.value).startswith("train.num_traj=10000 but the dataset has only")


def test_a_library_error_in_a_mode_names_the_config_key(tmp_path):
    cfg = compose_cfg("experiment=smoke", "mode=train", f"paths.root={tmp_path}")
    MODES["collect"](compose_cfg("experiment=smoke", "mode=collect", f"paths.root={tmp_path}"))
    with open_dict(cfg):
        cfg.train.num_traj = 10_000
    with pytest.raises(TrajmbrlError, match=r"^train\.num_traj=10000 but the dataset has only"):
        MODES["train"](cfg)


def _argument_references(path: Path) -> set[str]:
    """``Owner.name`` in the literal text of every ``ArgumentError(...)`` in ``path``."""
    refs = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ArgumentError":
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    refs |= {f"{a}.{b}" for a, b in ARG.findall(part.value)}
    return refs


def test_every_argument_a_library_error_names_has_a_cli_key():
    refs = set().union(*(_argument_references(p) for p in SRC.rglob("*.py")))
    assert len(refs) > 20  # the scan sees the messages
    missing = sorted(refs - set(cli_names()))
    assert not missing, f"library arguments without a CLI key (modes/schema.py): {missing}"


def test_model_keys_start_from_the_library_defaults():
    assert base_settings() == {
        "hidden": 250,
        "layers": 3,
        "epochs": 40,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 0.0,
    }
    for key in ("d", "tpe"):
        assert model_settings(compose_cfg(f"models={key}"), key) == model_config(key)


def test_a_key_defined_only_by_its_yaml_node_is_used_as_it_says():
    cfg = compose_cfg("models=t")
    with open_dict(cfg):
        cfg.models["gru"] = {**model_config("te"), "key": "gru", "hidden": 8}
    settings = model_settings(cfg, "gru")
    assert settings["ensemble_size"] == 5 and settings["hidden"] == 8
    spec = ModelSpec.from_settings(settings, state_dim=2, action_dim=0, param_dim=1)
    assert (spec.key, spec.family, spec.ensemble_size, spec.hidden) == ("gru", "trajectory", 5, 8)
    with open_dict(cfg):
        cfg.model.ensemble_size = 1
    with pytest.raises(TrajmbrlError, match=r"^model\.ensemble_size=1 contradicts models=gru"):
        model_settings(cfg, "gru")


def test_eval_tasks_are_a_config_group_with_their_defaults_in_yaml():
    from trajmbrl.cli import conf_dir, removed_key
    from trajmbrl.modes.schema import EVAL_TASKS

    assert sorted(p.stem for p in (conf_dir() / "eval").glob("*.yaml")) == sorted(EVAL_TASKS)
    default = compose_cfg("mode=eval")
    assert default.eval.task == "horizon" and default.eval.up_to.num_traj is None
    sec54 = compose_cfg("experiment=sec54", "mode=eval")
    assert sec54.eval.task == "efficiency"
    assert (sec54.eval.up_to.num_traj, sec54.eval.up_to.horizon) == (10, 100)
    assert compose_cfg("experiment=sec55", "mode=eval").eval.task == "reward"
    assert compose_cfg("eval=efficiency", "eval.up_to.horizon=7").eval.up_to.horizon == 7
    assert "use eval=horizon|efficiency|reward" in (removed_key(["eval.task=reward"]) or "")


def test_eval_sizes_come_from_the_task_file_and_are_clipped_to_the_data():
    from trajmbrl.modes.settings import eval_size

    cfg = compose_cfg("eval=efficiency")
    assert eval_size(cfg, "num_traj", 40) == 10 and eval_size(cfg, "num_traj", 4) == 4
    assert eval_size(cfg, "horizon", 500) == 100
    with open_dict(cfg):
        cfg.eval.num_traj = 30  # an explicit value is not clipped (the mode refuses it)
    assert eval_size(cfg, "num_traj", 4) == 30
    assert eval_size(compose_cfg("eval=horizon"), "horizon", 123) == 123


def test_model_spec_takes_numpy_sizes_and_keeps_plain_ints():
    spec = ModelSpec("t", "trajectory", np.int64(3), 0, np.int64(2), hidden=np.int64(8))
    assert type(spec.hidden) is int and type(spec.state_dim) is int
    with pytest.raises(ArgumentError, match="^hidden must be an integer >= 1, got 0$"):
        ModelSpec("t", "trajectory", 3, 0, 2, hidden=0)
