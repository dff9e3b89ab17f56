"""The content-addressed model store (issue 23.1): a model whose fingerprint matches a stored
one is reused, not trained again, across experiments; anything that changes the weights
retrains; reused models pass every provenance check; a damaged entry is refused and retrained."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

import pytest
import torch

import trajmbrl.training.fit as fit_module
from conftest import compose_cfg
from trajmbrl.artifacts.store import (
    NOT_WEIGHTS,
    ModelStore,
    StoreDamaged,
    fingerprint,
    weight_inputs,
)
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.checkpoint import load_checkpoint
from trajmbrl.modes import MODES
from trajmbrl.modes.artifacts import model_dir

TINY = ("experiment=smoke", "model.epochs=1", "train.max_pairs=300", "model.hidden=8")


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A smoke dataset, copied by each test."""
    root = tmp_path_factory.mktemp("collected")
    cfg = compose_cfg(*TINY, f"paths.root={root}", "mode=collect")
    MODES["collect"](cfg)
    return root


@pytest.fixture
def run(collected, tmp_path, monkeypatch):
    """``run(*overrides)`` of a mode on a private copy of the dataset; ``run.fits`` counts
    the models the trainer fitted."""
    shutil.copytree(collected, tmp_path / "root")
    fits: list[int] = []
    real = fit_module.fit

    def counted(*args, **kwargs):
        fits.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "fit", counted)

    def run_(*overrides: str):
        cfg = compose_cfg(*TINY, f"paths.root={tmp_path / 'root'}", *overrides)
        MODES[cfg.mode.name](cfg)
        return cfg

    run_.fits = fits  # type: ignore[attr-defined]
    run_.root = tmp_path / "root"  # type: ignore[attr-defined]
    return run_


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def _store(cfg) -> ModelStore:
    return ModelStore(Path(cfg.paths.models_store))


def test_second_experiment_reuses_the_model_and_passes_every_check(run, caplog):
    first = run("mode=train", "models=t")
    assert len(run.fits) == 1
    source = model_dir(first, "t")
    caplog.set_level(logging.INFO, logger="trajmbrl")
    # another experiment, other evaluation and plot settings: the same weights
    second = run(
        "mode=train", "models=t", "experiment_name=other", "eval.num_traj=3", "plot.formats=[png]"
    )
    assert len(run.fits) == 1  # the trainer was not called again
    reused = model_dir(second, "t")
    _, meta = load_checkpoint(reused / "model.pt")
    fp = meta["model_fingerprint"]
    assert f"reused {fp[:12]} from smoke/cartpole/toy_stable/models/t/n=all_t=all/seed=0" in (
        caplog.text
    )
    assert meta["reused_from"]["source"].startswith("smoke/")
    assert meta["reused_from"]["fingerprint"] == fp
    assert meta["config"]["experiment_name"] == "other"
    assert (reused / "history.csv").read_text() == (source / "history.csv").read_text()
    a, b = _weights(source / "model.pt"), _weights(reused / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # every read checks the slot's provenance as before: eval in the new experiment works,
    # a re-run finds it trained, and the stored copy is refused in another seed's slot
    run("mode=eval", "models=[t]", "experiment_name=other")
    run("mode=train", "models=t", "experiment_name=other")
    assert len(run.fits) == 1
    misplaced = model_dir(run("mode=collect", "seed=1"), "t")
    misplaced.mkdir(parents=True)
    shutil.copy(reused / "model.pt", misplaced)
    with pytest.raises(TrajmbrlError, match="slot of seed=1 but was trained with seed=0"):
        run("mode=eval", "models=[t]", "seed=1")


@pytest.mark.parametrize("change", ["model.lr=0.002", "seed=1"])
def test_a_setting_that_changes_the_weights_retrains(run, change):
    run("mode=train", "models=t")
    cfg = run("mode=train", "models=t", "experiment_name=other", change)
    assert len(run.fits) == 2
    assert "reused_from" not in load_checkpoint(model_dir(cfg, "t") / "model.pt")[1]
    assert len([p for p in Path(cfg.paths.models_store).iterdir() if p.name[0] != "."]) == 2


def test_reuse_false_and_overwrite_train_again(run):
    run("mode=train", "models=d")
    run("mode=train", "models=d", "experiment_name=b", "train.reuse=false")
    run("mode=train", "models=d", "experiment_name=c", "overwrite=true")
    assert len(run.fits) == 3
    with pytest.raises(TrajmbrlError, match="train.reuse"):
        run("mode=train", "models=d", "train.reuse=maybe")


def test_fingerprint_ignores_what_does_not_change_the_weights():
    base = dict(
        dataset_sha256="ab" * 32,
        model={"key": "t", "lr": 1e-3},
        train={"num_traj": None, "steps": None, "precision": "fp32"},
        seed=0,
        device="cpu",
        threads=1,
        trainer="fit",
    )
    fp = fingerprint(weight_inputs(**base))
    quiet = {**base["train"], **{k: "anything" for k in NOT_WEIGHTS}}
    assert fingerprint(weight_inputs(**{**base, "train": quiet})) == fp
    for name, value in (
        ("seed", 1),
        ("threads", 2),
        ("trainer", "grid"),
        ("dataset_sha256", "cd" * 32),
        ("train", {**base["train"], "precision": "bf16"}),
        ("model", {"key": "t", "lr": 2e-3}),
    ):
        assert fingerprint(weight_inputs(**{**base, name: value})) != fp, name


def test_damaged_store_entry_is_refused_in_one_line_and_retrained(run, caplog):
    first = run("mode=train", "models=t")
    store = _store(first)
    (entry,) = [p for p in Path(store.root).iterdir() if not p.name.startswith(".")]
    stored = entry / "model.pt"
    damaged = stored.read_bytes()[:-100]
    stored.unlink()  # a new file: the first experiment's (hard-linked) checkpoint stays intact
    stored.write_bytes(damaged)
    caplog.set_level(logging.INFO, logger="trajmbrl")
    cfg = run("mode=train", "models=t", "experiment_name=other")
    assert len(run.fits) == 2
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "mean predictor" not in r.getMessage()
    ]  # the toy t is no better than the mean: its training summary warns too (not counted)
    assert len(warned) == 1 and "\n" not in warned[0]
    assert f"model store entry {entry}: model.pt does not match" in warned[0]
    assert "training the model again" in warned[0]
    # the retrained model replaced the entry, and the next experiment reuses it
    fp = entry.name
    assert store.lookup(fp, {"key": "t", "seed": 0}) is not None
    run("mode=train", "models=t", "experiment_name=third")
    assert len(run.fits) == 2
    a = _weights(model_dir(cfg, "t") / "model.pt")
    b = _weights(model_dir(first, "t") / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same numbers


def test_store_entry_of_another_slot_or_edited_entry_is_refused(run):
    cfg = run("mode=train", "models=t")
    store = _store(cfg)
    (entry,) = [p for p in Path(store.root).iterdir() if not p.name.startswith(".")]
    with pytest.raises(StoreDamaged, match="is refused: .*slot of seed=4"):
        store.lookup(entry.name, {"key": "t", "seed": 4})
    record = json.loads((entry / "entry.json").read_text())
    (entry / "entry.json").write_text(json.dumps({**record, "fingerprint": "0" * 64}))
    with pytest.raises(StoreDamaged, match="records fingerprint 000000000000"):
        store.lookup(entry.name, {"key": "t"})
    (entry / "entry.json").unlink()  # an interrupted registration: no entry
    assert store.lookup(entry.name, {"key": "t"}) is None


def test_a_deleted_store_is_filled_again_from_finished_slots(run):
    cfg = run("mode=train", "models=t")
    shutil.rmtree(cfg.paths.models_store)
    run("mode=train", "models=t")  # already trained: nothing to do, but stored again
    run("mode=train", "models=t", "experiment_name=other")
    assert len(run.fits) == 1


def test_two_jobs_with_one_fingerprint_train_it_once(run):
    from filelock import FileLock

    cfgs = [
        compose_cfg(
            *TINY, f"paths.root={run.root}", "mode=train", "models=d", f"experiment_name={n}"
        )
        for n in ("a", "b")
    ]  # composed here: Hydra's compose is not thread-safe
    errors: list[BaseException] = []

    def job(cfg) -> None:
        try:
            MODES["train"](cfg)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    jobs = [threading.Thread(target=job, args=(c,)) for c in cfgs]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    assert not errors and len(run.fits) == 1
    store = Path(cfgs[0].paths.models_store)
    (entry,) = [p for p in store.iterdir() if not p.name.startswith(".")]
    assert FileLock(str(store / f".{entry.name}.lock")).acquire(timeout=0)  # released


def test_batched_grid_cells_are_reused_by_another_grid(run, caplog):
    grid = (
        "mode=train",
        "models=d",
        "grid.batched=true",
        "grid.seeds=[0,1]",
        "grid.num_traj=[2]",
        "grid.t_range=[10]",
        "train.patience=null",
        "train.steps=3",
        "train.val_fraction=0",
    )
    first = run(*grid)
    caplog.set_level(logging.INFO, logger="trajmbrl")
    second = run(*grid, "experiment_name=other")
    assert "d: 0 grid cells to train, 0 already trained, 2 reused from the model store" in (
        caplog.text
    )
    for seed in (0, 1):
        slot = Path("d/n=2_t=10") / f"seed={seed}" / "model.pt"
        a = _weights(Path(first.paths.models_dir) / slot)
        b, meta = load_checkpoint(
            Path(second.paths.models_dir) / slot, expect={"variant": "n=2_t=10", "seed": seed}
        )
        assert all(torch.equal(a[k], b.state_dict()[k]) for k in a)
        assert meta["reused_from"]["source"].startswith("smoke/")


@pytest.mark.slow
def test_paper_cost_counts_the_distinct_models_of_make_paper(tmp_path):
    """5.3's stable mode asks for 5.2's 24 stable cartpole models, 5.5 for 15 (d, t, te, tp,
    tpe at seeds 0-2): 39 of 1,703 are not distinct."""
    import importlib.util
    from collections import Counter

    script = Path(__file__).resolve().parents[1] / "scripts" / "paper_cost.py"
    spec = importlib.util.spec_from_file_location("paper_cost", script)
    assert spec is not None and spec.loader is not None
    paper_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper_cost)
    rows = paper_cost.planned(None, tmp_path, [])
    asked = Counter(section for section, _, _ in rows)
    assert asked == {"sec52": 96, "sec53": 72, "sec54": 1500, "sec55": 35}
    assert len({fp for _, fp, _ in rows}) == 1664
    sec52 = {fp for section, fp, _ in rows if section == "sec52"}
    assert len({fp for section, fp, _ in rows if section == "sec55"} & sec52) == 15
