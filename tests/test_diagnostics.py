"""Diagnostics (issue 20 items 4-5): per-dimension errors and predicted-vs-true samples from
mode=eval, their table and figures from mode=plot, and readable horizon figures with many rows
(a colour per family, a line style per variant, facets, legends outside the data)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.evaluation.diagnostics import BANDS, per_dimension_errors, prediction_sample
from trajmbrl.evaluation.metrics import tidy_errors
from trajmbrl.evaluation.stats import label_rows
from trajmbrl.plotting.figures import MAX_ROWS, draw_horizon, line_style, panels
from trajmbrl.utils.hashed_csv import read_hashed_csv


def test_per_dimension_errors_keep_the_dimensions_and_bands_apart():
    true = np.zeros((4, 12, 2))
    pred = np.zeros((4, 12, 2))
    pred[:, :, 1] = 0.5  # dimension 1 is off by half its range everywhere
    pred[0, 5, 0] = np.inf  # trajectory 0 diverges in dimension 0 within 1 < h <= 10
    true[3, 8:] = np.nan  # trajectory 3 ends after h = 8
    frame = per_dimension_errors(true, pred, np.zeros(2), np.ones(2), ["pos", "vel"])
    assert list(frame["band"].unique()) == [b[0] for b in BANDS[:3]]  # h > 100 is beyond H
    one = frame[frame["band"] == "h = 1"].set_index("state")
    assert one.at["pos", "median"] == 0 and np.isclose(one.at["vel", "median"], 0.25)
    mid = frame[frame["band"] == "1 < h <= 10"].set_index("state")
    assert mid.at["pos", "diverged"] == 0.25 and mid.at["vel", "diverged"] == 0
    assert mid.at["pos", "mean"] == 1e6 / 4  # the diverged trajectory at the ceiling
    late = frame[frame["band"] == "10 < h <= 100"]
    assert (late["n"] == 3).all() and (late["h_hi"] == 12).all()  # no truth: left out


def test_prediction_sample_starts_at_the_truth_and_drops_steps_without_it():
    true = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)
    true[1, 3] = np.nan
    pred = true[:, 1:] + 1.0
    frame = prediction_sample(true, pred, 5, ["a", "b", "c"])
    assert set(frame["traj"]) == {0, 1} and len(frame) == (4 + 3) * 3
    start = frame[frame["horizon"] == 0]
    assert (start["true"] == start["pred"]).all()
    later = frame[frame["horizon"] > 0]
    assert np.allclose(later["pred"] - later["true"], 1.0)
    assert prediction_sample(true, pred, 0).empty


def _metrics(keys: list[tuple[str, str]]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = [
        tidy_errors(
            rng.uniform(0.01, 1, size=(5, 10)) * (1 + i),
            env="cartpole",
            data="x",
            model=m,
            variant="n=all_t=all",
            seed=0,
            action_source=s,
        )
        for i, (m, s) in enumerate(keys)
    ]
    return label_rows(pd.concat(parts, ignore_index=True))


def test_d_and_de_differ_in_colour_and_marker_closed_loop_is_dashed():
    d, de = line_style("d", "logged"), line_style("de", "logged")
    assert d["color"] != de["color"] and "marker" not in d and de["marker"] == "o"
    t, te = line_style("t", "direct"), line_style("te", "direct")
    assert t["color"] != te["color"] and te["marker"] == "o"
    assert line_style("d", "controller")["ls"] == "--" and d["ls"] == "-"
    assert line_style("d", "logged-ts1")["ls"] == ":"


def test_many_rows_are_faceted_with_legends_outside_the_data(tmp_path):
    few = _metrics([("t", "direct"), ("d", "logged"), ("hmean", "direct")])
    fig = draw_horizon(few)
    (ax,) = fig.axes
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the data
    keys = [
        ("t", "direct"),
        ("te", "direct"),
        ("d", "logged"),
        ("d", "controller"),
        ("de", "logged"),
        ("de", "controller"),
        ("zero", "direct"),
        ("hmean", "direct"),
        ("lin", "logged"),
        ("lin", "controller"),
    ]
    many = _metrics(keys)
    assert len(keys) > MAX_ROWS
    facets = dict(
        panels(
            list(many[["row", "model", "action_source"]].drop_duplicates().itertuples(index=False))
        )
    )
    assert list(facets) == ["trajectory models", "one-step, logged", "one-step, closed loop"]
    assert "d (closed loop)" not in facets["one-step, logged"]
    assert "lin (closed loop)" in facets["one-step, closed loop"]
    assert (
        "hmean" in facets["one-step, logged"]
        and "lin (logged)" not in facets["one-step, closed loop"]
    )
    fig = draw_horizon(many)
    assert len(fig.axes) == 3
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0  # below
    one = draw_horizon(many, rows=["t", "d (logged)"])  # an explicit selection: one panel
    assert len(one.axes) == 1


EVAL = ("models=d", "eval.baselines=[hmean]", "eval.sample_traj=2", "eval.num_traj=3")


def test_eval_writes_diagnostics_and_plot_draws_them(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=d", "model.epochs=1", "model.hidden=8")
    cfg = run_mode("mode=eval", *EVAL)
    from trajmbrl.modes.artifacts import layout

    files = layout(cfg)
    per_dim = files.diagnostics_csv("per_dim", "d", str(cfg.train.variant), 0, "controller")
    sample = files.diagnostics_csv("sample", "d", str(cfg.train.variant), 0, "logged")
    frame = read_hashed_csv(per_dim)
    assert set(frame["state"]) == {"x", "x_dot", "theta", "theta_dot"}
    assert (frame["model"] == "d").all() and (frame["action_source"] == "controller").all()
    assert set(read_hashed_csv(sample)["traj"]) == {0, 1}
    assert files.diagnostics_csv("per_dim", "hmean", str(cfg.train.variant), 0, "direct").exists()
    assert not files.diagnostics_csv(
        "sample", "hmean", str(cfg.train.variant), 0, "direct"
    ).exists()
    before = per_dim.read_bytes()
    run_mode("mode=eval", *EVAL)
    assert per_dim.read_bytes() == before  # up to date: nothing recomputed

    run_mode("mode=plot", "plot.formats=[png]")
    table = pd.read_csv(files.table("per_dim"))
    assert {"d (logged)", "d (closed loop)", "hmean"} == set(table["row"])
    assert {"band", "state", "median", "min", "max", "n_seeds"} <= set(table.columns)
    assert files.figure("nmse_per_dim").with_suffix(".png").exists()
    assert files.figure("pred_vs_true_d").with_suffix(".png").exists()
    assert not files.figure("pred_vs_true_hmean").with_suffix(".png").exists()


def test_every_model_key_has_its_own_colour():
    from trajmbrl.configs import model_keys
    from trajmbrl.plotting.figures import COLORS

    keys = model_keys()
    assert set(keys) <= set(COLORS), sorted(set(keys) - set(COLORS))
    assert len({COLORS[k] for k in keys}) == len(keys)
