"""One way to name models: `models=t`, `models=[d,t]`, `-m models=d,t`; the YAMLs define keys."""

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import compose_cfg
from trajmbrl.cli import main, removed_key
from trajmbrl.configs import model_config, model_keys, paper_keys, resolve_model
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models import ModelSpec
from trajmbrl.modes.settings import model_keys as selected
from trajmbrl.modes.settings import model_settings, models_override


def test_a_key_or_a_list_selects_models_in_order():
    assert selected(compose_cfg("models=te")) == ["te"]
    assert selected(compose_cfg("models=[t,d]")) == ["t", "d"]
    # the paper's experiments keep the paper's keys (the later families are not in them)
    assert selected(compose_cfg("experiment=sec52", "mode=eval")) == paper_keys()
    assert models_override(["t"]) == "models=t" and models_override(["d", "t"]) == "models=[d,t]"


def test_a_sweep_over_models_is_one_job_per_key():
    sweep = OverridesParser.create().parse_overrides(["mode=train", "models=d,t"])
    jobs = [job for batch in BasicSweeper.split_arguments(sweep, None) for job in batch]
    assert [selected(compose_cfg(*job)) for job in jobs] == [["d"], ["t"]]


def test_model_overrides_apply_to_every_selected_key():
    cfg = compose_cfg("models=[d,te]", "model.hidden=16", "models.te.ensemble_size=3")
    d, te = model_settings(cfg, "d"), model_settings(cfg, "te")
    assert d["hidden"] == te["hidden"] == 16
    assert (d["ensemble_size"], te["ensemble_size"]) == (1, 3)
    assert d["family"] == "one_step" and te["family"] == "trajectory"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.family=one_step", "model.family=one_step contradicts models=t"),
        ("models.t.probabilistic=true", "model.probabilistic=True contradicts models=t"),
        ("model.ensemble_size=5", "pick the key that means it: models=de,dke,pe,sqe,te,tpe,tre"),
    ],
)
def test_overrides_that_contradict_the_key_are_rejected(override, named):
    with pytest.raises(TrajmbrlError, match=named) as info:
        model_settings(compose_cfg("models=t", override), "t")
    assert "\n" not in str(info.value)


def test_the_yaml_is_the_only_definition_of_a_key():
    for key in model_keys():
        cfg = model_config(key)
        spec = ModelSpec.for_key(key, state_dim=2, action_dim=1, param_dim=3)
        assert (spec.family, spec.probabilistic, spec.ensemble_size, spec.hidden) == (
            cfg["family"],
            cfg["probabilistic"],
            cfg["ensemble_size"],
            cfg["hidden"],
        )
    with pytest.raises(TrajmbrlError, match="family=trajectory contradicts key=d"):
        ModelSpec.for_key("d", state_dim=2, action_dim=1, param_dim=0, family="trajectory")
    with pytest.raises(TrajmbrlError, match="not a model setting"):
        resolve_model("d", model_config("d"), {"width": 3})
    with pytest.raises(TrajmbrlError, match="unknown model key 'zz'"):
        model_config("zz")


def test_no_model_selected_is_one_clear_error():
    with pytest.raises(TrajmbrlError, match=r"models= selects no model"):
        selected(compose_cfg("models=[]"))


def test_eval_models_is_gone_with_a_pointer_to_models(monkeypatch, capsys):
    assert removed_key(["mode=eval", "models=t"]) is None
    monkeypatch.setattr("sys.argv", ["trajmbrl", "mode=eval", "eval.models=[d,t]"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("trajmbrl: error: eval.models was removed: use models=")
