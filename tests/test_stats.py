"""Statistics of the result tables: skill, seeds, Holm, divergence ranking, ceilings, rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.artifacts.manifest import table_problem
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import signed_differences, tidy_errors, wilcoxon_test
from trajmbrl.evaluation.stats import holm, label_rows, row_label, skill_scores
from trajmbrl.reports.comparisons import comparison_table, families
from trajmbrl.reports.tables import (
    fmt_cell,
    fmt_value,
    horizon_stats,
    runs_table,
    wide_table,
    with_skill,
)
from trajmbrl.utils.hashed_csv import write_hashed_csv


def tidy(
    model: str, source: str, mse: np.ndarray, seed: int = 0, variant: str = "n=all_t=all"
) -> pd.DataFrame:
    """Rows exactly as a metrics CSV holds them."""
    return tidy_errors(
        np.asarray(mse, float),
        env="cartpole",
        data="stable",
        model=model,
        variant=variant,
        seed=seed,
        action_source=source,
    )


def frame_of(*parts: pd.DataFrame) -> pd.DataFrame:
    return label_rows(pd.concat(parts, ignore_index=True))


def test_holm_matches_the_known_answer():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    out = holm([0.01, np.nan, 0.02])  # an undefined test is not counted in the family
    assert np.isnan(out[1]) and np.allclose(out[[0, 2]], [0.02, 0.02])
    assert holm([]).shape == (0,)


def test_rows_name_the_protocol():
    assert row_label("d", "logged") == "d (logged)"
    assert row_label("d", "controller") == "d (closed loop)"
    assert row_label("pe", "controller-ts1") == "pe (closed loop, ts1)"
    assert row_label("t", "direct") == "t" and row_label("hmean", "direct") == "hmean"


def test_seeds_aggregate_to_median_and_min_max():
    traj = np.ones((5, 3))
    parts = [tidy("t", "direct", traj * m, seed=s) for s, m in enumerate([2.0, 1.0, 10.0])]
    scored = with_skill(frame_of(*parts))
    stats = horizon_stats(scored, [1, 3])
    assert set(stats["n_seeds"]) == {3}
    np.testing.assert_allclose(stats[["median", "min", "max"]].to_numpy(), [[2, 1, 10]] * 2)
    table = wide_table(stats, "nmse")
    assert list(table.columns) == ["row", "model", "protocol", "variant", "seeds", "h=1", "h=3"]
    assert table.loc[0, "h=3"] == "2 [1, 10]" and table.loc[0, "seeds"] == 3


def test_skill_is_one_for_hmean_and_a_ratio_on_the_same_trajectory():
    rng = np.random.default_rng(0)
    ref = rng.lognormal(size=(6, 4))
    model = rng.lognormal(size=(6, 4))
    model[2, 3] = np.inf
    parts = [tidy("hmean", "direct", ref)]  # seed-independent: written once, seed=0
    parts += [tidy("t", "direct", model * (s + 1), seed=s) for s in range(3)]
    skill = skill_scores(frame_of(*parts).query("metric == 'nmse'"))
    hm = skill[skill["model"] == "hmean"]
    assert len(hm) == ref.size and (hm["value"] == 1.0).all()
    t1 = skill[(skill["model"] == "t") & (skill["seed"] == 1)].sort_values(["traj", "horizon"])
    expected = (2 * model / ref).ravel()
    np.testing.assert_allclose(t1["value"].to_numpy(), expected)  # inf stays inf (diverged)
    assert skill_scores(frame_of(parts[1]).query("metric == 'nmse'")).empty  # no reference


def test_diverged_errors_rank_worst_and_are_not_dropped():
    # a diverged error outranks any finite one; at or above the ceiling (1e6) is diverged too
    np.testing.assert_array_equal(
        signed_differences([np.inf, 1.0, np.nan, 3.0, np.inf], [5e5, np.inf, np.inf, 1.0, 2e6]),
        [np.inf, -np.inf, 0.0, 2.0, 0.0],
    )
    # a is slightly better on 12 trajectories but diverges on 8 where b does not
    b = np.linspace(0.1, 0.2, 20)
    a = b - 0.01 * np.arange(1, 21)
    a[12:] = np.inf
    p, balance = wilcoxon_test(a, b)
    assert balance > 0  # a has the larger errors
    p_dropped, balance_dropped = wilcoxon_test(a[:12], b[:12])
    assert balance_dropped == -1.0 and p_dropped < 1e-3  # what dropping would have claimed
    assert p > 0.05
    p_all, balance_all = wilcoxon_test(np.full(10, np.inf), np.full(10, 5e6))
    assert np.isnan(p_all) and np.isnan(balance_all)  # diverged both ways: ties, no evidence
    assert wilcoxon_test(np.full(10, np.inf), np.arange(10.0))[1] == 1.0


def test_ceilings_are_marked_in_cells_and_tables():
    assert fmt_value(np.inf) == fmt_value(2e6) == fmt_value(np.nan) == ">=1e6 (div.)"
    assert fmt_value(0.5) == "0.5"
    assert fmt_cell(1e-5, 9e-6, np.inf, 3) == "1e-05 [9e-06, >=1e6]"
    assert fmt_cell(np.inf, np.inf, np.inf, 1, mark="div.", infinite_only=True) == "div."
    mse = np.full((4, 2), 0.1)
    mse[:3, 1] = np.inf
    ref = tidy("hmean", "direct", np.ones_like(mse))
    scored = with_skill(frame_of(tidy("d", "logged", mse), ref))
    stats = horizon_stats(scored, [1, 2])
    nmse, skill = wide_table(stats, "nmse"), wide_table(stats, "skill")
    row = nmse[nmse["row"] == "d (logged)"].iloc[0]
    assert row["h=1"] == "0.1" and row["h=2"] == ">=1e6 (div.)"
    assert skill[skill["row"] == "d (logged)"].iloc[0]["h=2"] == "div."


def test_variants_and_seeds_are_never_pooled():
    parts = [
        tidy("d", "logged", np.full((3, 2), v * (s + 1)), seed=s, variant=var)
        for var, v in (("n=all_t=all", 1.0), ("n=4_t=all", 5.0))
        for s in (0, 1)
    ]
    scored = with_skill(frame_of(*parts))
    table = wide_table(horizon_stats(scored, [2]), "nmse")
    assert sorted(table["row"]) == ["d (logged) [n=4_t=all]", "d (logged) [n=all_t=all]"]
    assert dict(zip(table["variant"], table["h=2"])) == {
        "n=all_t=all": "1.5 [1, 2]",
        "n=4_t=all": "7.5 [5, 10]",
    }
    runs = runs_table(scored, [2])
    assert list(runs.columns[:7]) == ["env", "data", "model", "protocol", "variant", "row", "seed"]
    assert len(runs) == 4 and sorted(runs["h=2"]) == [1, 2, 5, 10]


def test_comparisons_cover_both_protocols_and_the_strongest_row():
    rng = np.random.default_rng(1)
    base = rng.lognormal(size=(12, 3))
    parts = [tidy("t", "direct", base * 0.5, seed=s) for s in range(3)]
    parts += [tidy("d", "logged", base * 4, seed=s) for s in range(3)]
    parts += [tidy("d", "controller", base * 0.8, seed=s) for s in range(3)]
    parts += [tidy("hmean", "direct", base), tidy("zero", "direct", base * 3)]
    frame = frame_of(*parts)
    rows = frame[["row", "model", "action_source", "variant"]].drop_duplicates()
    fams = families(rows)
    assert sorted((a, b[0]) for a, b in fams if len(b) == 1) == [
        ("t", "d (closed loop)"),
        ("t", "d (logged)"),
    ]
    strongest = {a: sorted(b) for a, b in fams if len(b) > 1}
    assert strongest == {
        "t": ["d (closed loop)", "hmean", "zero"],
        "d (logged)": ["d (closed loop)", "hmean", "zero"],
        "d (closed loop)": ["hmean", "zero"],
    }
    scored = with_skill(frame)
    nmse = scored[scored["metric"] == "nmse"]
    tests = comparison_table(nmse, horizon_stats(scored, [1, 2, 3]), [1, 2, 3])
    # a trained model (d in closed loop) competes: "strongest row"; only baselines: "baseline"
    strongest = tests[tests["comparison"] == "t vs strongest row"]
    assert set(strongest["b"]) == {"d (closed loop)"}  # 0.8 x base beats hmean (1 x base)
    assert (strongest["lower_error"] == "t").all()
    logged = tests[tests["comparison"] == "t vs d (logged)"]
    np.testing.assert_allclose(logged["p_holm"], holm(logged["p_value"]))
    assert set(tests["comparison"]) == {
        "t vs d (logged)",
        "t vs d (closed loop)",
        "t vs strongest row",
        "d (logged) vs strongest row",
        "d (closed loop) vs strongest baseline",
    }


def test_mode_plot_writes_both_figures_and_every_table(run_mode, tmp_path, capsys):
    cfg = compose_cfg("experiment=smoke", f"paths.root={tmp_path}")
    metrics = tmp_path / "outputs" / cfg.experiment_name / cfg.env.name / cfg.data.tag / "metrics"
    metrics.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for model, source, scale, seeds in (
        ("t", "direct", 0.5, 2),
        ("d", "logged", 3.0, 2),
        ("d", "controller", 0.7, 2),
        ("hmean", "direct", 1.0, 1),
    ):
        for s in range(seeds):
            part = tidy(model, source, rng.lognormal(size=(8, 12)) * scale, seed=s)
            write_hashed_csv(
                metrics / f"{model}__n=all_t=all__seed={s}__{source}.csv", part, "fixture"
            )
    with pytest.raises(TrajmbrlError, match=r"plot.rows names \['nope'\]"):
        run_mode("mode=plot", "plot.rows=[t,nope]")
    assert not (metrics.parent / "tables").exists()  # bad input: nothing written
    run_mode(
        "mode=plot",
        "plot.horizons=[1,5,12]",
        "plot.formats=[png]",
        "plot.rows=[t,'d (closed loop)',hmean]",
    )
    out = capsys.readouterr().out
    assert "d (closed loop)" in out and "Skill" in out and "p_holm" in out
    tables = metrics.parent / "tables"
    for name in ("median_nmse", "skill", "wilcoxon", "runs", "horizon_stats"):
        assert (tables / f"{name}.csv").exists(), name
        assert table_problem(tables / f"{name}.csv") is None, name  # MANIFEST.json lists it
    for name in ("nmse_vs_horizon", "skill_vs_horizon"):
        assert (metrics.parent / "figures" / f"{name}.png").exists(), name
    runs = pd.read_csv(tables / "runs.csv")
    assert len(runs) == 7 and {"protocol", "variant", "seed"} <= set(runs.columns)
    nmse = pd.read_csv(tables / "median_nmse.csv")
    assert list(nmse["row"]) == ["d (logged)", "d (closed loop)", "t", "hmean"]


def test_results_summary_names_the_winner_only_when_holm_says_so():
    from trajmbrl.reports.verdicts import verdicts

    tests = pd.DataFrame(
        {
            "comparison": ["t vs d (logged)"] * 2 + ["t vs strongest baseline"],
            "b": ["d (logged)", "d (logged)", "lint"],
            "horizon": [1, 10, 10],
            "lower_error": ["d (logged)", "t", "t"],
            "p_holm": [0.2, 0.001, 0.01],
        }
    )
    table = verdicts(tests).set_index("comparison")
    assert table.loc["t vs d (logged)", "h=1"] == "n.s. (0.2)"
    assert table.loc["t vs d (logged)", "h=10"] == "t (0.001)"
    assert table.loc["t vs strongest baseline", "h=10"] == "t (0.01); vs lint"
    assert fmt_value(np.inf) == fmt_value(3e6) == ">=1e6 (div.)"
