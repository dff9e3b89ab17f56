"""The training summary per member (training/summary.py): the mean predictor beside each
member's validation score, a flag when a member is no better, and mode=train's summary.json."""

from __future__ import annotations

import json
import logging

import numpy as np
import torch

from trajmbrl.models.dynamics import ModelSpec
from trajmbrl.training.config import TrainConfig
from trajmbrl.training.fit import fit
from trajmbrl.training.summary import NO_BETTER_RATIO, summarize, validation_rows
from trajmbrl.training.trainer import ModelTrainer


def _spec(key: str = "d", **kw) -> ModelSpec:
    return ModelSpec.for_key(key, state_dim=2, action_dim=1, param_dim=0, hidden=16, layers=1, **kw)


def _data(noise: bool, n: int = 400):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = rng.normal(size=(n, 2)) if noise else np.stack([x[:, 0] + x[:, 2], -x[:, 1]], 1)
    groups = np.repeat(np.arange(n // 10), 10)
    return x, y.astype(np.float32), groups


def test_a_model_of_noise_is_flagged_as_the_mean_predictor_a_learned_one_is_not():
    config = TrainConfig(epochs=1, steps=1, lr=1e-6, batch_size=32, patience=None, seed=3)
    x, y, groups = _data(noise=True)
    model, history = fit(_spec(), x, y, config, groups=groups)
    noise = summarize(model, history, y, config, groups=groups)
    (m,) = noise.members
    assert m.epochs == 1 and m.mean_val_loss > 0 and m.ratio >= NO_BETTER_RATIO
    assert noise.flagged == [0] and "no better than predicting the training mean" in (
        noise.warning() or ""
    )
    assert "NO BETTER THAN THE MEAN" in noise.table()

    config = TrainConfig(epochs=30, lr=3e-3, batch_size=32, patience=None, seed=3)
    x, y, groups = _data(noise=False)
    model, history = fit(_spec(), x, y, config, groups=groups)
    learned = summarize(model, history, y, config, groups=groups)
    assert learned.flagged == [] and learned.warning() is None
    assert learned.members[0].ratio < 0.2 and learned.members[0].epochs == 30
    assert learned.to_dict()["members"][0]["val_loss"] == history.best_score[0]


def test_validation_rows_are_the_trainers_and_the_mean_score_its_units():
    config = TrainConfig(epochs=2, batch_size=32, patience=None, seed=5, val_fraction=0.2)
    x, y, groups = _data(noise=False)
    from trajmbrl.models.dynamics import DynamicsModel

    model = DynamicsModel(_spec("de", ensemble_size=3), seed=0)
    trainer = ModelTrainer(model, config)
    history = trainer.fit(torch.as_tensor(x), torch.as_tensor(y), groups=torch.as_tensor(groups))
    rows = validation_rows(len(x), groups, config, 3, "cpu")
    assert torch.equal(rows, trainer.val_indices)
    summary = summarize(model, history, y, config, groups=groups)
    assert len(summary.members) == 3 and [m.epochs for m in summary.members] == [2, 2, 2]
    # the mean predictor's score is eval_score of a model that outputs 0 (normalised)
    yv = torch.as_tensor(y)[rows]
    z = (yv - model.out_norm.mean) / model.out_norm.std
    assert np.isclose(summary.members[0].mean_val_loss, float(z.square().mean()), rtol=1e-5)


def test_mode_train_writes_and_prints_the_summary(run_mode, caplog):
    run_mode("mode=collect")
    with caplog.at_level(logging.INFO, logger="trajmbrl"):
        cfg = run_mode("mode=train", "models=d")
    from trajmbrl.modes.artifacts import model_dir

    summary = json.loads((model_dir(cfg, "d") / "summary.json").read_text())
    assert summary["key"] == "d" and summary["members"][0]["epochs"] >= 1
    assert summary["members"][0]["mean_val_loss"] > 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Training summary of d" in text and "mean's val MSE" in text


def test_constant_validation_targets_have_no_ratio_and_strict_json():
    from trajmbrl.training.summary import MemberSummary, TrainingSummary

    m = MemberSummary(0, 2, 2, 0.1, 0.0, 0.0)
    summary = TrainingSummary("d", [m])
    assert not m.no_better and summary.warning() is None
    text = json.dumps(summary.to_dict(), allow_nan=False)  # no NaN token
    assert json.loads(text)["members"][0]["ratio"] is None


def test_windowed_targets_print_no_mean_predictor_as_na():
    from trajmbrl.training.summary import MemberSummary, TrainingSummary

    summary = TrainingSummary("sq", [MemberSummary(0, 3, 2, 0.1, 0.05, float("nan"))])
    row = summary.table().splitlines()[1]
    assert row.split()[-1] == "n/a" and "nan" not in row and summary.warning() is None


def test_a_grid_warns_once_per_key_of_its_cells_no_better_than_the_mean(run_mode, caplog):
    """5.4's grid has hundreds of tiny cells: one line names how many are flagged, not one each;
    each cell's summary.json still lists its flagged members."""
    run_mode("mode=collect")
    grid = ("grid.batched=true", "grid.seeds=[0,1]", "grid.num_traj=[2,3]")
    budget = ("train.patience=null", "train.steps=3", "model.lr=1e-9", "train.val_fraction=0.3")
    with caplog.at_level(logging.WARNING, logger="trajmbrl"):
        cfg = run_mode("mode=train", "models=d", *grid, *budget)
    lines = [r.getMessage() for r in caplog.records if "no better than" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("d: 4 of 4 grid cells"), lines
    from pathlib import Path

    summaries = sorted((Path(cfg.paths.models_dir) / "d").glob("n=*/seed=*/summary.json"))
    assert len(summaries) == 4
    assert all(json.loads(p.read_text())["flagged"] for p in summaries)
