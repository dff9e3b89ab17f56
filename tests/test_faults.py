"""The fault suite (issue 9): every class of bad input or broken file ends in one clear
TrajmbrlError naming the key or file, never in a traceback, a silently wrong result or a lost
artifact."""

from __future__ import annotations

import copy
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES
from trajmbrl.modes.artifacts import model_dir

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


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("logs.state=qd", "logs.state"),
        ("logs.seed=x", "logs.seed"),
        ("logs.test_fraction=abc", "logs.test_fraction"),
    ],
)
def test_bad_log_import_value_names_the_key(tmp_path, override, key):
    cfg = compose_cfg(
        "envs=logs",
        "mode=collect",
        f"paths.root={tmp_path}",
        "logs.path=x.csv",
        "logs.state=[q]",
        "logs.action=[u]",
    )
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


# ---- provenance: checkpoints and cached metrics are checked at every read ----


TINY = ("experiment=smoke", "model.epochs=1", "train.max_pairs=300", "model.hidden=8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke dataset with models d and t, copied by each test that changes it."""
    root = tmp_path_factory.mktemp("trained")
    for args in (["mode=collect"], ["mode=train", "models=[d,t]"]):
        cfg = compose_cfg(*TINY, f"paths.root={root}", *args)
        MODES[cfg.mode.name](cfg)
    return root


@pytest.fixture
def smoke_run(trained, tmp_path):
    """``run(*overrides)`` of any mode on a private copy of the trained smoke tree."""
    shutil.copytree(trained, tmp_path / "root")

    def run(*overrides: str):
        cfg = compose_cfg(*TINY, f"paths.root={tmp_path / 'root'}", *overrides)
        MODES[cfg.mode.name](cfg)
        return cfg

    return run


def test_stale_checkpoint_after_recollection_is_refused(smoke_run):
    smoke_run("mode=collect", "data.seed=7", "overwrite=true")  # new data, old models
    with pytest.raises(TrajmbrlError, match="trained on another dataset") as info:
        smoke_run("mode=eval", "models=[d]")
    assert "Retrain it with: trajmbrl mode=train" in str(info.value)
    assert "overwrite=true" in str(info.value)


def test_checkpoint_of_another_key_is_refused(smoke_run):
    cfg = smoke_run("mode=collect")  # (nothing to do) gives the config
    shutil.copy(model_dir(cfg, "d") / "model.pt", model_dir(cfg, "t") / "model.pt")
    with pytest.raises(TrajmbrlError, match="key is 'd' in the checkpoint but 't'"):
        smoke_run("mode=eval", "models=[t]")


def test_retrained_model_does_not_reuse_stale_metrics(smoke_run):
    cfg = smoke_run("mode=eval", "models=[t]")
    csv = next((Path(cfg.paths.run_dir) / "metrics").glob("t__*.csv"))
    # the same slot retrained to other weights (here: t, seed 0, in another experiment; a
    # checkpoint of another seed is refused by the slot check before any cache is consulted)
    other = smoke_run("mode=train", "models=[t]", "experiment_name=other", "model.lr=0.003")
    shutil.copy(model_dir(other, "t") / "model.pt", model_dir(cfg, "t") / "model.pt")
    with pytest.raises(TrajmbrlError, match="different evaluation config"):
        smoke_run("mode=eval", "models=[t]")
    assert csv.exists()  # never silently replaced


def test_truncated_metrics_are_recomputed_and_never_plotted(smoke_run, caplog):
    cfg = smoke_run("mode=eval", "models=[t]")
    csv = next((Path(cfg.paths.run_dir) / "metrics").glob("t__*.csv"))
    intact = csv.read_text()
    csv.write_text("\n".join(intact.splitlines()[:5]) + "\n")  # header intact, body cut
    with pytest.raises(TrajmbrlError, match="truncated or edited"):
        smoke_run("mode=plot")
    smoke_run("mode=eval", "models=[t]")
    assert csv.read_text() == intact and "not trusted" in caplog.text


def test_metrics_of_an_older_dataset_are_not_plotted(smoke_run):
    smoke_run("mode=eval", "models=[t]")
    smoke_run("mode=collect", "data.seed=7", "overwrite=true")
    with pytest.raises(TrajmbrlError, match="stale result"):
        smoke_run("mode=plot")


def test_second_writer_waits_for_the_lock_then_finds_the_work_done(smoke_run, tmp_path):
    from filelock import FileLock

    cfg = compose_cfg(*TINY, f"paths.root={tmp_path / 'root'}", "models=[d]", "seed=3")
    lock = FileLock(str(model_dir(cfg, "d") / ".lock"))
    lock.acquire()
    worker = threading.Thread(target=smoke_run, args=("mode=train", "models=[d]", "seed=3"))
    worker.start()
    worker.join(timeout=1.0)
    assert worker.is_alive() and not (model_dir(cfg, "d") / "model.pt").exists()
    lock.release()
    worker.join()
    assert (model_dir(cfg, "d") / "model.pt").exists()


# ---- protected datasets, full disks, unwritable locations ----


def test_edited_normaliser_or_unhashed_manifest_is_refused(smoke_run, tmp_path):
    cfg = smoke_run("mode=collect")
    manifest = Path(f"{cfg.paths.dataset}.json")
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "state_max": [v * 2 for v in meta["state_max"]]}))
    with pytest.raises(TrajmbrlError, match="state_max is"):
        smoke_run("mode=eval", "models=[t]")
    manifest.write_text(json.dumps({k: v for k, v in meta.items() if k != "sha256"}))
    with pytest.raises(TrajmbrlError, match="records no sha256"):
        smoke_run("mode=eval", "models=[t]")


def test_interrupted_collect_is_finished_by_running_it_again(smoke_run):
    cfg = smoke_run("mode=collect")
    manifest = Path(f"{cfg.paths.dataset}.json")
    expected = json.loads(manifest.read_text())["sha256"]
    manifest.unlink()  # killed after the arrays, before the manifest
    smoke_run("mode=collect")
    assert json.loads(manifest.read_text())["sha256"] == expected


def test_full_disk_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    from trajmbrl.utils.atomic import atomic_write_text

    target = tmp_path / "metrics.csv"
    target.write_text("old result\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(TrajmbrlError, match=f"cannot write {target}: No space left"):
        atomic_write_text(target, "new result\n")
    assert target.read_text() == "old result\n" and sorted(tmp_path.iterdir()) == [target]


def test_cli_unwritable_root_and_bad_value_are_one_line(tmp_path):
    exe = Path(sys.executable).with_name("trajmbrl")
    for args in (["paths.root=/proc/trajmbrl-nope"], ["seed=abc"]):
        out = subprocess.run(
            [str(exe), "mode=collect", "experiment=smoke", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"},
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.startswith("trajmbrl: error:") and len(out.stderr.splitlines()) == 1


# ---- the log importer ----


def _log(changes):
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"episode": np.repeat([0, 1, 2], 10), "q": rng.normal(size=30), "u": rng.normal(size=30)}
    )
    for (row, col), value in changes.items():
        df.loc[row, col] = value
    return df


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (lambda: _log({(4, "q"): 1e30}), r"extreme value.*data row\(s\) 5"),
        (lambda: _log({(25, "episode"): 0}), r"episode id 0 is reused.*row 26"),
        (
            lambda: _log({(4, "q"): 0.5, (5, "q"): 0.5, (4, "u"): 1.0, (5, "u"): 1.0}),
            r"duplicated row\(s\) 6",
        ),
    ],
)
def test_importer_refuses_outliers_reused_ids_and_duplicates(frame, match):
    from trajmbrl.data.importers import LogColumns, episodes_from_table

    cols = LogColumns(state=["q"], action=["u"], episode="episode")
    with pytest.raises(TrajmbrlError, match=match):
        episodes_from_table(frame(), cols)


def test_importer_accepts_declared_outliers():
    from trajmbrl.data.importers import LogColumns, episodes_from_table

    cols = LogColumns(state=["q"], action=["u"], episode="episode")
    states, *_ = episodes_from_table(_log({(4, "q"): 1e30}), cols, allow_outliers=True)
    assert states[0][4, 0] == 1e30
