"""Storage faults on a real disk: a small tmpfs filled by PyTorch and dataset writes, and one
mounted read-only. Every save ends in the one-line ``cannot write <path>: <reason>`` and the
old file survives. Needs root (``mount -t tmpfs``); skipped otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import trajmbrl
from trajmbrl.errors import TrajmbrlError


def _mount(path: Path, options: str) -> bool:
    run = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    return run.returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only; the test is skipped when it cannot be mounted)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if not _mount(mnt, "size=64k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> None:
    """Leave the disk with a few KiB free (an old artifact fits, a new model does not)."""
    (disk / "old").write_bytes(b"old")
    with open(disk / "filler", "wb") as fh:
        fh.write(b"\0" * (48 * 1024))


def _model() -> trajmbrl.DynamicsModel:
    """A trajectory model of about 70 k parameters (~280 KiB on disk)."""
    spec = trajmbrl.ModelSpec.for_key(
        "t", state_dim=2, action_dim=0, param_dim=1, hidden=256, layers=2
    )
    return trajmbrl.DynamicsModel(spec)


def _one_line(err: pytest.ExceptionInfo[TrajmbrlError], path: Path, reason: str) -> None:
    msg = str(err.value)
    assert msg == f"cannot write {path}: {reason}", msg
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_full_disk_while_torch_saves_model_pt(disk):
    _fill(disk)
    target = disk / "model.pt"
    target.write_bytes(b"old model")
    with pytest.raises(TrajmbrlError) as err:
        trajmbrl.save_checkpoint(target, _model(), meta={})
    _one_line(err, target, "No space left on device")
    assert target.read_bytes() == b"old model"


def test_full_disk_while_torch_saves_train_state_pt(disk):
    _fill(disk)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.normal(size=(64, 2))
    state = disk / "train_state.pt"
    with pytest.raises(TrajmbrlError) as err:
        trajmbrl.train_model(
            "t", x, y, state_dim=2, param_dim=1, epochs=1, hidden=256, layers=2, state_path=state
        )
    _one_line(err, state, "No space left on device")
    assert not state.exists()


def test_full_disk_while_writing_a_dataset(disk):
    _fill(disk)
    rng = np.random.default_rng(0)
    data = trajmbrl.dataset_from_arrays(rng.normal(size=(20, 51, 4)), rng.normal(size=(20, 50, 1)))
    with pytest.raises(TrajmbrlError) as err:
        trajmbrl.save_dataset(data, disk / "ds", {})
    _one_line(err, disk / "ds.npz", "No space left on device")
    assert not (disk / "ds.npz").exists()


def test_read_only_disk_names_the_path(disk):
    target = disk / "model.pt"
    target.write_bytes(b"old model")
    if subprocess.run(["mount", "-o", "remount,ro", str(disk)]).returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only")
    with pytest.raises(TrajmbrlError) as err:
        trajmbrl.save_checkpoint(target, _model(), meta={})
    assert str(err.value) == f"cannot write {target}: Read-only file system"
    assert target.read_bytes() == b"old model"


def test_a_runtime_error_that_is_no_write_failure_is_not_hidden(tmp_path):
    from trajmbrl.utils.atomic import atomic_path

    with pytest.raises(RuntimeError, match="a bug"), atomic_path(tmp_path / "x.pt"):
        raise RuntimeError("a bug in what was saved")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_during_cli_training_is_one_line(disk, tmp_path):
    # the dataset on a normal disk, the outputs (Hydra's log, train_state.pt, model.pt) on the
    # full one: PyTorch's save fails, the CLI prints one line naming the file
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(Path(trajmbrl.__file__).parents[1])
    args = [sys.executable, "-m", "trajmbrl", "experiment=smoke", f"paths.root={tmp_path}"]
    run = lambda *a: subprocess.run([*args, *a], capture_output=True, text=True, env=env)  # noqa: E731
    assert run("mode=collect").returncode == 0
    (disk / "filler").write_bytes(b"\0" * (16 * 1024))  # Hydra's run files fit, a model not
    out = run("mode=train", f"paths.output_dir={disk}", "model.hidden=256", "model.epochs=1")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert re.match(r"trajmbrl: error: cannot write \S+\.pt: No space left on device$", out.stderr)


@pytest.mark.parametrize(
    "message",
    [
        "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534",
        "basic_ios::clear: iostream error",
        "PytorchStreamWriter failed writing file data/0: file write failed",
    ],
)
def test_every_torch_write_error_seen_is_a_storage_fault(tmp_path, message):
    from trajmbrl.utils.atomic import atomic_path

    target = tmp_path / "x.pt"
    with pytest.raises(TrajmbrlError, match=rf"^cannot write {target}: "), atomic_path(target):
        raise RuntimeError(message)
    assert list(tmp_path.iterdir()) == []
