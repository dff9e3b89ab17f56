"""Issue 19's fault classes outside the API and the storage layer: seeds out of range, an unknown
figure format, an empty ``paths.root``, a single baseline given as a string, and a validation
split that is the training data (a warning and a ``history.csv`` field, never silent)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trajmbrl
from conftest import compose_cfg
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES

BIG = 2**64


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (f"seed={BIG}", "seed"),
        (f"data.seed={BIG}", "data.seed"),
        (f"grid.seeds=[0,{BIG}]", "grid.seeds"),
        (f"seed={2**32}", "seed"),  # numpy's legacy seeding and control's derived seeds
        ("plot.formats=[png,bmp]", "plot.formats"),
        ("plot.formats=[PNG]", "plot.formats"),
    ],
)
@pytest.mark.parametrize("mode", ["train", "plot"])
def test_out_of_range_seed_or_unknown_format_is_one_line(tmp_path, override, key, mode):
    cfg = compose_cfg("experiment=smoke", f"mode={mode}", f"paths.root={tmp_path}", override)
    with pytest.raises(TrajmbrlError) as info:
        MODES[mode](cfg)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and re.search(rf"key {re.escape(key)}\b", msg), msg
    assert not any(tmp_path.iterdir())


def test_every_plot_format_offered_is_one_matplotlib_writes():
    import matplotlib.figure

    from trajmbrl.utils.limits import PLOT_FORMATS

    supported = matplotlib.figure.Figure().canvas.get_supported_filetypes()
    assert set(PLOT_FORMATS) <= set(supported)


def test_largest_seed_trains(tmp_path):
    from trajmbrl.utils.limits import SEED_MAX

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    trajmbrl.train_model("d", x, y, state_dim=2, action_dim=1, seed=SEED_MAX, epochs=1, hidden=4)
    with pytest.raises(
        TrajmbrlError, match=r"^seed must be <= 4294967295, got 18446744073709551616$"
    ):
        trajmbrl.train_model("d", x, y, state_dim=2, action_dim=1, seed=BIG, epochs=1)


@pytest.mark.parametrize("root", ["", " "])
def test_empty_root_is_an_error_naming_the_key(monkeypatch, tmp_path, root):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRAJMBRL_ROOT", root)
    cfg = compose_cfg("experiment=smoke", "mode=collect")
    assert str(cfg.paths.root) == root
    with pytest.raises(TrajmbrlError, match=r"^config key paths.root must not be empty") as info:
        MODES["collect"](cfg)
    assert len(str(info.value).splitlines()) == 1
    assert not Path("/trajectories").exists() and not any(tmp_path.iterdir())


def test_empty_root_on_the_cli_writes_nothing_anywhere(tmp_path):
    # Hydra creates its run directory (${paths.output_dir}/hydra/...) before any mode runs:
    # the check is in the paths themselves (the trajmbrl.root resolver), so it comes first
    before = {p: p.exists() for p in (Path("/outputs"), Path("/trajectories"))}
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    src = str(Path(trajmbrl.__file__).parents[1])  # this checkout, whatever the cwd
    out = subprocess.run(
        [sys.executable, "-m", "trajmbrl", "mode=collect", "experiment=smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "TRAJMBRL_ROOT": "", "PYTHONPATH": src},
    )
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("trajmbrl: error: config key paths.root must not be empty")
    assert not any(tmp_path.iterdir())
    assert {p: p.exists() for p in before} == before


def test_a_baseline_given_as_a_string_is_one_baseline():
    from trajmbrl.modes.evaluate import eval_baselines

    assert eval_baselines(compose_cfg("experiment=smoke", "eval.baselines=hmean")) == ["hmean"]
    assert eval_baselines(compose_cfg("experiment=smoke", "eval.baselines=[hmean,lin]")) == [
        "hmean",
        "lin",
    ]
    with pytest.raises(TrajmbrlError, match=r"got \['hmeen'\]"):
        eval_baselines(compose_cfg("experiment=smoke", "eval.baselines=hmeen"))


# ---- a validation split that is the training data ----


def _data() -> trajmbrl.TrajectoryData:
    rng = np.random.default_rng(0)
    return trajmbrl.dataset_from_arrays(rng.normal(size=(6, 6, 2)), rng.normal(size=(6, 5, 1)))


@pytest.mark.parametrize(
    ("kwargs", "val_is_train"),
    [
        ({"val_fraction": 0.0}, True),
        ({"sampling": {"num_traj": 1}}, True),
        ({}, False),
    ],
)
def test_val_split_that_is_the_training_data_is_said(caplog, kwargs, val_is_train):
    with caplog.at_level(logging.WARNING, logger="trajmbrl"):
        _, history = trajmbrl.train_on_dataset("d", _data(), epochs=2, hidden=4, **kwargs)
    warned = [r for r in caplog.records if "no validation data could be held out" in r.message]
    assert bool(warned) == val_is_train
    assert history.val_is_train == val_is_train
    assert history.to_frame()["val_is_train"].tolist() == [val_is_train] * len(history.rows)


def test_history_csv_records_val_is_train(run_mode, tmp_path):
    run_mode("mode=collect")
    cfg = run_mode("mode=train", "train.val_fraction=0")
    from trajmbrl.modes.artifacts import model_dir

    frame = pd.read_csv(model_dir(cfg, "t") / "history.csv")
    assert frame["val_is_train"].all() and len(frame)


def test_grid_cells_without_validation_data_are_said_once(caplog):
    import torch

    from trajmbrl.training import TrainConfig
    from trajmbrl.training.grid import Cell, train_cells

    def cell(n_traj: int, val_fraction: float) -> Cell:
        x, y = torch.randn(5 * n_traj, 3), torch.randn(5 * n_traj, 2)
        cfg = TrainConfig(batch_size=8, steps=2, patience=None, val_fraction=val_fraction)
        return Cell(x, y, torch.arange(5 * n_traj) // 5, cfg)

    spec = trajmbrl.ModelSpec.for_key("d", state_dim=2, action_dim=1, param_dim=0, hidden=4)
    with caplog.at_level(logging.WARNING, logger="trajmbrl"):
        out = train_cells(spec, [cell(1, 0.2), cell(4, 0.0), cell(4, 0.25)])
    assert [h.val_is_train for _, h in out] == [True, True, False]
    warned = [r.getMessage() for r in caplog.records if "grid cells" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("2 of 3 grid cells"), warned
