"""Equal tuning: kappa is chosen on seeds that are never reported, for every model-based search."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.control import tuning as tuning_mod
from trajmbrl.control.tuning import Tuning, choose_kappa
from trajmbrl.errors import ArgumentError
from trajmbrl.modes import MODES

CONTROL = (
    "experiment=control",
    "models=[te]",
    "scale=toy",
    "control.report=false",
    "control.cma.popsize=4",
    "control.cma.iterations=2",
    "control.tune.values=[0.0,2.0]",
    "control.tune.seeds=[7,8]",
    "model.hidden=8",
    "model.epochs=1",
)


def test_choose_kappa_takes_the_best_mean_and_the_smaller_on_ties():
    frame = pd.DataFrame(
        {
            "kappa": [0.0, 0.0, 1.0, 1.0, 2.0, 2.0],
            "seed": [1, 2] * 3,
            "true_score": [0.5, 0.7, 0.8, 0.6, 0.7, 0.7],
        }
    )
    assert choose_kappa(frame) == 1.0  # means 0.6, 0.7, 0.7: the tie goes to the smaller
    assert choose_kappa(frame.assign(true_score=0.3)) == 0.0


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
