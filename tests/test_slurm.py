"""Sweeps on a real (single-node) SLURM cluster: scripts/slurm-local.sh + hydra/launcher=slurm.

Run with ``pytest -m slurm`` (scripts/ci-slurm.sh); needs root, brings the cluster up and down
itself (leaving it up if it was already running). Smoke scale: each job trains in seconds.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import compose_cfg
from trajmbrl.cli import conf_dir
from trajmbrl.evaluation.aggregate import collect_metrics, per_run_table
from trajmbrl.models.checkpoint import load_checkpoint
from trajmbrl.modes.artifacts import model_dir

pytestmark = pytest.mark.slurm

REPO = conf_dir().parent
SCRIPT = REPO / "scripts" / "slurm-local.sh"
TRAJMBRL = Path(sys.executable).with_name("trajmbrl")
JOBS = [("d", 0), ("d", 1), ("t", 0), ("t", 1)]  # Hydra's job order for models=d,t seed=0,1
FAST = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]  # 2 jobs at once on 2 cores

# Test-only instrumentation, loaded by every Python process of the stall run via PYTHONPATH:
# the job whose train_state.pt path contains $TRAJMBRL_TEST_STALL writes its SLURM id to
# $TRAJMBRL_TEST_STALL_MARKER after its first epoch and then hangs, so the test can kill it at
# a known point instead of racing a 1-second training.
STALL_HOOK = """
import os
if os.environ.get("TRAJMBRL_TEST_STALL") and os.environ.get("SLURM_JOB_ID"):
    import time
    from pathlib import Path

    from trajmbrl.training import trainer

    _save_state = trainer.save_state
    _marker = Path(os.environ["TRAJMBRL_TEST_STALL_MARKER"])

    def _stalling_save_state(path, st):
        _save_state(path, st)
        if os.environ["TRAJMBRL_TEST_STALL"] in str(path) and not _marker.exists():
            array = os.environ.get("SLURM_ARRAY_JOB_ID")  # a 1-job sweep is not an array
            task = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ[
                "SLURM_JOB_ID"]
            _marker.write_text(f"{task} {st['epoch']}")
            time.sleep(600)

    trainer.save_state = _stalling_save_state
"""


@functools.cache
def model_path(root: Path, key: str, seed: int, *overrides: str) -> Path:
    """Where the smoke sweep's job (``key``, ``seed``, ``overrides``) saves its model."""
    cfg = compose_cfg(
        "experiment=smoke", f"paths.root={root}", f"models={key}", f"seed={seed}", *overrides
    )
    return model_dir(cfg, key) / "model.pt"


@pytest.fixture(scope="module")
def cluster() -> dict[str, str]:
    """The environment for talking to the local cluster (SLURM_CONF, sacct shim on PATH)."""
    if os.geteuid() != 0:
        pytest.skip(
            "the local SLURM cluster needs root (scripts/slurm-local.sh installs and "
            "starts munged/slurmctld/slurmd)"
        )
    was_up = subprocess.run([SCRIPT, "status"], capture_output=True).returncode == 0
    up = subprocess.run([SCRIPT, "up"], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        if shutil.which("slurmctld", path="/usr/sbin:/usr/bin") is None:
            pytest.skip("could not install SLURM with apt-get (offline?):\n" + up.stderr[-2000:])
        pytest.fail(f"scripts/slurm-local.sh up failed:\n{up.stderr[-4000:]}")
    conf = re.search(r"^export SLURM_CONF=(\S+)$", up.stdout, re.M)
    assert conf, up.stdout
    env = dict(os.environ, SLURM_CONF=conf[1])
    env["PATH"] = f"{Path(conf[1]).parent / 'bin'}:{env['PATH']}"  # the sacct shim
    yield env
    if not was_up:
        subprocess.run([SCRIPT, "down"], capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A smoke-scale cartpole dataset, collected once; tests copy it into their own root."""
    root = tmp_path_factory.mktemp("data")
    run = trajmbrl(root, "mode=collect", "experiment=smoke")
    assert run.returncode == 0, run.stderr
    return root / "trajectories"


def with_data(root: Path, dataset: Path) -> Path:
    shutil.copytree(dataset, root / "trajectories")
    return root


def trajmbrl(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Run the CLI with every artifact under ``root``."""
    cmd = [str(TRAJMBRL), *args, f"paths.root={root}", "progress=false"]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def sweep_args(root: Path, launcher: str, name: str = "sweep") -> list[str]:
    """The 4-job training sweep of the tests (models=d,t x seed=0,1) on ``launcher``."""
    extra = FAST if launcher == "slurm" else []
    return [
        "-m",
        f"hydra/launcher={launcher}",
        "mode=train",
        "experiment=smoke",
        "models=d,t",
        "seed=0,1",
        f"hydra.sweep.dir={root / name}",
        "hydra.sweep.subdir=${hydra.job.num}",
        *extra,
    ]


def wait_for_queue(env: dict[str, str], job_id: str, timeout: float = 120) -> None:
    """Block until no task of array job ``job_id`` is pending or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id], env=env, capture_output=True, text=True
        ).stdout
        if not out.strip():
            return
        time.sleep(0.5)
    pytest.fail(f"array job {job_id} still queued after {timeout} s")


def array_jobs(sweep: Path) -> set[str]:
    """SLURM array job ids that submitted into ``sweep`` (from submitit's folders)."""
    names = (p.name for p in (sweep / ".submitit").iterdir() if p.is_dir())
    return {m[1] for m in map(re.compile(r"^(\d+)_\d+$").match, names) if m}


def weights(path: Path) -> dict[str, torch.Tensor]:
    model, _ = load_checkpoint(path)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def slurm_sweep(cluster, dataset, tmp_path_factory) -> dict:
    """The 4-job sweep on SLURM with job 3 (t, seed=1) killed after its first epoch, re-run.

    :returns: what the tests check: both runs' results, mtimes, ids and the state file epoch.
    """
    root = with_data(tmp_path_factory.mktemp("slurm"), dataset)
    hook = root / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STALL_HOOK)
    marker = root / "stalled"
    stall_env = dict(
        cluster,
        PYTHONPATH=f"{hook}:{cluster.get('PYTHONPATH', '')}".rstrip(":"),
        TRAJMBRL_TEST_STALL="models/t/n=all_t=all/seed=1/",
        TRAJMBRL_TEST_STALL_MARKER=str(marker),
    )
    cmd = [str(TRAJMBRL), *sweep_args(root, "slurm"), f"paths.root={root}", "progress=false"]
    t0 = time.monotonic()
    first = subprocess.Popen(
        cmd, cwd=root, env=stall_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the stalled job never reached its first epoch"
        task, epoch = marker.read_text().split()
        stalled_state = model_path(root, "t", 1).with_name("train_state.pt")
        assert stalled_state.exists() and not model_path(root, "t", 1).exists()
        subprocess.run(["scancel", task], env=cluster, check=True)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    killed_after = time.monotonic() - t0
    state = torch.load(stalled_state, weights_only=True)
    mtimes = {
        job: model_path(root, *job).stat().st_mtime_ns
        for job in JOBS
        if model_path(root, *job).exists()
    }

    before = array_jobs(root / "sweep")
    t0 = time.monotonic()
    rerun = trajmbrl(root, *sweep_args(root, "slurm"), env=cluster)
    return {
        "root": root,
        "task": task,
        "marker_epoch": int(epoch),
        "state": state,
        "first": (first.returncode, out, err),
        "killed_after": killed_after,
        "mtimes": mtimes,
        "rerun": rerun,
        "rerun_s": time.monotonic() - t0,
        "rerun_job": (array_jobs(root / "sweep") - before),
    }


def test_killed_job_is_reported_and_the_rest_of_the_array_finishes(slurm_sweep):
    code, _, err = slurm_sweep["first"]
    task = slurm_sweep["task"]
    assert code != 0
    # submitit names the job, its state and its folder (where the .out/.err logs are)
    assert f"Job {task} (task: 0)" in err and "CANCELLED" in err
    assert f"/sweep/.submitit/{task}/" in err
    # killed mid-training: the epoch-1 state file is there, the model is not
    assert slurm_sweep["marker_epoch"] == 1 and slurm_sweep["state"]["epoch"] == 1
    assert not slurm_sweep["state"]["finished"]
    assert set(slurm_sweep["mtimes"]) == set(JOBS[:3])


def test_rerun_completes_only_the_killed_job(slurm_sweep):
    root, rerun = slurm_sweep["root"], slurm_sweep["rerun"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for job in JOBS:
        assert model_path(root, *job).exists(), job
    for job, mtime in slurm_sweep["mtimes"].items():
        assert model_path(root, *job).stat().st_mtime_ns == mtime, f"{job} was retrained"
    assert not model_path(root, "t", 1).with_name("train_state.pt").exists()
    (job_id,) = slurm_sweep["rerun_job"]  # the re-run is one new array of all 4 jobs
    logs = {
        i: (root / "sweep" / ".submitit" / f"{job_id}_{i}" / f"{job_id}_{i}_0_log.out")
        for i in range(4)
    }
    skipped = [i for i, log in logs.items() if "already trained" in log.read_text()]
    assert skipped == [0, 1, 2]
    assert "Saved" in logs[3].read_text()


def test_evaluate_and_aggregate_the_sweep(slurm_sweep):
    root = slurm_sweep["root"]
    run = trajmbrl(
        root,
        "-m",
        "mode=eval",
        "experiment=smoke",
        "models=[d,t]",
        "seed=0,1",
        f"hydra.sweep.dir={root / 'eval'}",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    frame = collect_metrics(root / "outputs" / "smoke")
    table = per_run_table(frame, horizons=[1, 10, 40]).reset_index()
    # one row per (model, protocol, seed): one-step d in both protocols, t queried directly
    runs = [("d", s, p) for s in (0, 1) for p in ("logged", "controller")]
    runs += [("t", s, "direct") for s in (0, 1)]
    assert sorted(zip(table["model"], table["seed"], table["action_source"])) == sorted(runs)
    assert (table["variant"] == "n=all_t=all").all() and (table["num_traj"] == "all").all()
    assert table[["h=1", "h=10", "h=40"]].notna().all().all()


def test_same_sweep_gives_identical_models_on_every_launcher(
    slurm_sweep, dataset, tmp_path_factory
):
    on_slurm = slurm_sweep["root"]
    assert slurm_sweep["rerun"].returncode == 0
    for launcher in ("basic", "local"):
        root = with_data(tmp_path_factory.mktemp(launcher), dataset)
        run = trajmbrl(root, *sweep_args(root, launcher))
        assert run.returncode == 0, run.stderr[-3000:]
        for job in JOBS:
            ours, theirs = weights(model_path(root, *job)), weights(model_path(on_slurm, *job))
            assert ours.keys() == theirs.keys()
            for name in ours:
                assert torch.equal(ours[name], theirs[name]), (launcher, job, name)
            history = model_path(root, *job).with_name("history.csv").read_text()
            assert history == model_path(on_slurm, *job).with_name("history.csv").read_text()


def test_a_failing_job_names_its_log_and_the_others_complete(cluster, dataset, tmp_path):
    root = with_data(tmp_path, dataset)
    sweep = root / "failing"
    run = trajmbrl(
        root,
        "-m",
        "hydra/launcher=slurm",
        "mode=train",
        "experiment=smoke",
        "models=d",
        "train.num_traj=0,2,4",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweep.subdir=${hydra.job.num}",
        *FAST,
        env=cluster,
    )
    assert run.returncode == 2
    # Hydra names the failed job's overrides; the error ends in one line, no traceback
    message = "config key train.num_traj must be an integer >= 1, got 0"
    assert re.search(r"Error executing job with overrides: \[[^]]*'train.num_traj=0'", run.stderr)
    assert f"trajmbrl: error: {message}" in run.stderr and "Traceback" not in run.stderr
    # the job's own log (Hydra's <sweep>/<subdir>/*.log) records the error and where it is
    (job_log,) = (sweep / "0").glob("*.log")
    assert f"[ERROR] {message} (job log: {job_log})" in job_log.read_text()
    assert f"job log: {job_log}" in run.stderr  # the terminal names the failed job's log
    (array,) = array_jobs(sweep)
    assert (
        "Job completed successfully"
        in (sweep / ".submitit" / f"{array}_0" / f"{array}_0_0_log.out").read_text()
    )
    # the other jobs of the array completed (the launcher waited for them)
    wait_for_queue(cluster, array, timeout=5)
    assert model_path(root, "d", 0, "train.num_traj=2").exists()
    assert model_path(root, "d", 0, "train.num_traj=4").exists()
    assert not model_path(root, "d", 0, "train.num_traj=0").parent.exists()
