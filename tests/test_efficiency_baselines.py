"""Section 5.4 baselines per grid cell (issue 21): fitted on the cell's own data, shares of
lowest-MSE cells over every row, each model against the cell's strongest baseline."""

import numpy as np
import pandas as pd
import pytest

from conftest import compose_cfg
from toy import ToySampler, toy_dataset
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.evaluation.efficiency import cell_baseline_predictions, cell_training_data
from trajmbrl.modes.eval_efficiency import cell_baselines, own_budget_rows
from trajmbrl.reports.efficiency import (
    STRONGEST,
    budget_sweep,
    lowest_mse_shares,
    own_budget_steps,
    strongest_baseline,
    versus_baselines,
    with_strongest,
)


def _toy_grid():
    data = toy_dataset(n=14, horizon=12, seed=3, test=4)
    return data.train(), data.test()


@pytest.mark.parametrize("cell", [(1, 4, 0), (3, 5, 1), (5, 12, 2), (10, 7, 4)])
def test_cell_hmean_is_the_exact_mean_of_the_cells_own_trajectories(cell):
    """On a toy linear grid, hmean at h <= t_range is the mean of s_h over the cell's num_traj
    trajectories (the seeded subset its models train on); beyond it, the mean at t_range."""
    train, test = _toy_grid()
    num_traj, t_range, seed = cell
    pick = np.sort(np.random.default_rng([seed, 7]).choice(train.num, num_traj, replace=False))
    own = train.states[pick]  # (num_traj, 13, 2)
    expect = own[:, 1 : t_range + 1].mean(axis=0)  # (t_range, 2)
    horizon = 12
    expect = np.concatenate([expect, np.repeat(expect[-1:], horizon - t_range, axis=0)])
    pred = cell_baseline_predictions("hmean", train, test, horizon, cell)["direct"]
    assert pred.shape == (test.num, horizon, 2)
    np.testing.assert_allclose(pred, np.broadcast_to(expect, pred.shape), rtol=0, atol=1e-12)
    sub = cell_training_data(train, num_traj, t_range, seed)
    assert sub.states.shape == (num_traj, t_range + 1, 2)
    np.testing.assert_array_equal(sub.states, own[:, : t_range + 1])


def test_cell_zero_lint_and_lin_use_the_cells_data():
    train, test = _toy_grid()
    zero = cell_baseline_predictions("zero", train, test, 6, (3, 5, 0))["direct"]
    np.testing.assert_array_equal(zero, np.repeat(test.states[:, :1], 6, axis=1))
    # the toy loop is linear in s: with all 10 trajectories, lin (one-step least squares on
    # [s, u]) is the exact model, both with logged actions and with the controller in the loop
    lin = cell_baseline_predictions(
        "lin", train, test, 8, (10, 12, 0), protocols=["logged", "controller"], sampler=ToySampler()
    )
    for source in ("logged", "controller"):
        np.testing.assert_allclose(lin[source], test.states[:, 1:9], atol=1e-9)
    a = cell_baseline_predictions("lint", train, test, 12, (3, 4, 0))["direct"]
    b = cell_baseline_predictions("lint", train, test, 12, (3, 4, 1))["direct"]
    assert not np.allclose(a, b)  # another copy, other trajectories, another fit
    np.testing.assert_array_equal(a[:, 4:], np.repeat(a[:, 3:4], 8, axis=1))  # beyond t_range
    with pytest.raises(ArgumentError, match="key must be one of zero, hmean, lin, lint"):
        cell_baseline_predictions("oracle", train, test, 4, (3, 4, 0))


def _agg(values: dict[str, list[float]]) -> pd.DataFrame:
    cells = [(1, 10), (1, 20), (3, 10), (3, 20)]
    rows = [
        {"model": m, "num_traj": n, "t_range": t, "metric": "mse", "value": v, "q25": v, "q75": v}
        for m, vs in values.items()
        for (n, t), v in zip(cells, vs)
    ]
    return pd.DataFrame(rows)


def test_shares_and_strongest_baseline_by_hand():
    agg = _agg(
        {
            "t": [0.5, 2.0, 1.0, 0.1],
            "d": [3.0, 3.0, 1.0, 0.2],
            "hmean": [1.0, 1.0, 2.0, 2.0],
            "zero": [2.0, 0.5, 3.0, 3.0],
        }
    )
    shares = lowest_mse_shares(agg).set_index("row")
    assert shares.loc["t", "cells_won"] == 2.5  # cells 1 and 4, half of the tie in cell 3
    assert shares.loc["d", "cells_won"] == 0.5
    assert shares.loc["zero", "cells_won"] == 1.0
    assert shares.loc["hmean", "cells_won"] == 0.0
    assert shares["share"].sum() == pytest.approx(1.0)
    assert shares.loc["zero", "kind"] == "baseline" and shares.loc["t", "kind"] == "model"
    best = strongest_baseline(agg)
    assert list(best["baseline"]) == ["hmean", "zero", "hmean", "hmean"]
    assert list(best["value"]) == [1.0, 0.5, 2.0, 2.0]
    versus = versus_baselines(agg).set_index("model")
    assert versus.loc["t", "share_beats_strongest"] == 0.75
    assert versus.loc["t", "median_ratio"] == pytest.approx(np.median([0.5, 4.0, 0.5, 0.05]))
    assert versus.loc["d", "share_beats_zero"] == 0.5
    extra = with_strongest(agg)
    assert (extra["model"] == STRONGEST).sum() == 4
    assert versus_baselines(_agg({"t": [1.0] * 4, "d": [2.0] * 4})).empty


def test_efficiency_task_takes_only_data_fitted_baselines():
    cfg = compose_cfg("experiment=sec54", "mode=eval")
    assert cell_baselines(cfg) == ["zero", "hmean", "lint"]
    cfg.eval.baselines = "all"
    assert cell_baselines(cfg) == ["zero", "hmean", "lin", "lint"]
    cfg.eval.baselines = ["hmean", "oracle"]
    with pytest.raises(TrajmbrlError, match=r"eval.baselines: \['oracle'\]"):
        cell_baselines(cfg)


def test_budget_sweep_and_own_budget_choice_by_validation_only():
    agg = _agg(
        {
            "t @10": [0.5, 0.5, 0.5, 0.5],
            "t": [2.0, 2.0, 2.0, 0.1],  # the final model: 300 steps
            "d @10": [3.0, 3.0, 0.4, 3.0],
            "d": [1.0, 1.0, 1.0, 1.0],
            "hmean": [1.5, 1.5, 1.5, 1.5],
        }
    )
    sweep = budget_sweep(agg, 300).set_index(["steps", "row"])
    assert sweep.loc[(10, "t"), "share_lowest"] == 0.75  # d @10 wins cell 3
    assert sweep.loc[(10, "t"), "share_beats_strongest"] == 1.0
    assert sweep.loc[(300, "d"), "share_lowest"] == 0.75  # the verdict flips with the budget
    assert sweep.loc[(300, "t"), "median_mse"] == 2.0
    assert budget_sweep(_agg({"t": [1.0] * 4, "hmean": [2.0] * 4}), 300).empty
    # the own-budget row takes the candidate with the lowest *validation* score, whatever
    # its test score
    scores = {
        s: pd.DataFrame({"model": [f"t @{s}"], "metric": ["mse"], "value": [s]}) for s in (10, 30)
    }
    final = pd.DataFrame({"model": ["t"], "metric": ["mse"], "value": [0.0]})
    cands = {
        ("t", 3, 10, 0): [(0.9, 300, [final]), (0.2, 30, [scores[30]]), (0.5, 10, [scores[10]])]
    }
    (row,) = own_budget_rows(cands, ["t"])
    assert row["model"].iloc[0] == "t (own budget)" and row["steps"].iloc[0] == 30
    assert row["value"].iloc[0] == 30
    chosen = own_budget_steps(row.assign(num_traj=3, t_range=10, seed=0))
    assert chosen["steps"].iloc[0] == 30
