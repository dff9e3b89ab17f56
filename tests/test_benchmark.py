"""The benchmark: leaderboard statistics, mode=leaderboard, trajmbrl.benchmark(), mode=tune and
tuned presets (issue 24)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import trajmbrl
from conftest import compose_cfg
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES
from trajmbrl.reports.benchmark import PAPER_VARIANT, BenchmarkSettings, leaderboard

ROWS = [  # model, action source, error scale, seeds
    ("hmean", "direct", 1.0, 1),
    ("zero", "direct", 1.05, 1),
    ("t", "direct", 0.3, 3),
    ("d", "logged", 4.0, 3),
    ("d", "controller", 0.95, 3),
]


def synthetic(seed: int = 0, n: int = 12, datasets: int = 2) -> pd.DataFrame:
    """Tidy nMSE rows: errors = scale x h x a per-trajectory factor x noise."""
    rng = np.random.default_rng(seed)
    out = []
    for ds in range(datasets):
        traj = rng.lognormal(size=n)
        for model, source, scale, seeds in ROWS:
            for s in range(seeds):
                for h in (1, 5, 20, 150):
                    noise = rng.lognormal(sigma=0.1, size=n)
                    for i in range(n):
                        value = scale * h * traj[i] * noise[i]
                        out.append((ds, model, source, PAPER_VARIANT, s, i, h, value))
    cols = ["dataset", "model", "action_source", "variant", "seed", "traj", "horizon", "value"]
    return pd.DataFrame(out, columns=cols)


def test_same_seed_same_leaderboard_and_the_verdicts() -> None:
    frame = synthetic()
    stats = BenchmarkSettings(replicates=200, seed=3)
    one = leaderboard(frame, "toy", settings=stats)
    two = leaderboard(frame.sample(frac=1.0, random_state=1), "toy", settings=stats)
    pd.testing.assert_frame_equal(one.board, two.board)
    pd.testing.assert_frame_equal(one.pairs, two.pairs)
    board = one.board.set_index(["band", "row"])
    assert set(one.board["band"]) == {"h <= 10", "10 < h <= 100", "h > 100"}
    for band in ("h <= 10", "h > 100"):
        assert board.loc[(band, "t"), "strongest"]  # the lowest skill is marked
        assert board.loc[(band, "t"), "vs_hmean"] == "wins"  # 0.3x on every trajectory
        assert board.loc[(band, "d (logged)"), "vs_hmean"] == "loses"
        assert board.loc[(band, "hmean"), "skill"] == 1.0
        # 5% apart: the bootstrap interval may exclude 1, but only with the test agreeing a win
        assert board.loc[(band, "zero"), "vs_hmean"] in ("loses", "tie")
        assert board.loc[(band, "t"), "skill"] == pytest.approx(0.3, rel=0.15)
        lo, hi = board.loc[(band, "t"), ["skill_lo", "skill_hi"]]
        assert lo <= board.loc[(band, "t"), "skill"] <= hi < 1
    assert board.loc[("h <= 10", "t"), "n_seeds"] == 3
    assert board.loc[("h <= 10", "t"), "n_datasets"] == 2
    # the seeds stay visible: one median per (row, dataset, seed)
    assert (
        len(one.per_seed[(one.per_seed["row"] == "t") & (one.per_seed["band"] == "h > 100")]) == 6
    )
    wins = one.pairs[(one.pairs["winner"] != "tie")]
    assert (wins["ratio_hi"].lt(1) | wins["ratio_lo"].gt(1)).all()
    assert (wins["p_holm"] < 0.05).all()


def test_a_win_needs_the_test_too() -> None:
    """Two trajectories: the bootstrap interval of 0.3x excludes 1, but a Wilcoxon test on 2
    pairs cannot reach p < 0.05, so no win is declared."""
    frame = synthetic(n=2, datasets=1)
    board = leaderboard(frame, "toy", settings=BenchmarkSettings(replicates=200)).board
    t = board[(board["row"] == "t") & (board["band"] == "h <= 10")].iloc[0]
    assert t["skill_hi"] < 1
    assert t["vs_hmean"] == "tie"


def _write_metrics(root: Path, frame: pd.DataFrame) -> None:
    """The frame as the metrics CSVs mode=eval writes, one run dir per dataset."""
    from trajmbrl.utils.hashed_csv import write_hashed_csv

    for (ds, model, source, seed), g in frame.groupby(
        ["dataset", "model", "action_source", "seed"]
    ):
        run = root / f"outputs/benchmark/cartpole/toy_stable-ds{ds}"
        tidy = g.drop(columns=["dataset"]).assign(env="cartpole", data=f"toy_stable-ds{ds}")
        tidy = tidy.assign(metric="nmse")
        name = f"{model}__{PAPER_VARIANT}__seed={seed}__{source}.csv"
        write_hashed_csv(run / "metrics" / name, tidy, "fp")


def test_mode_leaderboard_writes_the_tables_and_the_figure(tmp_path: Path) -> None:
    _write_metrics(tmp_path, synthetic())
    over = [
        "mode=leaderboard",
        "experiment=benchmark",
        "scale=toy",
        f"paths.root={tmp_path}",
        "models=[d,t]",
        "eval.baselines=[zero,hmean]",
        "benchmark.datasets=[0,1]",
        "benchmark.seeds=[0,1,2]",
        "benchmark.replicates=50",
        "plot.formats=[png]",
    ]
    cfg = compose_cfg(*over)
    MODES["leaderboard"](cfg)
    out = tmp_path / "outputs/benchmark/cartpole/toy_stable"
    from trajmbrl.artifacts.manifest import table_problem

    for name in ("leaderboard", "pairs", "per_seed", "curves"):
        assert table_problem(out / "tables" / f"{name}.csv", out.parent) is None
    assert "(strongest)" in (out / "tables/leaderboard.md").read_text()
    assert (out / "figures/skill_vs_horizon.png").stat().st_size > 0
    board = pd.read_csv(out / "tables/leaderboard.csv")
    assert set(board["row"]) == {"t", "d (logged)", "d (closed loop)", "zero", "hmean"}
    # make results: the section "Which model for long horizons?" from the leaderboard
    from trajmbrl.reports.summary import main

    page = tmp_path / "results.md"
    assert main([str(tmp_path / "outputs"), "--out", str(page)]) == 0
    text = page.read_text()
    assert "### Which model for long horizons?" in text
    assert "- cartpole / stable, h > 100: t is strongest" in text
    # a dataset that was not evaluated is named with the command that evaluates it
    with pytest.raises(TrajmbrlError, match=r"data.seed=2.*mode=eval"):
        MODES["leaderboard"](compose_cfg(*over, "benchmark.datasets=[0,1,2]"))


def _linear_data(n: int = 16, t: int = 12, seed: int = 0) -> trajmbrl.TrajectoryData:
    """A damped double integrator under u = -theta x (docs/api.md), last 4 trajectories test."""
    rng = np.random.default_rng(seed)
    params = rng.uniform(0.5, 1.5, size=(n, 1))
    states = np.zeros((n, t + 1, 2))
    states[:, 0] = rng.normal(size=(n, 2))
    actions = np.zeros((n, t, 1))
    for k in range(t):
        actions[:, k, 0] = -params[:, 0] * states[:, k, 0]
        states[:, k + 1, 0] = states[:, k, 0] + 0.1 * states[:, k, 1]
        states[:, k + 1, 1] = 0.9 * states[:, k, 1] + 0.1 * actions[:, k, 0]
    return trajmbrl.dataset_from_arrays(states, actions, params, num_test=4)


def test_api_benchmark_returns_the_leaderboard_of_one_model() -> None:
    data = [_linear_data(seed=0), _linear_data(seed=1)]
    stats = BenchmarkSettings(replicates=50)
    board = trajmbrl.benchmark("d", data, seeds=[0, 1], epochs=1, hidden=8, statistics=stats)
    assert set(board["row"]) == {"d (logged)", "zero", "hmean", "lin (logged)", "lint"}
    assert (board["n_datasets"] == 2).all()
    assert board.loc[board["row"] == "d (logged)", "n_seeds"].iloc[0] == 2
    assert board.groupby("band")["strongest"].sum().eq(1).all()
    # lin is exact on a linear system: it is the strongest row
    assert board.loc[board["strongest"], "row"].eq("lin (logged)").all()


def test_tuning_never_reads_the_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    from trajmbrl.tuning import TuneSettings, tune

    data = _linear_data()
    space = {"hidden": {"low": 4, "high": 16, "int": True}, "lr": {"low": 1e-3, "high": 1e-2}}
    knobs = TuneSettings(trials=2, seed=1)
    first = tune("t", data, space, knobs, fixed={"epochs": 1}).trials
    poisoned = _linear_data()
    test = poisoned.split == 1
    poisoned.states[test] = 1e3 * np.random.default_rng(9).normal(size=poisoned.states[test].shape)
    poisoned.params[test] = -5.0

    def refuse(self: object) -> None:
        raise AssertionError("the tuner read the test split")

    monkeypatch.setattr(trajmbrl.TrajectoryData, "test", refuse)
    second = tune("t", poisoned, space, knobs, fixed={"epochs": 1}).trials
    pd.testing.assert_frame_equal(first, second)  # same seed, same study; test data unused
    assert len(first) == 2 and first["state"].eq("COMPLETE").all()


def test_tuned_presets_load_and_train_at_smoke_scale(run_mode, tmp_path: Path) -> None:
    presets = f"tune.presets_dir={tmp_path / 'presets'}"
    run_mode("mode=collect")
    run_mode("mode=tune", "models=t", "tune.trials=2", "tune.promote=true", presets)
    preset = tmp_path / "presets/tuned/cartpole/toy_stable/t.yaml"
    chosen = __import__("yaml").safe_load(preset.read_text())
    assert set(chosen) == {"hidden", "layers", "lr", "weight_decay"}
    trials = pd.read_csv(tmp_path / "outputs/smoke/cartpole/toy_stable/tuning/t/trials.csv")
    assert len(trials) == 2
    tuned = ("models=t", "tune.preset=tuned", presets)
    run_mode("mode=train", *tuned)
    model = trajmbrl.load_model(
        tmp_path / "outputs/smoke/cartpole/toy_stable/models/t/n=all_t=all_tuned/seed=0/model.pt"
    )
    assert model.spec.hidden == chosen["hidden"] and model.spec.layers == chosen["layers"]
    run_mode("mode=eval", *tuned)
    metrics = (
        tmp_path
        / "outputs/smoke/cartpole/toy_stable/metrics/t__n=all_t=all_tuned__seed=0__direct.csv"
    )
    assert metrics.exists()
    with pytest.raises(TrajmbrlError, match="mode=tune envs=cartpole models=d tune.promote=true"):
        run_mode("mode=train", "models=d", "tune.preset=tuned", presets)


@pytest.mark.slow
def test_cli_toy_benchmark_end_to_end(tmp_path: Path) -> None:
    """collect -> train (seeds batched) -> eval -> leaderboard on two datasets."""
    base = [
        "experiment=benchmark",
        "scale=toy",
        f"paths.root={tmp_path}",
        "models=[d,t]",
        "benchmark.datasets=[0,1]",
        "benchmark.seeds=[0,1]",
        "benchmark.replicates=50",
        "env.horizon=20",
        "env.num_train=6",
        "env.num_test=5",
        "model.epochs=2",
        "model.hidden=8",
        "plot.formats=[png]",
    ]
    for ds in (0, 1):
        for mode in ("collect", "train"):
            MODES[mode](compose_cfg(f"mode={mode}", f"data.seed={ds}", *base))
        for seed in (0, 1):
            MODES["eval"](compose_cfg("mode=eval", f"data.seed={ds}", f"seed={seed}", *base))
    MODES["leaderboard"](compose_cfg("mode=leaderboard", *base))
    board = pd.read_csv(tmp_path / "outputs/benchmark/cartpole/toy_stable/tables/leaderboard.csv")
    assert {"t", "d (logged)", "d (closed loop)", "hmean", "lint"} <= set(board["row"])
    assert (board.loc[board["model"] == "t", "n_seeds"] == 2).all()


def test_a_seed_grid_trains_windowed_keys_one_by_one(run_mode, tmp_path: Path) -> None:
    """grid.batched=true with a k-step key (no batched trainer) trains each seed as a single
    run would, and asks for no budget snapshots it cannot take."""
    run_mode("mode=collect")
    grid = ("grid.batched=true", "grid.seeds=[0,1]", "train.patience=null", "model.epochs=1")
    with pytest.raises(TrajmbrlError, match="grid.snapshots is not supported for dk"):
        run_mode("mode=train", "models=dk", *grid, "train.steps=4", "grid.snapshots=[2]")
    models = tmp_path / "outputs/smoke/cartpole/toy_stable/models/dk"
    assert not models.exists()  # refused before any file
    run_mode("mode=train", "models=dk", *grid)
    single = tmp_path / "single"
    run_mode("mode=collect", f"paths.root={single}")
    run_mode("mode=train", "models=dk", "seed=1", "model.epochs=1", f"paths.root={single}")
    for seed in (0, 1):
        assert (models / f"n=all_t=all/seed={seed}/model.pt").exists()
    a = trajmbrl.load_model(models / "n=all_t=all/seed=1/model.pt").net.state_dict()
    b = trajmbrl.load_model(
        single / "outputs/smoke/cartpole/toy_stable/models/dk/n=all_t=all/seed=1/model.pt"
    ).net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_each_family_tunes_its_own_knobs(run_mode, tmp_path: Path) -> None:
    """dk tunes k (space multistep), sq its window (space sequence); d has no k to tune."""
    from trajmbrl.tuning import space_name

    run_mode("mode=collect")
    run_mode("mode=tune", "models=[d,dk,sq]", "tune.trials=2", "model.epochs=1")
    root = tmp_path / "outputs/smoke/cartpole/toy_stable/tuning"
    columns = {k: set(pd.read_csv(root / k / "trials.csv").columns) for k in ("d", "dk", "sq")}
    assert "params_unroll" in columns["dk"] and "params_unroll" not in columns["d"]
    assert "params_window" in columns["sq"] and "params_layers" not in columns["sq"]
    assert "tune.space.multistep" in (root / "dk" / "preset.yaml").read_text()
    assert space_name({"family": "one_step", "unroll": 1}) == "one_step"


def test_training_flops_count_windows_for_the_k_step_and_sequence_families() -> None:
    """A k-step window costs k MLP steps; a GRU window W recurrent steps (page's TFLOP line)."""
    from trajmbrl.reports.benchmark_page import _flops

    spec = {"state_dim": 4, "action_dim": 1, "param_dim": 4, "hidden": 8, "layers": 2}
    spec |= {"probabilistic": False, "ensemble_size": 1, "key": "d", "family": "one_step"}
    meta = {"steps": 10, "samples": {"kept": 1000}, "config": {}}
    one = _flops({"spec": spec}, meta)
    assert one == 10 * 256 * 3 * 2 * (5 * 8 + 8 * 8 + 8 * 4)
    assert _flops({"spec": {**spec, "unroll": 5}}, meta) == 5 * one
    gru = {**spec, "family": "sequence", "window": 20}
    per_step = 2 * (8 * 24 + 8 * 4)
    assert _flops({"spec": gru}, meta) == 10 * 256 * 3 * (2 * 8 * 32 + 20 * per_step)
    # paper_cost's epoch-trained checkpoints: member-epochs x the kept samples not held out
    from trajmbrl.models.cost import checkpoint_training_flops

    epochs = {"samples": {"kept": 1000}, "config": {"train": {"val_fraction": 0.1}}}
    assert checkpoint_training_flops(spec, epochs, member_epochs=2) == 2 * 900 * one / 2560


def test_training_flops_per_sample_of_every_family_from_a_spec_or_its_dict() -> None:
    """The one FLOP count (models.cost): MLP pairs, k-step windows, W-step GRU windows; a
    checkpoint's spec dict (neutral settings left out) counts as its ModelSpec."""
    from trajmbrl.models import ModelSpec
    from trajmbrl.models.cost import mlp_training_flops, training_flops_per_sample

    dims = {"state_dim": 4, "action_dim": 1, "param_dim": 4}
    h = 250
    mlp = 3 * 2 * (h * h * 2 + h * 4)  # hidden-hidden and head products
    for key in ("t", "te", "tr", "tre"):  # in = ds + 1 + dp
        spec = ModelSpec.for_key(key, **dims)
        assert training_flops_per_sample(spec) == mlp + 3 * 2 * 9 * h
    assert training_flops_per_sample(ModelSpec.for_key("d", **dims)) == mlp + 3 * 2 * 5 * h
    assert training_flops_per_sample(ModelSpec.for_key("dk", **dims)) == 5 * (mlp + 3 * 2 * 5 * h)
    tp = ModelSpec.for_key("tp", **dims)  # Gaussian head: mean and log-variance
    assert training_flops_per_sample(tp) == mlp_training_flops(9, 8, h, 3)
    for w in (20, 50):
        spec = ModelSpec.for_key("sqe", **dims, window=w)
        gru = 3 * (2 * 8 * 4 * h + w * 2 * (h * 3 * h + h * 4))
        assert training_flops_per_sample(spec) == gru
        assert training_flops_per_sample(spec.to_dict()) == gru  # W=50 is left out of the dict


def test_trial_zero_is_the_keys_own_settings() -> None:
    """The tuned preset can only improve on the key untuned: its settings are trial 0 (those
    inside the space; a value outside it is left to the sampler)."""
    from trajmbrl.tuning import TuneSettings, own_settings, tune

    space = {
        "hidden": {"low": 4, "high": 16, "int": True},
        "lr": {"low": 1e-3, "high": 1e-2, "log": True},
        "batch_size": {"choices": [16, 32]},
    }
    own = {"hidden": 8, "lr": 0.5, "batch_size": 32, "layers": 2}
    assert own_settings(space, own) == {"hidden": 8, "batch_size": 32}  # lr 0.5: outside
    fixed = {"epochs": 1, "hidden": 12, "lr": 3e-3, "batch_size": 16}
    trials = tune("t", _linear_data(), space, TuneSettings(trials=3, seed=2), fixed=fixed).trials
    first = trials.sort_values("number").iloc[0]
    own = (first["params_hidden"], first["params_lr"], first["params_batch_size"])
    assert own == (12, 3e-3, 16)
    assert trials["params_hidden"].nunique() > 1  # the rest are the sampler's
