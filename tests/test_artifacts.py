"""One artifact layout, one status check, checked reads, locks and slots (issues 18.3, 19.1,
19.2, 19.6): each case here used to be lost, silently wrong or a failure."""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.artifacts.layout import (
    Layout,
    ModelSlot,
    parse_control_run,
    parse_metrics_name,
    parse_model_dir,
)
from trajmbrl.artifacts.manifest import table_problem
from trajmbrl.artifacts.status import Status, csv_status
from trajmbrl.control.loop import COLUMNS
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES
from trajmbrl.modes.artifacts import layout, model_dir
from trajmbrl.utils.hashed_csv import read_header, write_hashed_csv

TINY = ("experiment=smoke", "model.epochs=1", "train.max_pairs=300", "model.hidden=8")


# ---- the layout builds and parses every path ----


def test_layout_builds_and_parses_the_same_names(tmp_path):
    files = Layout(
        tmp_path / "data/cartpole/s", tmp_path / "run", tmp_path / "run/models", tmp_path
    )
    where = ModelSlot("te", "n=3_t=20", 2)
    assert parse_model_dir(files.checkpoint(where)) == where
    assert files.checkpoint(where) == tmp_path / "run/models/te/n=3_t=20/seed=2/model.pt"
    parsed = parse_metrics_name(files.metrics_csv("hmean", "n=all_t=all", 0, "logged-ts1"))
    assert (parsed.key, parsed.variant, parsed.seed, parsed.source) == (
        "hmean",
        "n=all_t=all",
        0,
        "logged-ts1",
    )
    run = parse_control_run(files.control_run("model_cma_onestep", None, 4, "0123456789ab"))
    assert (run.method, run.key, run.seed, run.settings) == (
        "model_cma_onestep",
        None,
        4,
        "0123456789ab",
    )
    assert parse_control_run(files.legacy_control_run("env_bo", None, 1)).settings == ""
    assert files.dataset_files() == (
        tmp_path / "data/cartpole/s.npz",
        tmp_path / "data/cartpole/s.json",
    )
    assert files.dataset_lock().name == ".s.lock"
    with pytest.raises(TrajmbrlError, match="not a model directory"):
        parse_model_dir(tmp_path / "te/n=3_t=20/latest")


def test_cli_layout_is_the_config_paths(tmp_path):
    cfg = compose_cfg("experiment=smoke", f"paths.root={tmp_path}", "seed=3")
    files = layout(cfg)
    assert files.run_dir == Path(cfg.paths.run_dir)
    assert model_dir(cfg, "t") == Path(cfg.paths.models_dir) / "t" / "n=all_t=all" / "seed=3"
    assert files.control_dir == tmp_path / "outputs/smoke/cartpole/toy_control"


def test_one_status_for_every_state_of_a_hashed_csv(tmp_path):
    path = tmp_path / "r.csv"
    assert csv_status(path, "abc").status is Status.MISSING
    write_hashed_csv(path, pd.DataFrame({"x": [1, 2, 3]}), "abc", dataset="d1")
    assert csv_status(path, "abc", {"dataset": "d1"}).status is Status.CURRENT
    assert csv_status(path, "other").status is Status.CONFLICT
    assert csv_status(path, "abc", {"dataset": "d2"}).status is Status.DAMAGED
    older = tmp_path / "older.csv"  # written before results recorded their dataset
    write_hashed_csv(older, pd.DataFrame({"x": [1]}), "abc")
    check = csv_status(older, "abc", {"dataset": "d1"})
    assert check.status is Status.DAMAGED and "dataset=None" in check.reason  # recomputed
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")  # last row deleted
    check = csv_status(path, "abc")
    assert check.status is Status.DAMAGED and "truncated or edited" in check.reason


# ---- mode=plot reads 5.4 and 5.5 results only through the integrity check ----


def _scores() -> pd.DataFrame:
    rows = [
        {"env": "cartpole", "data": "toy_stable", "model": m, "num_traj": n, "t_range": 10}
        | {"seed": s, "horizon": 10, "traj": i, "metric": "mse", "value": 0.1 * (i + 1)}
        for m in ("d", "t")
        for n in (2, 4)
        for s in (0, 1)
        for i in range(3)
    ]
    return pd.DataFrame(rows)


def _plot_tree(tmp_path: Path, sha: str = "current") -> object:
    cfg = compose_cfg(
        "experiment=smoke", f"paths.root={tmp_path}", "mode=plot", "plot.formats=[png]"
    )
    manifest = layout(cfg).dataset_files()[1]
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"sha256": sha}))
    return cfg


@pytest.mark.parametrize("which", ["efficiency", "reward"])
def test_truncated_result_csv_is_not_plotted(tmp_path, which):
    cfg = _plot_tree(tmp_path)
    files = layout(cfg)
    path = files.efficiency_csv() if which == "efficiency" else files.reward_csv()
    write_hashed_csv(path, _scores(), "fp", dataset="current")
    path.write_text("\n".join(path.read_text().splitlines()[:-4]) + "\n")  # cut mid-grid
    with pytest.raises(TrajmbrlError, match="truncated or edited"):
        MODES["plot"](cfg)
    assert not files.table("efficiency_grid").exists() and not files.figures_dir.exists()


def test_grid_scores_of_an_earlier_dataset_are_not_plotted(tmp_path):
    cfg = _plot_tree(tmp_path, sha="recollected")
    write_hashed_csv(layout(cfg).efficiency_csv(), _scores(), "fp", dataset="before")
    with pytest.raises(TrajmbrlError, match="stale result"):
        MODES["plot"](cfg)
    cfg = _plot_tree(tmp_path / "ok", sha="before")  # the same scores on their dataset are drawn
    write_hashed_csv(layout(cfg).efficiency_csv(), _scores(), "fp", dataset="before")
    MODES["plot"](cfg)
    assert layout(cfg).table("efficiency_grid").exists()


# ---- the control report checks every run CSV in full ----


def _control_run(tmp_path: Path, seed: int) -> Path:
    cfg = compose_cfg("experiment=smoke", f"paths.root={tmp_path}", "mode=control")
    rounds = [
        {"env": "cartpole", "method": "model_cma", "model": "te", "seed": seed, "round": r}
        | {"episodes": 3 * (r + 1), "true_score": 0.1 * (r + 1), "true_std": 0.0}
        | {"predicted_score": np.nan, "wall_clock": 1.0, "theta": "[0.5]"}
        for r in range(3)
    ]
    path = layout(cfg).control_run("model_cma", "te", seed, "0123456789ab")
    write_hashed_csv(path, pd.DataFrame(rounds, columns=COLUMNS), f"fp{seed}")
    return path


@pytest.mark.parametrize("damage", ["delete last row", "edit a score"])
def test_control_report_detects_a_damaged_run_csv(tmp_path, damage):
    for seed in (0, 1):
        path = _control_run(tmp_path, seed)
    lines = path.read_text().splitlines()
    if damage == "delete last row":
        lines = lines[:-1]  # an earlier round would be reported as final
    else:
        lines[-1] = lines[-1].replace("0.30000000000000004", "0.9")
        assert lines[-1] != path.read_text().splitlines()[-1]
    path.write_text("\n".join(lines) + "\n")
    cfg = compose_cfg(
        "experiment=smoke",
        f"paths.root={tmp_path}",
        "mode=control",
        "control.report_only=true",
        "plot.formats=[png]",
    )
    with pytest.raises(TrajmbrlError, match=f"{path.name} is not trusted.*truncated or edited"):
        MODES["control"](cfg)
    assert not layout(cfg).control_table().exists()


# ---- concurrent writers of other settings: both kept, or the second refused ----


def _meet(monkeypatch, module: str, name: str) -> None:
    """Make ``module.name`` wait (up to 1 s) until two threads call it: old code let both pass
    their cache check before either wrote, so both reach this point at once."""
    import importlib

    mod = importlib.import_module(module)
    real, barrier = getattr(mod, name), threading.Barrier(2, timeout=1.0)

    def wrapped(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, name, wrapped)


def _together(cfgs: list) -> list[BaseException | None]:
    """Run each composed config's mode in its own thread at the same time; their errors."""
    errors: list[BaseException | None] = [None] * len(cfgs)

    def work(i: int) -> None:
        try:
            MODES[cfgs[i].mode.name](cfgs[i])
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cfgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


CONTROL = (
    "experiment=smoke",
    "mode=control",
    "envs=cartpole",
    "control.method=random",
    "control.random_episodes=3",
    "control.chosen_episodes=2",
    "control.rounds=1",
    "control.eval_episodes=1",
    "control.init_states=1",
    "control.horizon=10",
    "control.report=false",
)


def test_two_control_runs_of_other_settings_started_together_both_keep_their_csv(
    tmp_path, monkeypatch
):
    _meet(monkeypatch, "trajmbrl.modes.control", "run_control")
    cfgs = [compose_cfg(*CONTROL, f"paths.root={tmp_path}", f"control.kappa={k}") for k in (0, 0.5)]
    assert _together(cfgs) == [None, None]
    runs = layout(cfgs[0]).control_run_files()
    assert len(runs) == 2 and all(read_header(p)["settings"] in p.name for p in runs)
    assert all(csv_status(p, read_header(p)["config_hash"]).done for p in runs)


def test_control_runs_of_earlier_versions_are_still_read_and_count_as_done(tmp_path):
    cfg = compose_cfg(*CONTROL, f"paths.root={tmp_path}")
    MODES["control"](cfg)
    (new,) = layout(cfg).control_run_files()
    header, frame = read_header(new), pd.read_csv(new, comment="#")
    legacy = layout(cfg).legacy_control_run("random", None, 0)
    write_hashed_csv(legacy, frame, header["config_hash"])  # the name and header of before
    new.unlink()
    MODES["control"](cfg)  # up to date: nothing recomputed
    assert layout(cfg).control_run_files() == [legacy]
    report = ("control.report_only=true", "plot.formats=[png]")
    MODES["control"](compose_cfg(*CONTROL, f"paths.root={tmp_path}", *report))
    assert pd.read_csv(layout(cfg).control_table())["method"].tolist() == ["random"]
    assert table_problem(layout(cfg).control_table()) is None  # in tables/MANIFEST.json
    MODES["control"](compose_cfg(*CONTROL, f"paths.root={tmp_path}", "control.kappa=0.5"))
    assert len(layout(cfg).control_run_files()) == 2 and legacy.exists()  # its own CSV
    MODES["control"](compose_cfg(*CONTROL, f"paths.root={tmp_path}", "overwrite=true"))
    assert not legacy.exists() and len(layout(cfg).control_run_files()) == 2  # replaced


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke dataset with model t trained for seeds 0 and 1 (tests copy it)."""
    root = tmp_path_factory.mktemp("trained")
    for args in (
        ["mode=collect"],
        ["mode=train", "models=[t]"],
        ["mode=train", "models=[t]", "seed=1"],
    ):
        cfg = compose_cfg(*TINY, f"paths.root={root}", *args)
        MODES[cfg.mode.name](cfg)
    return root


def test_two_evals_of_other_settings_on_one_model_never_lose_a_result(
    trained, tmp_path, monkeypatch
):
    root = tmp_path / "root"
    shutil.copytree(trained, root)
    _meet(monkeypatch, "trajmbrl.modes.evaluate", "forecasts")
    cfgs = [
        compose_cfg(*TINY, f"paths.root={root}", "mode=eval", "models=[t]", f"eval.num_traj={n}")
        for n in (2, 3)
    ]
    errors = _together(cfgs)
    # the first to take the metrics lock writes; the second finds its CSV and is refused
    assert sum(e is None for e in errors) == 1
    (refused,) = [e for e in errors if e is not None]
    assert isinstance(refused, TrajmbrlError) and "different evaluation config" in str(refused)
    (csv,) = layout(cfgs[0]).metrics_dir.glob("t__*.csv")
    kept = cfgs[errors.index(None)]
    assert pd.read_csv(csv, comment="#")["traj"].nunique() == kept.eval.num_traj
    assert csv_status(csv, read_header(csv)["config_hash"]).done


# ---- a checkpoint knows its slot ----


def test_checkpoint_copied_into_another_seed_slot_is_refused(trained, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(trained, root)
    seed0 = compose_cfg(*TINY, f"paths.root={root}", "mode=eval", "models=[t]")
    seed1 = compose_cfg(*TINY, f"paths.root={root}", "mode=eval", "models=[t]", "seed=1")
    shutil.copy(model_dir(seed1, "t") / "model.pt", model_dir(seed0, "t") / "model.pt")
    with pytest.raises(TrajmbrlError) as info:
        MODES["eval"](seed0)
    (first,) = str(info.value).splitlines()  # one line, naming the file
    assert str(model_dir(seed0, "t") / "model.pt") in first
    assert "slot of seed=0 but was trained with seed=1" in first
    assert not list(layout(seed0).metrics_dir.glob("*.csv"))
    train = compose_cfg(*TINY, f"paths.root={root}", "mode=train", "models=[t]")
    with pytest.raises(TrajmbrlError, match="slot of seed=0 but was trained with seed=1"):
        MODES["train"](train)  # not "trained with a different config": the file is misplaced


# ---- a read-only tree whose work is done ----


def test_read_only_tree_with_work_done_is_a_no_op(trained, tmp_path, monkeypatch):
    import trajmbrl.utils.locks as locks

    root = tmp_path / "root"
    shutil.copytree(trained, root)
    evaluate = ("mode=eval", "models=[t]")
    MODES["eval"](compose_cfg(*TINY, f"paths.root={root}", *evaluate))

    class ReadOnly:
        """A lock file that cannot be created: the tree is mounted read-only."""

        def __init__(self, path: str) -> None:
            self.path = path

        def acquire(self, timeout: float = -1) -> None:
            raise OSError(errno.EROFS, "Read-only file system", self.path)

    monkeypatch.setattr(locks, "FileLock", ReadOnly)
    for args in (["mode=collect"], ["mode=train", "models=[t]"], list(evaluate)):
        cfg = compose_cfg(*TINY, f"paths.root={root}", *args)
        MODES[cfg.mode.name](cfg)  # nothing to do: no lock needed, no error


def test_lock_that_cannot_be_created_in_a_writable_tree_is_an_error(tmp_path, monkeypatch):
    import trajmbrl.utils.locks as locks

    class Denied:
        def __init__(self, path: str) -> None:
            self.path = path

        def acquire(self, timeout: float = -1) -> None:
            raise PermissionError(errno.EACCES, "Permission denied", self.path)

    monkeypatch.setattr(locks, "FileLock", Denied)  # e.g. another user's lock file
    with pytest.raises(PermissionError), locks.artifact_lock(tmp_path / ".x.lock", "x"):
        pass


def test_every_slot_field_is_checked_at_load(tmp_path):
    from trajmbrl.models.checkpoint import SlotMismatch, load_checkpoint, save_checkpoint
    from trajmbrl.models.dynamics import DynamicsModel, ModelSpec

    spec = ModelSpec.for_key("t", state_dim=2, action_dim=1, param_dim=1, hidden=4, layers=1)
    path = tmp_path / "t/n=3_t=20/seed=0/model.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, DynamicsModel(spec), meta={"seed": 1, "variant": "n=3_t=20"})
    where = parse_model_dir(path)
    with pytest.raises(SlotMismatch, match="slot of seed=0 but was trained with seed=1"):
        load_checkpoint(path, expect=where.expect())
    other = ModelSlot("t", "n=all_t=all", 1)
    with pytest.raises(SlotMismatch, match="variant=n=all_t=all but was trained with"):
        load_checkpoint(path, expect=other.expect())
    load_checkpoint(path, expect=ModelSlot("t", "n=3_t=20", 1).expect())  # its own slot


@pytest.mark.parametrize("mode", ["plot", "control"])
def test_reports_are_drawn_by_one_run_at_a_time(tmp_path, mode):
    from filelock import FileLock

    if mode == "plot":
        cfg = _plot_tree(tmp_path)
        write_hashed_csv(layout(cfg).efficiency_csv(), _scores(), "fp", dataset="current")
        lock, table = layout(cfg).report_lock(), layout(cfg).table("efficiency_grid")
    else:
        _control_run(tmp_path, 0)
        cfg = compose_cfg(
            "experiment=smoke",
            f"paths.root={tmp_path}",
            "mode=control",
            "control.report_only=true",
            "plot.formats=[png]",
        )
        lock, table = layout(cfg).control_report_lock(), layout(cfg).control_table()
    held = FileLock(str(lock))
    held.acquire()  # another report is being drawn from an earlier reading of the CSVs
    worker = threading.Thread(target=MODES[mode], args=(cfg,))
    worker.start()
    worker.join(timeout=1.0)
    assert worker.is_alive() and not table.exists()  # waits, then reads the CSVs afresh
    held.release()
    worker.join()
    assert table.exists()


def test_a_result_written_meanwhile_by_other_settings_is_refused_not_replaced(tmp_path):
    from trajmbrl.modes.artifacts import write_result

    path, frame = tmp_path / "efficiency/scores.csv", _scores()
    write_hashed_csv(path, frame.head(3), "other settings", dataset="d")  # finished first
    before = path.read_text()
    with pytest.raises(TrajmbrlError, match="different evaluation config"):
        write_result(path, frame, "mine", overwrite=False, dataset="d")
    assert path.read_text() == before
    write_result(path, frame, "mine", overwrite=True, dataset="d")  # asked for
    assert csv_status(path, "mine", {"dataset": "d"}).done


def test_a_refusal_seen_without_the_lock_is_decided_again_under_it(tmp_path):
    from trajmbrl.modes.artifacts import claimed

    answers = iter([TrajmbrlError("half-written by another run"), True])

    def is_done() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with claimed(tmp_path / ".x.lock", "x", is_done) as done:
        assert done  # the writer finished meanwhile: nothing to do, no spurious error
    assert next(answers, None) is None


def test_an_error_of_the_work_itself_is_not_swallowed(tmp_path):
    from trajmbrl.modes.artifacts import claimed

    with (
        pytest.raises(TrajmbrlError, match="the work failed"),
        claimed(tmp_path / ".x.lock", "x", lambda: True),
    ):
        raise TrajmbrlError("the work failed")
