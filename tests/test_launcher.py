"""The submitit launcher configs reach submitit as intended (no cluster needed).

Hydra's own plugin-test trick: compose with the launcher selected, instantiate the real launcher
plugin, replace ``submitit.AutoExecutor`` with a mock and read what ``launch`` passed to it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.types import HydraContext
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import OmegaConf

import trajmbrl
from trajmbrl.cli import HYDRA_VERSION_BASE, conf_dir

LAUNCHERS = conf_dir() / "hydra" / "launcher"
EXAMPLE = conf_dir() / "local" / "slurm.example.yaml"


def launch_mocked(tmp_path: Path, *overrides: str, jobs: list[list[str]] | None = None):
    """Launch ``jobs`` through the composed launcher with a mocked submitit executor.

    Tests pass ``local=slurm.example`` so that a developer's own conf/local/default.yaml cannot
    change the outcome.

    :returns: (the launcher, the AutoExecutor mock class).
    """
    GlobalHydra.instance().clear()
    sweep = tmp_path / "sweep"
    with initialize_config_dir(str(conf_dir()), version_base=HYDRA_VERSION_BASE):
        cfg = compose(
            "config", overrides=[*overrides, f"hydra.sweep.dir={sweep}"], return_hydra_config=True
        )
        context = HydraContext(
            config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks(cfg)
        )
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=context, task_function=lambda _: None, config=cfg
        )
        with patch("submitit.AutoExecutor") as executor:
            launcher.launch(jobs or [["envs=cartpole"]], initial_job_idx=0)
    GlobalHydra.instance().clear()
    return launcher, executor


def submitted(executor) -> dict:
    """The keyword arguments of the single ``update_parameters`` call."""
    executor.return_value.update_parameters.assert_called_once()
    return executor.return_value.update_parameters.call_args.kwargs


def test_slurm_launcher_passes_partition_timeout_and_parallelism(tmp_path):
    launcher, executor = launch_mocked(
        tmp_path,
        "hydra/launcher=slurm",
        "local=slurm.example",
        "mode=train",
        "hydra.launcher.partition=short",
        "hydra.launcher.timeout_min=7",
        "hydra.launcher.array_parallelism=3",
        jobs=[["envs=cartpole", "seed=0"], ["envs=cartpole", "seed=1"]],
    )
    assert type(launcher).__name__ == "SlurmLauncher"
    executor.assert_called_once_with(
        cluster="slurm", folder=f"{tmp_path}/sweep/.submitit/%j", slurm_max_num_timeout=2
    )
    params = submitted(executor)
    assert params["slurm_partition"] == "short"
    assert params["timeout_min"] == 7
    assert params["slurm_array_parallelism"] == 3
    assert params["cpus_per_task"] == 2 and params["mem_gb"] == 8
    assert params["name"] == "trajmbrl-train"
    assert params["slurm_account"] is None and params["slurm_qos"] is None
    # one array with one task per job, each carrying its own overrides and job number
    mapped = executor.return_value.map_array.call_args.args
    assert mapped[0] is launcher
    assert mapped[1] == (["envs=cartpole", "seed=0"], ["envs=cartpole", "seed=1"])
    assert mapped[3] == (0, 1)


def test_site_values_come_from_the_local_config_and_the_command_line_wins(tmp_path):
    _, executor = launch_mocked(tmp_path, "hydra/launcher=slurm", "local=slurm.example")
    params = submitted(executor)
    assert params["slurm_partition"] == "debug"  # from conf/local/slurm.example.yaml
    assert params["timeout_min"] == 60 and params["slurm_array_parallelism"] == 32

    _, executor = launch_mocked(
        tmp_path,
        "hydra/launcher=slurm",
        "local=slurm.example",
        "++local.slurm.partition=gpu",
        "++local.slurm.account=lab",
        "++local.slurm.qos=high",
    )
    params = submitted(executor)
    assert (params["slurm_partition"], params["slurm_account"], params["slurm_qos"]) == (
        "gpu",
        "lab",
        "high",
    )

    _, executor = launch_mocked(
        tmp_path, "hydra/launcher=slurm", "local=slurm.example", "hydra.launcher.partition=long"
    )
    assert submitted(executor)["slurm_partition"] == "long"


def test_the_example_site_file_blocks_work_when_uncommented(tmp_path):
    # uncomment the `paths:` and `hydra:` blocks: from "# paths:" / "# hydra:" to a blank line
    lines, block = [], False
    for line in EXAMPLE.read_text().splitlines():
        block = bool(re.match(r"^# (paths|hydra):", line)) or (block and line.startswith("#  "))
        lines.append(line[2:] if block else line)
    site = tmp_path / "site" / "local" / "site.yaml"
    site.parent.mkdir(parents=True)
    site.write_text("\n".join(lines) + "\n")
    loaded = OmegaConf.load(site)
    assert "root" in loaded.paths and loaded.hydra.launcher.mem_gb == 16

    with patch.dict("os.environ", {"TRAJMBRL_ROOT": "/shared/x"}):
        launcher, executor = launch_mocked(
            tmp_path,
            "hydra/launcher=slurm",
            f"hydra.searchpath=[file://{site.parent.parent}]",
            "local=site",
        )
        assert launcher.config.paths.root == "/shared/x"
    params = submitted(executor)
    assert params["mem_gb"] == 16 and params["slurm_setup"] == ["module load cuda/12.1"]
    assert params["slurm_partition"] == "debug"


def test_local_launcher_runs_the_same_layout_without_slurm_keys(tmp_path):
    launcher, executor = launch_mocked(
        tmp_path, "hydra/launcher=local", "local=slurm.example", "hydra.launcher.timeout_min=5"
    )
    assert type(launcher).__name__ == "LocalLauncher"
    assert executor.call_args.kwargs["cluster"] == "local"
    assert executor.call_args.kwargs["folder"] == f"{tmp_path}/sweep/.submitit/%j"
    params = submitted(executor)
    assert params["timeout_min"] == 5
    assert not any(k.startswith("slurm_") for k in params)


@pytest.mark.parametrize(("name", "schema"), [("slurm", SlurmQueueConf), ("local", LocalQueueConf)])
def test_every_launcher_key_is_a_real_plugin_field(name, schema):
    keys = set(OmegaConf.load(LAUNCHERS / f"{name}.yaml")) - {"defaults"}
    assert keys <= set(OmegaConf.structured(schema).keys())


def sweep_without_cluster(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess:
    """A SLURM sweep with only ``tools`` (name -> shell script body) on PATH."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in tools.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    cmd = [sys.executable, "-m", "trajmbrl", "-m", "hydra/launcher=slurm", "mode=collect"]
    src = str(Path(trajmbrl.__file__).parents[1])  # this checkout's package, from any cwd
    env = {**os.environ, "PATH": str(bin_), "PYTHONPATH": src}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [*cmd, "experiment=smoke", f"paths.root={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "tools, why",
    [
        ({}, "no sbatch or srun on PATH"),  # not a SLURM machine
        (  # SLURM installed but no cluster configured (what Debian's sbatch says)
            {
                "srun": "exit 1",
                "sbatch": "echo 'sbatch: fatal: Could not establish a "
                "configuration source' >&2; exit 1",
            },  # fmt: skip
            "sbatch: fatal: Could not establish a configuration source",
        ),
    ],
)
def test_a_slurm_sweep_without_a_cluster_is_one_line_naming_the_site_file(tmp_path, tools, why):
    run = sweep_without_cluster(tmp_path, tools)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    ours = [line for line in run.stderr.splitlines() if not line.startswith("sbatch:")]
    assert len(ours) == 1, run.stderr  # sbatch's own lines may precede it
    assert ours[0].startswith(f"trajmbrl: error: SLURM submission failed ({why})")
    assert str(conf_dir() / "local" / "default.yaml") in ours[0]
    assert "docs/cluster.md" in ours[0] and "hydra/launcher=local" in ours[0]
    assert not (tmp_path / "trajectories").exists()  # nothing ran
