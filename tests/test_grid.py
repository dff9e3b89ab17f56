"""Batched grid training (training/grid.py) against training the same cells one by one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trajmbrl.errors import TrajmbrlError
from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.models.checkpoint import load_checkpoint
from trajmbrl.training import ModelTrainer, TrainConfig
from trajmbrl.training.grid import Cell, train_cells


def _spec(key: str) -> ModelSpec:
    return ModelSpec.for_key(key, state_dim=2, action_dim=1, param_dim=0, hidden=16, layers=2)


def _cell(n: int, seed: int, *, steps: int = 12, batch: int = 16, **kw: object) -> Cell:
    """``n`` samples from 5-sample trajectories (ids), a seeded nonlinear map."""
    g = torch.Generator().manual_seed(100 + seed + 7 * n)
    x = torch.randn(n, 3, generator=g)
    y = torch.stack([torch.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 0]], 1)
    settings = {"resample": "none", "val_fraction": 0.0, **kw}
    cfg = TrainConfig(batch_size=batch, steps=steps, patience=None, seed=seed, **settings)  # type: ignore[arg-type]
    return Cell(x, y + 0.05 * torch.randn(n, 2, generator=g), torch.arange(n) // 5, cfg)


def _alone(spec: ModelSpec, cell: Cell) -> DynamicsModel:
    model = DynamicsModel(spec, seed=cell.config.seed)
    ModelTrainer(model, cell.config, progress=False).fit(cell.x, cell.y, groups=cell.groups)
    return model


def _max_diff(a: DynamicsModel, b: DynamicsModel) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa)


def test_grid_matches_one_by_one_member_for_member():
    """Cells of equal batch size are trained as the single trainer would (float noise at most);
    cells of different sizes in one chunk (padded, masked) agree as closely."""
    spec = _spec("d")
    cells = [_cell(n, s) for n in (40, 60) for s in (0, 1)]  # full 16-row batches
    cells += [_cell(n, s) for n, s in ((10, 2), (13, 3))]  # fewer rows than a batch
    cells.append(_cell(50, 4, steps=7))  # its own step budget
    batched = train_cells(spec, cells, chunk_members=3)
    for cell, (model, history) in zip(cells, batched):
        alone = _alone(spec, cell)
        assert _max_diff(model, alone) < 1e-6
        assert history.steps == cell.config.steps
        assert torch.equal(model.in_norm.mean, alone.in_norm.mean)
    assert math.isfinite(batched[0][1].best_score[0])
    # one chunk mixing every batch size: padded members, same models within tolerance
    mixed = train_cells(spec, cells[:6], chunk_members=100)
    for cell, (model, _) in zip(cells, mixed):
        assert _max_diff(model, _alone(spec, cell)) < 1e-6


def test_grid_ensemble_cells_and_refuses_early_stopping():
    spec = _spec("de")  # 5 members per cell, bootstrap over trajectories
    cells = [_cell(60, s, resample="bootstrap", val_fraction=0.2) for s in (0, 1)]
    for cell, (model, history) in zip(cells, train_cells(spec, cells, chunk_members=10)):
        assert _max_diff(model, _alone(spec, cell)) < 1e-6
        assert len(history.best_score) == 5
    bad = _cell(40, 0)
    bad.config = TrainConfig(steps=5, patience=3)
    with pytest.raises(TrajmbrlError, match="set patience=null"):
        train_cells(spec, [bad])


def test_cli_grid_writes_each_cell_as_a_single_run_would(run_mode):
    run_mode("mode=collect")
    budget = ("train.patience=null", "train.steps=15", "train.val_fraction=0")
    with pytest.raises(TrajmbrlError, match="train.patience=null"):
        run_mode("mode=train", "models=d", "grid.batched=true")
    cfg = run_mode(
        "mode=train",
        "models=d",
        "grid.batched=true",
        "grid.seeds=[0,1]",
        "grid.num_traj=[2,3]",
        *budget,
    )
    root = Path(cfg.paths.models_dir) / "d"
    paths = sorted(root.glob("n=*/seed=*/model.pt"))
    assert [p.relative_to(root).parts[:2] for p in paths] == [
        ("n=2_t=all", "seed=0"),
        ("n=2_t=all", "seed=1"),
        ("n=3_t=all", "seed=0"),
        ("n=3_t=all", "seed=1"),
    ]
    _, meta = load_checkpoint(paths[3], expect={"key": "d", "variant": "n=3_t=all"})
    assert meta["seed"] == 1 and meta["steps"] == 15 and meta["dataset_sha256"]
    before = paths[3].stat().st_mtime_ns  # the single run finds its cell trained
    run_mode("mode=train", "models=d", "train.num_traj=3", "seed=1", *budget)
    assert paths[3].stat().st_mtime_ns == before


def test_efficiency_eval_scores_both_one_step_protocols(run_mode):
    """5.4 rows: t, d with the logged actions (the paper's protocol) and d in closed loop."""
    import pandas as pd

    from trajmbrl.modes.artifacts import efficiency_csv

    run_mode("mode=collect")
    grid = (
        "grid.batched=true",
        "grid.seeds=[0]",
        "grid.num_traj=[2]",
        "grid.t_range=[10]",
        "train.patience=null",
        "train.steps=5",
        "train.val_fraction=0",
    )
    run_mode("mode=train", "models=[d,t]", *grid)
    cells = ("train.num_traj=2", "train.t_range=10")
    cfg = run_mode(
        "mode=eval",
        "models=[d,t]",
        "eval=efficiency",
        "eval.num_traj=2",
        "eval.horizon=10",
        *cells,
    )
    scores = pd.read_csv(efficiency_csv(cfg), comment="#")
    assert set(scores["model"]) == {"d", "d (closed loop)", "t"}
    mse = scores[scores["metric"] == "mse"].groupby("model")["value"].sum()
    assert mse["d"] != mse["d (closed loop)"]
    run_mode("mode=plot", "models=[d,t]", "eval=efficiency", *cells)
    figures = Path(cfg.paths.run_dir) / "figures"
    assert (figures / "efficiency_mse_ratio_t_over_d_closed_loop.png").exists()
    assert (figures / "efficiency_mse_ratio_t_over_d.png").exists()


def test_efficiency_scores_know_their_protocols(run_mode):
    """eval.protocols changes the 5.4 rows, so it is in their fingerprint: another list is a
    conflict (not "up to date" with the old rows); the default keeps the earlier hash."""
    import pandas as pd

    from trajmbrl.modes.artifacts import eval_fingerprint, layout
    from trajmbrl.utils.atomic import sha256_file
    from trajmbrl.utils.hashed_csv import read_header

    run_mode("mode=collect")
    cell = ("train.num_traj=2", "train.t_range=10", "train.steps=3", "train.patience=null")
    run_mode("mode=train", "models=d", "train.val_fraction=0", *cell)
    ev = ("mode=eval", "models=d", "eval=efficiency", "eval.num_traj=2", "eval.horizon=5", *cell)
    cfg = run_mode(*ev)
    out = layout(cfg).efficiency_csv()
    paths = sorted(layout(cfg).grid_checkpoints("d"))
    models = [(str(p), sha256_file(p)) for p in paths]
    assert read_header(out)["config_hash"] == eval_fingerprint(cfg, 5, k=2, models=models)
    with pytest.raises(TrajmbrlError, match="holds results of a different evaluation config"):
        run_mode(*ev, "eval.protocols=[logged]")
    run_mode(*ev, "eval.protocols=[logged]", "overwrite=true")
    assert set(pd.read_csv(out, comment="#")["model"]) == {"d"}
    run_mode(*ev, "eval.protocols=[logged]")  # the same list: up to date


def test_budget_snapshots_are_the_models_a_smaller_budget_trains():
    """grid.snapshots (issue 21): the copy after k of K steps is the model trained for k steps
    (same draws), scored on the cell's held-out trajectories; training itself is unchanged."""
    spec = _spec("d")
    cells = [_cell(60, s, steps=12, val_fraction=0.25) for s in (0, 1)]
    seen: dict[int, list] = {}

    def keep(idx, step, results):
        seen.setdefault(step, []).extend(zip(idx, results))

    final = train_cells(spec, cells, snapshots=[4, 9, 12, 30], on_snapshot=keep)
    assert sorted(seen) == [4, 9]  # 12 is the final model itself, 30 is beyond the budget
    plain = train_cells(spec, cells)
    for (a, _), (b, _) in zip(final, plain):
        assert _max_diff(a, b) == 0.0  # snapshots change nothing
    for step in (4, 9):
        short = train_cells(spec, [_cell(60, s, steps=step, val_fraction=0.25) for s in (0, 1)])
        for (_i, (snap, val)), (model, history) in zip(
            sorted(seen[step], key=lambda r: r[0]), short
        ):
            assert _max_diff(snap, model) < 1e-6
            assert val == pytest.approx(history.best_score, rel=1e-5)


@pytest.mark.slow  # seconds of training: the CLI path end to end
def test_grid_baselines_and_own_budgets_from_the_cli(run_mode):
    """Issue 21 end to end: per-cell baselines, snapshots after 2 and 4 of 6 steps, the
    own-budget rows, and the tables mode=plot writes from them."""
    import pandas as pd

    from trajmbrl.modes.artifacts import efficiency_csv

    run_mode("mode=collect")
    grid = ("grid.batched=true", "grid.seeds=[0]", "grid.num_traj=[4]", "grid.t_range=[10]")
    budget = ("train.patience=null", "train.steps=6", "train.val_fraction=0.5")
    run_mode("mode=train", "models=[d,t]", *grid, *budget, "grid.snapshots=[2,4]")
    cells = ("train.num_traj=4", "train.t_range=10", "train.steps=6")
    ev = ("eval=efficiency", "eval.num_traj=2", "eval.horizon=10", "eval.baselines=[zero,hmean]")
    cfg = run_mode("mode=eval", "models=[d,t]", *ev, *cells)
    scores = pd.read_csv(efficiency_csv(cfg), comment="#")
    rows = set(scores["model"])
    assert {"t", "t @2", "t @4", "t (own budget)", "d (closed loop) @2", "zero", "hmean"} <= rows
    own = scores[scores["model"] == "t (own budget)"]
    assert set(own["steps"]) <= {2, 4, 6}
    run_mode("mode=plot", "models=[d,t]", *ev, *cells)
    tables = Path(cfg.paths.run_dir) / "tables"
    sweep = pd.read_csv(tables / "efficiency_budget_sweep.csv")
    assert sorted(set(sweep["steps"])) == [2, 4, 6]
    shares = pd.read_csv(tables / "efficiency_shares.csv")
    assert shares["share"].sum() == pytest.approx(1.0)
    assert "efficiency_own_budget.csv" in (tables / "MANIFEST.json").read_text()
    with pytest.raises(TrajmbrlError, match=r"grid.snapshots=\[6\] must all be below"):
        run_mode("mode=train", "models=t", *grid, *budget, "grid.snapshots=[6]", "overwrite=true")
