"""Equal tuning: kappa is chosen on seeds that are never reported, for every model-based search."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.control import tuning as tuning_mod
from trajmbrl.control.tuning import Tuning, choose, own_hidden, with_candidate
from trajmbrl.errors import ArgumentError
from trajmbrl.modes import MODES
from trajmbrl.modes.control import settings

CONTROL = (
    "experiment=control",
    "models=[te]",
    "scale=toy",
    "control.report=false",
    "control.cma.popsize=4",
    "control.cma.iterations=2",
    "control.tune.values=[0.0,2.0]",
    "control.tune.hidden=[]",
    "control.tune.seeds=[7,8]",
    "model.hidden=8",
    "model.epochs=1",
)


def test_choose_takes_the_best_mean_of_the_grid_and_the_smaller_on_ties():
    frame = pd.DataFrame(
        {
            "kappa": [0.0, 0.0, 1.0, 1.0, 2.0, 2.0],
            "hidden": [64] * 6,
            "seed": [1, 2] * 3,
            "true_score": [0.5, 0.7, 0.8, 0.6, 0.7, 0.7],
        }
    )
    grid = Tuning(values=[0.0, 1.0, 2.0], seeds=[1, 2])
    assert choose(frame, grid, 64) == (1.0, 64)  # means 0.6, 0.7, 0.7: the tie goes to 1
    assert choose(frame.assign(true_score=0.3), grid, 64) == (0.0, 64)
    # only the cells of the current grid are read (a wider earlier grid's are kept, not used)
    assert choose(frame, Tuning(values=[0.0, 2.0], seeds=[1, 2]), 64) == (2.0, 64)
    wide = pd.concat([frame, frame.assign(hidden=32, true_score=frame.true_score + 0.1)])
    assert choose(wide, Tuning(values=[0.0, 1.0, 2.0], hidden=[64, 32], seeds=[1, 2]), 64) == (
        1.0,
        32,
    )
    with pytest.raises(ArgumentError, match="lacks cells"):
        choose(frame, Tuning(values=[0.0, 4.0], seeds=[1, 2]), 64)


def test_a_candidate_sets_kappa_and_the_refitted_width():
    st = settings(compose_cfg(*CONTROL, "mode=control"), "te")[0]
    assert own_hidden(st) == 8
    new = with_candidate(st, 2.0, 32)
    assert (new.kappa, new.recipe.settings["hidden"], own_hidden(st)) == (2.0, 32, 8)
    assert with_candidate(st, 0.0, 8).recipe is st.recipe


def test_a_reported_seed_among_the_tuning_seeds_is_refused():
    with pytest.raises(ArgumentError, match="never be reported"):
        Tuning(values=[0.0, 1.0], seeds=[3, 4]).check_disjoint(4)
    assert not Tuning(values=[], seeds=[3]).applies("model_cma")
    assert not Tuning(values=[1.0]).applies("env_cma")


def test_tuning_never_runs_a_reported_seed_and_is_cached(monkeypatch, tmp_path):
    seen: list[int] = []
    real = tuning_mod.run_control

    def spy(task, method, st, budget, seed):  # type: ignore[no-untyped-def]
        seen.append((seed, st.kappa))
        return real(task, method, st, budget, seed)

    monkeypatch.setattr(tuning_mod, "run_control", spy)

    def run_mode(*overrides: str) -> None:
        cfg = compose_cfg(f"paths.root={tmp_path}", *CONTROL, *overrides)
        MODES[cfg.mode.name](cfg)

    for seed in (0, 1):
        run_mode("mode=control", "control.method=model_cma_onestep", f"seed={seed}")
    # the study ran once (cached for the second reported seed), on the tuning seeds only
    assert sorted(seen) == [(7, 0.0), (7, 2.0), (8, 0.0), (8, 2.0)]
    cfg_files = list(tmp_path.rglob("tuning/model_cma_onestep__*.csv"))
    assert len(cfg_files) == 1
    with pytest.raises(Exception, match="never be reported"):
        run_mode("mode=control", "control.method=model_cma_onestep", "seed=7")
    assert not list(tmp_path.rglob("*seed=7*"))  # refused before any file (or lock) for it


def test_a_long_sweep_override_string_gives_a_short_unique_directory_name():
    from trajmbrl.modes import DIRNAME_MAX, _dirname

    short = "control.method=random,seed=0"
    assert _dirname(short) == short
    long_a = ",".join(f"control.tune.values=[0.0,1.0],key{i}=value{i}" for i in range(12))
    long_b = long_a.replace("value11", "value12")
    assert len(_dirname(long_a)) == DIRNAME_MAX and _dirname(long_a) != _dirname(long_b)


def _scripted(monkeypatch, best: float):
    """run_control of the tuning module replaced by one whose final score peaks at kappa
    ``best`` (and at width 16); returns the cells it was asked for."""
    asked: list[tuple[float, int, int]] = []

    def fake(task, method, st, budget, seed):  # type: ignore[no-untyped-def]
        hidden = st.recipe.settings["hidden"]
        asked.append((st.kappa, hidden, seed))
        score = 1.0 - abs(st.kappa - best) - 0.01 * abs(hidden - 16)
        return pd.DataFrame({"true_score": [score]})

    monkeypatch.setattr(tuning_mod, "run_control", fake)
    return asked


def test_a_grid_that_grows_runs_only_its_new_cells_and_keeps_an_unchanged_choice(
    monkeypatch, tmp_path
):
    from trajmbrl.modes import control as mode

    asked = _scripted(monkeypatch, best=2.0)
    reported: list[float] = []
    real = mode.run_control

    def spy(task, method, st, budget, seed, progress=True):  # type: ignore[no-untyped-def]
        reported.append(st.kappa)
        return real(task, method, st, budget, seed, progress=progress)

    monkeypatch.setattr(mode, "run_control", spy)

    def run_mode(*overrides: str) -> None:
        cfg = compose_cfg(f"paths.root={tmp_path}", *CONTROL, "mode=control", *overrides)
        MODES[cfg.mode.name](cfg)

    run_mode("control.method=model_cma_onestep")
    assert sorted(asked) == [(0.0, 8, 7), (0.0, 8, 8), (2.0, 8, 7), (2.0, 8, 8)]
    assert reported == [2.0]
    (run,) = tmp_path.rglob("runs/model_cma_onestep__*.csv")
    first = run.read_text()
    asked.clear()
    run_mode("control.method=model_cma_onestep", "control.tune.values=[0.0,1.0,2.0]")
    assert sorted(asked) == [(1.0, 8, 7), (1.0, 8, 8)]  # only the new cells ran
    assert reported == [2.0] and run.read_text() == first  # same choice: the run is current
    assert len(list(tmp_path.rglob("tuning/*.csv"))) == 1  # one study, grown
    # the width joins the grid: its cells run, the run follows the new choice
    asked.clear()
    run_mode("control.method=model_cma_onestep", "control.tune.hidden=[8,16]")
    assert sorted(asked) == [(0.0, 16, 7), (0.0, 16, 8), (2.0, 16, 7), (2.0, 16, 8)]
    assert reported == [2.0, 2.0] and len(list(tmp_path.rglob("runs/*.csv"))) == 1
    (aside,) = tmp_path.rglob("runs/superseded/*.csv")  # the earlier choice: kept, set aside
    assert aside.name == run.name and aside.read_text() == first
    # the report's tuning table: the grid's candidates, the chosen one (the largest kappa)
    t = mode.tuning_tables(
        sorted(tmp_path.rglob("tuning/*.csv")), Tuning(values=[0.0, 2.0], hidden=[8, 16])
    )
    assert len(t) == 4 and t["seeds"].eq(2).all()
    assert t[t.chosen][["kappa", "hidden", "edge"]].values.tolist() == [[2.0, 16, True]]
    # an untuned method's run does not depend on the tuning grid
    run_mode("control.method=random")
    (free,) = tmp_path.rglob("runs/random__*.csv")
    before = free.read_text()
    run_mode("control.method=random", "control.tune.values=[0.5]")
    assert free.read_text() == before and len(list(tmp_path.rglob("runs/random__*.csv"))) == 1
    # the report writes the tuning table beside the final one (the current choice's runs only)
    run_mode("control.report_only=true", "plot.formats=[png]", "control.tune.hidden=[8,16]")
    (table,) = tmp_path.rglob("tables/tuning.csv")
    assert pd.read_csv(table).equals(t.astype({"kappa": float}))
    from trajmbrl.reports.summary import _tuning_lines

    page = "\n".join(_tuning_lines(table))  # the page's block under the env's control table
    assert "2 kappa x 2 widths" in page and "| model_cma_onestep | de | 2 | 16 | 2 |" in page


def test_runs_and_studies_hashed_as_before_move_to_their_new_names_unrecomputed(
    monkeypatch, tmp_path
):
    from trajmbrl.artifacts.layout import Layout
    from trajmbrl.modes import control as mode
    from trajmbrl.modes.artifacts import layout, write_hashed_csv
    from trajmbrl.utils.atomic import config_hash

    cfg = compose_cfg(
        f"paths.root={tmp_path}", *CONTROL, "mode=control", "control.method=model_cma"
    )
    st = settings(cfg, "te")[0]
    files: Layout = layout(cfg)
    earlier = mode._tuning_content(cfg, st, earlier=True)
    study = pd.DataFrame(
        {"kappa": [0.0, 0.0, 2.0, 2.0], "seed": [7, 8] * 2, "true_score": [0.1, 0.2, 0.3, 0.4]}
    )
    write_hashed_csv(
        files.control_tuning("model_cma", "te", config_hash(earlier)[:12]),
        study,
        config_hash({**earlier, "tuning": "kappa"}),
    )
    run = mode._content(cfg, st, earlier=True)
    name = config_hash(mode._seedless(cfg, st, earlier=True))[:12]
    frame = pd.DataFrame(
        {
            "method": ["model_cma"],
            "model": ["te"],
            "true_score": [0.5],
            "episodes": [100],
            "predicted_score": [0.4],
            "wall_clock": [1.0],
        }
    )
    old_run = files.control_run("model_cma", "te", 0, name)
    write_hashed_csv(old_run, frame, config_hash({**run, "seed": 0}))
    asked = _scripted(monkeypatch, best=0.0)
    monkeypatch.setattr(mode, "run_control", lambda *a, **k: pytest.fail("recomputed"))
    MODES["control"](cfg)
    assert asked == [] and not old_run.exists()
    (moved,) = files.control_run_files()
    assert pd.read_csv(moved, comment="#").equals(frame)
    (grown,) = tmp_path.rglob("tuning/*.csv")
    assert pd.read_csv(grown, comment="#")["hidden"].tolist() == [8] * 4
    MODES["control"](cfg)  # current under the new names


def test_the_tuning_table_flags_a_choice_on_the_grids_edge():
    from trajmbrl.reports.control import tuning_table

    study = pd.DataFrame(
        {
            "kappa": [0.0, 1.0, 2.0, 4.0] * 2,
            "hidden": [64] * 4 + [128] * 4,
            "seed": [1] * 8,
            "true_score": [0.1, 0.5, 0.3, 0.9, 0.2, 0.6, 0.4, 0.0],
        }
    )
    t = tuning_table(study, [0.0, 1.0, 2.0], [64, 128])  # kappa 4 is outside this grid
    assert len(t) == 6 and t[t.chosen][["kappa", "hidden", "edge"]].values.tolist() == [
        [1.0, 128, False]
    ]
    t = tuning_table(study, [0.0, 1.0, 2.0, 4.0], [64])
    assert t[t.chosen][["kappa", "edge"]].values.tolist() == [[4.0, True]]  # the largest kappa
    t = tuning_table(study, [0.0, 1.0, 2.0], [64])
    assert t[t.chosen][["kappa", "edge"]].values.tolist() == [[1.0, False]]


def test_an_interrupted_study_resumes_from_its_last_cell(monkeypatch, tmp_path):
    asked = _scripted(monkeypatch, best=0.0)
    fake = tuning_mod.run_control

    def dies_on_the_third(*args):  # type: ignore[no-untyped-def]
        if len(asked) == 2:
            raise KeyboardInterrupt
        return fake(*args)

    monkeypatch.setattr(tuning_mod, "run_control", dies_on_the_third)
    cfg = compose_cfg(
        f"paths.root={tmp_path}", *CONTROL, "mode=control", "control.method=model_cma"
    )
    with pytest.raises(KeyboardInterrupt):
        MODES["control"](cfg)
    (study,) = tmp_path.rglob("tuning/*.csv")
    assert len(pd.read_csv(study, comment="#")) == 2  # both finished cells were kept
    monkeypatch.setattr(tuning_mod, "run_control", fake)
    MODES["control"](cfg)
    assert sorted(asked[2:]) == [(2.0, 8, 7), (2.0, 8, 8)]  # only the two cells left ran
