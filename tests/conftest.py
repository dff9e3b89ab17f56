"""Shared fixtures; tests import helpers from this folder (toy.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MUJOCO_GL", "egl")

from trajmbrl.cli import HYDRA_VERSION_BASE, conf_dir  # noqa: E402
from trajmbrl.modes import MODES  # noqa: E402


def compose_cfg(*overrides: str):
    """The composed config for ``overrides`` (as the CLI would build it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf_dir()), version_base=HYDRA_VERSION_BASE):
        return compose("config", overrides=list(overrides))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: intra-op threads only add barrier overhead (and hurt on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def run_mode(tmp_path):
    """Run a mode in-process at smoke scale with every artifact under ``tmp_path``."""

    def run(*overrides: str):
        cfg = compose_cfg("experiment=smoke", f"paths.root={tmp_path}", *overrides)
        MODES[cfg.mode.name](cfg)
        return cfg

    return run
