"""The fault suite (issue 9): every class of bad input or broken file ends in one clear
TrajmbrlError naming the key or file, never in a traceback, a silently wrong result or a lost
artifact."""

from __future__ import annotations

import copy
import re

import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES
from trajmbrl.modes.common import model_dir

# (override, the key the message must name); each used to end in a traceback or be ignored
BAD_VALUES = [
    ("seed=abc", "seed"),
    ("seed=-1", "seed"),
    ("data.seed=-1", "data.seed"),
    ("model.lr=abc", "model.lr"),
    ("model.lr=0", "model.lr"),
    ("train.keep_rate=abc", "train.keep_rate"),
    ("train.keep_rate=2", "train.keep_rate"),
    ("train.val_fraction=1", "train.val_fraction"),
    ("model.hidden=0", "model.hidden"),
    ("models.t.layers=abc", "models.t.layers"),
    ("eval.task=bogus", "eval.task"),
    ("eval.render='false'", "eval.render"),
    ("plot.horizons=[0,5]", "plot.horizons"),
    ("env.horizon=1.5", "env.horizon"),
    ("env.data_mode=wobbly", "env.data_mode"),
    ("+train.epoch=3", "train.epoch"),  # Hydra's own suggestion for a misspelt key
    ("+bogus=1", "bogus"),
]


@pytest.fixture(scope="module")
def smoke_cfg():
    return compose_cfg("experiment=smoke", "mode=train")


def with_override(cfg, override):
    """``cfg`` with one command-line override applied as Hydra parses it (no re-compose)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(override)
    out = copy.deepcopy(cfg)
    OmegaConf.update(out, parsed.key_or_group, parsed.value(), force_add=True)
    return out


@pytest.mark.parametrize(("override", "key"), BAD_VALUES)
def test_bad_value_is_one_line_naming_the_key(tmp_path, smoke_cfg, override, key):
    cfg = with_override(with_override(smoke_cfg, f"paths.root={tmp_path}"), override)
    with pytest.raises(TrajmbrlError) as info:
        MODES["train"](cfg)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and re.search(rf"key {re.escape(key)}\b", msg)
    assert not any(tmp_path.iterdir())  # rejected before anything was read or written


@pytest.mark.parametrize(("override", "key"), [("logs.state=qd", "logs.state"),
                                               ("logs.seed=x", "logs.seed"),
                                               ("logs.test_fraction=abc", "logs.test_fraction")])
def test_bad_log_import_value_names_the_key(tmp_path, override, key):
    cfg = compose_cfg("envs=logs", "mode=collect", f"paths.root={tmp_path}", "logs.path=x.csv",
                      "logs.state=[q]", "logs.action=[u]")
    with pytest.raises(TrajmbrlError, match=f"key {key} "):
        MODES["collect"](with_override(cfg, override))


def test_bad_value_with_overwrite_deletes_nothing(run_mode, tmp_path):
    run_mode("mode=collect")
    cfg = compose_cfg("experiment=smoke", f"paths.root={tmp_path}", "models=d")
    state = model_dir(cfg, "d") / "train_state.pt"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"interrupted run")
    with pytest.raises(TrajmbrlError, match="key model.lr"):
        run_mode("mode=train", "models=d", "overwrite=true", "model.lr=abc")
    assert state.read_bytes() == b"interrupted run"

