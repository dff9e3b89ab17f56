"""Section 5.5 from a common start (issue 21): N controllers from each of M initial states,
ranked within each start; regret of each method's pick."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from toy import ToySampler, toy_dataset, toy_step
from trajmbrl.data.common_start import CommonStart, collect_common_start, start_groups
from trajmbrl.data.pairs import one_step_samples
from trajmbrl.data.storage import TEST, TrajectoryData
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.reward_ranking import (
    direct_return_baselines,
    ranking_scores,
    ranking_table,
    start_scores,
)
from trajmbrl.evaluation.rollout import closed_loop_rollout
from trajmbrl.models.baselines import LinearModel


def _reward(states: np.ndarray) -> np.ndarray:
    """Toy task reward -|s|^2 per step. (..., 2) -> (...)"""
    return -(states**2).sum(-1)


def _toy_common_start(m: int = 4, n: int = 6, horizon: int = 15, seed: int = 0):
    """M starts x N gains of the toy linear loop, start-major; exact states by simulation."""
    rng = np.random.default_rng(seed)
    s0 = np.repeat(rng.uniform(-1, 1, size=(m, 2)), n, axis=0)
    params = rng.uniform(0.2, 8.0, size=(m * n, 2))
    states = closed_loop_rollout(
        toy_step, torch.as_tensor(s0), horizon, ["controller"], sampler=ToySampler(), params=params
    )["controller"].numpy()
    full = np.concatenate([s0[:, None], states], axis=1)  # (M N, H + 1, 2)
    data = TrajectoryData(
        states=full,
        actions=np.zeros((m * n, horizon, 1)),
        params=params,
        rewards=np.zeros((m * n, horizon)),
        lengths=np.full(m * n, horizon),
        seeds=np.repeat(np.arange(m), n),
        split=np.full(m * n, TEST, dtype=np.int8),
    )
    return data, _reward(full[:, 1:]).sum(1)


def _frame(true: np.ndarray, preds: dict[str, np.ndarray], groups: np.ndarray, seeds=(0,)):
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "seed": s,
                    "method": name,
                    "start": groups,
                    "traj": np.arange(true.size),
                    "true_return": true,
                    "predicted_return": pred,
                    "diverged": ~np.isfinite(pred),
                }
            )
            for s in seeds
            for name, pred in preds.items()
        ],
        ignore_index=True,
    )


def test_common_start_ranking_recovers_the_known_best_controller_and_oracle_regret_is_zero():
    data, true = _toy_common_start()
    groups = start_groups(data.states[:, 0])
    assert list(np.bincount(groups)) == [6, 6, 6, 6]
    # the true model: roll the test controllers out in the exact toy dynamics from s_0
    oracle = closed_loop_rollout(
        toy_step,
        torch.as_tensor(data.states[:, 0]),
        15,
        ["controller"],
        sampler=ToySampler(),
        params=data.params,
    )["controller"].numpy()
    # a model learned from other trajectories: one-step least squares on the toy's own data
    # (exact on a linear loop), rolled out with each test controller in the loop
    x, y, _ = one_step_samples(toy_dataset(n=8, horizon=10, seed=5, test=0))
    lin = LinearModel(2, 1)
    lin.fit(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64))
    learned = closed_loop_rollout(
        lin.step,
        torch.as_tensor(data.states[:, 0]),
        15,
        ["controller"],
        sampler=ToySampler(),
        params=data.params,
    )["controller"].numpy()
    s0_only = np.repeat(true.reshape(4, 6).mean(1), 6)  # a perfect per-start mean, no ranking
    preds = {"oracle": _reward(oracle).sum(1), "lin": _reward(learned).sum(1), "s0 only": s0_only}
    frame = _frame(true, preds, groups)
    per = ranking_scores(frame).set_index(["method", "start"])
    for start in range(4):  # the oracle picks each start's known best gain
        idx = np.flatnonzero(groups == start)
        assert per.loc[("oracle", start), "picked_best"] == 1.0
        assert per.loc[("oracle", start), "regret_1"] == pytest.approx(0.0, abs=1e-9)
        assert per.loc[("oracle", start), "spearman"] == pytest.approx(1.0)
        assert per.loc[("lin", start), "picked_best"] == 1.0  # the known best, from data
        assert per.loc[("s0 only", start), "regret_1"] == pytest.approx(
            true[idx].max() - true[idx[0]]
        )
    table = ranking_table(frame).set_index("method")
    assert table.loc["oracle", "regret_1"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["oracle", "regret_5"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["oracle", "kendall"] == pytest.approx(1.0)
    assert table.loc["oracle", "mse"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(table.loc["s0 only", "spearman"])  # constant within a start: undefined
    assert table.loc["s0 only", "regret_1"] > 0
    assert (table["starts"] == 4).all() and (table["controllers"] == 6).all()


def test_start_scores_by_hand_and_diverged_predictions_rank_last():
    true = np.array([1.0, 3.0, 2.0, 0.0])
    s = start_scores(true, np.array([0.0, np.inf, 5.0, 1.0]), k=2)  # inf: a blown-up roll-out
    assert s["regret_1"] == 1.0  # picks traj 2 (true 2) while the best is 3
    assert s["regret_k"] == 1.0  # top 2: trajs 2 and 3
    assert s["picked_best"] == 0.0
    s = start_scores(true, np.array([0.0, 4.0, 5.0, 1.0]), k=2)
    assert s["regret_1"] == 1.0 and s["regret_k"] == 0.0
    with pytest.raises(TrajmbrlError, match="k must be >= 1"):
        ranking_scores(_frame(true, {"a": true}, np.zeros(4, dtype=int)), k=0)


def test_seeds_are_summarised_by_their_median_and_range():
    true = np.array([1.0, 3.0, 2.0, 0.0])
    groups = np.zeros(4, dtype=int)
    frames = [
        _frame(true, {"m": p}, groups, seeds=(s,))
        for s, p in enumerate([true, true[::-1], true, true, np.array([3.0, 1.0, 2.0, 0.0])])
    ]
    table = ranking_table(pd.concat(frames, ignore_index=True)).iloc[0]
    assert table["seeds"] == 5
    assert table["regret_1"] == 0.0 and table["regret_1_max"] == 2.0  # median, worst seed


def test_gp_baselines_and_collection_from_common_starts():
    pytest.importorskip("gymnasium")
    from trajmbrl.controllers.lqr import LQRSampler

    sampler = LQRSampler(mode="stable")
    data, report = collect_common_start(
        "trajmbrl/Cartpole-v0", sampler, CommonStart(states=3, controllers=4), horizon=5, seed=1
    )
    assert data.num == 12 and (data.split == TEST).all() and report["accepted"] == 12
    groups = start_groups(data.states[:, 0])
    assert list(groups) == [0] * 4 + [1] * 4 + [2] * 4
    assert len({tuple(p) for p in data.params}) == 12  # N different gains per start
    again, _ = collect_common_start(
        "trajmbrl/Cartpole-v0", sampler, CommonStart(states=3, controllers=4), horizon=5, seed=1
    )
    np.testing.assert_array_equal(data.states, again.states)
    y = data.states[:, 1:].sum((1, 2))
    preds = direct_return_baselines(data, y, data, seed=0)
    assert set(preds) == {"gp (s0, K)", "gp (s0)", "gp (K)"}
    assert all(p.shape == (12,) for p in preds.values())
    with pytest.raises(ArgumentError, match="controllers"):
        CommonStart(states=3, controllers=1)


def test_common_start_outputs_write_the_ranking_table_and_the_figure(tmp_path, capsys):
    from omegaconf import OmegaConf

    from trajmbrl.modes.console import common_start_outputs

    true = np.array([1.0, 3.0, 2.0, 0.0, 5.0, 4.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    preds = {
        "t": true + 0.1,
        "gp (s0)": np.repeat([2.0, 3.0], 3),
        "d (logged)": np.r_[true[:5], np.inf],
    }
    frame = _frame(true, preds, groups, seeds=(0, 1))
    cfg = OmegaConf.create({"env": {"name": "cartpole"}, "plot": {"formats": ["png"]}})
    common_start_outputs(cfg, frame, tmp_path)
    written = pd.read_csv(tmp_path / "tables/reward_common_start.csv")
    assert list(written["method"]) == ["t", "gp (s0)", "d (logged)"]
    assert list(written["seeds"]) == [2, 2, 2] and written.loc[0, "regret_1"] == 0.0
    assert (tmp_path / "figures/reward_regret.png").exists()
    assert "from each of 2 common test starts" in capsys.readouterr().out


@pytest.mark.slow  # seconds of training: the CLI path end to end
def test_common_start_test_set_and_rankings_from_the_cli(run_mode):
    """mode=collect with env.common_start, two model seeds, eval.task=reward ranks within
    every start for both seeds (reward/common_start.csv); mode=plot writes its table."""
    start = "+env.common_start={states: 2, controllers: 3}"
    cfg = run_mode("mode=collect", start)
    for seed in (0, 1):
        run_mode("mode=train", "models=t", f"seed={seed}", start)
    run_mode("mode=eval", "models=[t]", "eval=reward", start)
    frame = pd.read_csv(Path(cfg.paths.run_dir) / "reward/common_start.csv", comment="#")
    assert set(frame["seed"]) == {0, 1}
    assert set(frame["method"]) == {"t", "gp (s0, K)", "gp (s0)", "gp (K)"}
    assert sorted(frame.groupby("start")["traj"].nunique()) == [3, 3]
    run_mode("mode=plot", "models=[t]", "eval=reward", start)
    table = pd.read_csv(Path(cfg.paths.run_dir) / "tables/reward_common_start.csv")
    assert list(table["seeds"]) == [2, 2, 2, 2]
