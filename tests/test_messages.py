"""Suggested commands repeat the user's overrides, so following them reaches the same run."""

import shlex

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from conftest import compose_cfg
from trajmbrl.cli import HYDRA_VERSION_BASE, conf_dir
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES
from trajmbrl.modes.artifacts import model_dir
from trajmbrl.modes.console import reproduce


@pytest.fixture
def hydra_run():
    """Compose like the CLI does (Hydra's job config set, then removed from the task config)."""

    def run(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(conf_dir()), version_base=HYDRA_VERSION_BASE):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    yield run
    HydraConfig.instance().cfg = None


def _hint(exc: pytest.ExceptionInfo, label: str) -> list[str]:
    line = next(x for x in str(exc.value).splitlines() if label in x)
    words = shlex.split(line.split(label, 1)[1])
    assert words[0] == "trajmbrl"
    return words[1:]


def test_reproduce_keeps_the_selection_and_replaces_what_it_sets():
    typed = [
        "mode=eval",
        "models=[d,t]",
        "models.t.hidden=8",
        "overwrite=true",
        "seed=2",
        "logs.state=[q,qd]",
        "hydra/launcher=local",
        "envs=logs",
        "env.horizon=9",
    ]
    assert reproduce(typed, ["mode=train", "envs=logs", "models=te"]) == (
        "trajmbrl mode=train envs=logs seed=2 'logs.state=[q,qd]' env.horizon=9 models=te"
    )
    assert reproduce(typed, ["mode=collect", "envs=logs"], multirun=True).startswith(
        "trajmbrl -m mode=collect envs=logs 'models=[d,t]' models.t.hidden=8 seed=2"
    )


def test_following_the_hints_reaches_the_same_dataset_variant_and_seed(hydra_run, tmp_path):
    run = (
        "experiment=smoke",
        f"paths.root={tmp_path}",
        "seed=3",
        "data.seed=2",
        "train.num_traj=4",
        "train.t_range=20",
        "env.data_mode=periodic",
        "data.tag=mine",
    )
    cfg = hydra_run("mode=eval", "models=[te]", *run)
    with pytest.raises(TrajmbrlError, match="Dataset not found") as exc:
        MODES["eval"](cfg)
    collect = compose_cfg(*_hint(exc, "Create it with:"))
    assert collect.mode.name == "collect" and collect.paths.dataset == cfg.paths.dataset
    assert collect.data.seed == 2 and collect.env.data_mode == "periodic"
    MODES["collect"](collect)
    cfg = hydra_run("mode=eval", "models=[te]", *run)
    with pytest.raises(TrajmbrlError, match="No trained model") as exc:
        MODES["eval"](cfg)
    train = compose_cfg(*_hint(exc, "Train it with:"))
    assert train.mode.name == "train" and list(train.models) == ["te"]
    assert model_dir(train, "te") == model_dir(cfg, "te")
    assert (train.seed, train.train.num_traj, train.train.t_range) == (3, 4, 20)
