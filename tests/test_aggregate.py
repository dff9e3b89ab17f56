"""Aggregation of a sweep's metrics CSVs into one tidy table (evaluation/aggregate.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trajmbrl.data.pairs import parse_variant
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.aggregate import collect_metrics, main, per_run_table
from trajmbrl.evaluation.metrics import tidy_errors
from trajmbrl.utils.hashed_csv import write_hashed_csv


def write_metrics(
    root: Path,
    experiment: str,
    model: str,
    variant: str,
    seed: int,
    source: str,
    mse: np.ndarray,
    env: str = "cartpole",
    tag: str = "stable",
    **scores: np.ndarray,
) -> Path:
    """A metrics CSV exactly as mode=eval writes it (hash comment + tidy_errors rows).

    ``scores``: extra metrics (e.g. ``nll=`` of probabilistic models), appended as eval does.
    """
    keys = {
        "env": env,
        "data": tag,
        "model": model,
        "variant": variant,
        "seed": seed,
        "action_source": source,
    }
    frame = pd.concat(
        [tidy_errors(mse, **keys)]
        + [tidy_errors(v, **keys).assign(metric=k) for k, v in scores.items()],
        ignore_index=True,
    )
    path = (
        root / experiment / env / tag / "metrics" / f"{model}__{variant}__seed={seed}__{source}.csv"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_hashed_csv(path, frame, "abc123")
    return path


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("n=all_t=all", (None, None)),
        ("n=4_t=all", (4, None)),
        ("n=all_t=20", (None, 20)),
        ("n=10_t=5", (10, 5)),
    ],
)
def test_parse_variant(variant, expected):
    assert parse_variant(variant) == expected


@pytest.mark.parametrize("bad", ["n=all", "t=3_n=2", "n=-1_t=all", "n=x_t=all", ""])
def test_parse_variant_rejects_other_names(bad):
    with pytest.raises(TrajmbrlError, match="n=<N|all>_t=<T|all>"):
        parse_variant(bad)


def test_collect_metrics_keys_every_file_by_the_sweep_axes(tmp_path):
    outputs = tmp_path / "outputs"
    h = 5
    expected = {}
    for model, source in (("d", "logged"), ("t", "direct")):
        for seed in (0, 1):
            for variant in ("n=all_t=all", "n=4_t=20"):
                mse = np.full((3, h), 10.0 * seed + (model == "t")) + np.arange(h)
                mse[0, -1] = np.nan  # NaN rows are dropped by tidy_errors, as in mode=eval
                write_metrics(outputs, "sweep", model, variant, seed, source, mse)
                expected[(model, variant, seed)] = mse
    write_metrics(
        outputs,
        "other",
        "d",
        "n=all_t=all",
        0,
        "controller",
        np.ones((2, h)),
        env="reacher",
        tag="smoke_default",
    )
    # submitit's working files and non-metrics CSVs are not results
    write_metrics(
        outputs / "sweep" / ".submitit", "x", "d", "n=all_t=all", 9, "logged", np.ones((1, h))
    )
    (outputs / "sweep" / "cartpole" / "stable" / "tables").mkdir()
    (outputs / "sweep" / "cartpole" / "stable" / "tables" / "median_nmse.csv").write_text("a\n1\n")

    table = collect_metrics(outputs / "sweep")
    assert list(table.columns) == [
        "experiment",
        "env",
        "data",
        "model",
        "variant",
        "num_traj",
        "t_range",
        "seed",
        "action_source",
        "traj",
        "horizon",
        "metric",
        "value",
    ]
    assert set(table["experiment"]) == {"sweep"}
    assert len(table) == 8 * (3 * h - 1)
    runs = table.groupby(["model", "variant", "seed"]).size()
    assert len(runs) == 8 and (runs == 3 * h - 1).all()
    small = table[table["variant"] == "n=4_t=20"]
    assert (small["num_traj"] == 4).all() and (small["t_range"] == 20).all()
    full = table[table["variant"] == "n=all_t=all"]
    assert full["num_traj"].isna().all() and full["t_range"].isna().all()
    assert str(table["num_traj"].dtype) == "Int64"
    assert set(table.loc[table["model"] == "t", "action_source"]) == {"direct"}
    # the values are the written ones, row for row
    one = table[(table["model"] == "t") & (table["variant"] == "n=4_t=20") & (table["seed"] == 1)]
    mse = expected[("t", "n=4_t=20", 1)]
    np.testing.assert_array_equal(one["value"].to_numpy(), mse[~np.isnan(mse)])

    everything = collect_metrics(outputs)
    assert set(everything["experiment"]) == {"sweep", "other"}
    assert set(everything["env"]) == {"cartpole", "reacher"}
    assert len(everything) == len(table) + 2 * h
    # one run dir on its own works too
    assert len(collect_metrics(outputs / "other" / "reacher" / "smoke_default")) == 2 * h


def test_per_run_table_has_one_row_per_model_and_seed(tmp_path):
    for model in ("d", "t"):
        for seed in (0, 1):
            mse = np.tile(np.arange(1.0, 11.0), (4, 1)) * (seed + 1)
            write_metrics(
                tmp_path,
                "smoke",
                model,
                "n=all_t=all",
                seed,
                "logged",
                mse,
                nll=np.full((4, 10), -5.0),
            )  # other metrics don't enter the table
    frame = collect_metrics(tmp_path)
    assert set(frame["metric"]) == {"nmse", "nll"} and len(frame) == 4 * 2 * 40
    table = per_run_table(frame, horizons=[1, 10, 50])
    assert len(table) == 4
    assert list(table.columns) == ["h=1", "h=10", "diverged"]  # 50 clipped to the data (10)
    flat = table.reset_index()
    assert set(zip(flat["model"], flat["seed"])) == {("d", 0), ("d", 1), ("t", 0), ("t", 1)}
    assert (flat["num_traj"] == "all").all()
    np.testing.assert_allclose(flat.sort_values("seed")["h=10"], [10, 10, 20, 20])


def test_collect_metrics_errors_name_the_problem(tmp_path):
    with pytest.raises(TrajmbrlError, match="No metrics CSVs under"):
        collect_metrics(tmp_path)
    bad = tmp_path / "e" / "cartpole" / "stable" / "metrics" / "x.csv"
    bad.parent.mkdir(parents=True)
    write_hashed_csv(bad, pd.DataFrame({"model": ["d"], "value": [1.0]}), "1")
    with pytest.raises(TrajmbrlError, match=r"x\.csv is not a metrics CSV"):
        collect_metrics(tmp_path)


def test_command_line_prints_and_saves_the_table(tmp_path, capsys):
    write_metrics(tmp_path, "smoke", "d", "n=all_t=all", 0, "logged", np.ones((2, 3)))
    out = tmp_path / "agg" / "table.csv"
    assert main([str(tmp_path), "--horizons", "1", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "h=3" in printed and "smoke" in printed
    assert len(pd.read_csv(out)) == 1
    assert main([str(tmp_path / "nothing")]) == 2
    assert "trajmbrl: error: No metrics CSVs" in capsys.readouterr().err
