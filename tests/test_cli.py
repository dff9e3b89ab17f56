"""The console script itself: help, any working directory, clean errors, exit codes."""

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).with_name("trajmbrl")


def trajmbrl(cwd, *args):
    return subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_the_groups_and_their_options(tmp_path):
    run = trajmbrl(tmp_path, "--help")
    assert run.returncode == 0
    for line in (
        "mode: collect, control, eval, plot, train",
        "models: d, de, dk, dke, p, pe, sq, sqe, t, te, tp, tpe, tr, tre",
        "experiment: control, demo, sec52, sec53, sec54, sec55, smoke",
    ):
        assert line in run.stdout
    assert "cartpole" in run.stdout and "crazyflie_hw" in run.stdout


def test_runs_from_any_directory_and_errors_are_one_clean_message(tmp_path):
    run = trajmbrl(tmp_path, "mode=train", "experiment=smoke", "models=d")
    assert run.returncode == 2
    assert "trajmbrl: error: Dataset not found" in run.stderr
    assert "trajmbrl mode=collect envs=cartpole experiment=smoke" in run.stderr
    assert "Traceback" not in run.stderr
    run = trajmbrl(tmp_path, "mode=collect", "experiment=smoke")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "trajectories/cartpole/toy_stable.npz").exists()


@pytest.mark.parametrize("bad", ["envs=hopper", "mode=bogus"])
def test_unknown_options_fail_with_hydras_list(tmp_path, bad):
    run = trajmbrl(tmp_path, bad)
    assert run.returncode != 0
    assert "Available options" in run.stderr
