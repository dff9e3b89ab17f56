"""All eight model keys train and evaluate on cartpole through the modes (smoke scale)."""

import pandas as pd

KEYS = ["d", "de", "p", "pe", "t", "te", "tp", "tpe"]


def test_every_key_trains_and_evaluates(run_mode, tmp_path):
    run_mode("mode=collect")
    for key in KEYS:
        run_mode("mode=train", f"models={key}", "model.epochs=1", "model.hidden=16")
    run_mode("mode=eval", f"models=[{','.join(KEYS)}]")
    run_mode("mode=plot")
    run = tmp_path / "outputs/smoke/cartpole/toy_stable"
    frame = pd.concat(pd.read_csv(p, comment="#") for p in (run / "metrics").glob("*.csv"))
    assert set(frame["model"]) == set(KEYS)
    sources = frame.groupby("model")["action_source"].unique().map(set).to_dict()
    for key in KEYS:  # one eval run writes both protocols of every one-step key
        assert sources[key] == ({"direct"} if key.startswith("t") else {"logged", "controller"})
    with_uncertainty = set(frame.loc[frame["metric"] == "nll", "model"])
    assert with_uncertainty == {"te", "tp", "tpe"}  # one-step ones need ts1/tsinf sampling
    assert (run / "tables/uncertainty.csv").exists()
