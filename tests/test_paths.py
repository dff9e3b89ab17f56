"""One prediction path and one fitting path: every consumer goes through them, 5.5 included."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trajmbrl
from toy import toy_dataset
from trajmbrl.data.pairs import Sampling, training_samples
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.predict import Forecast, predict
from trajmbrl.training.fit import fit
from trajmbrl.training.trainer import TrainConfig

SRC = Path(trajmbrl.__file__).parent
#: calls that query or train a learned model, and the one module allowed to make each
ONE_HOME = {
    "predict_members": {"evaluation/predict.py", "evaluation/model_env.py", "models/dynamics.py"},
    "trajectory_inputs": {"evaluation/predict.py", "models/dynamics.py"},
    "ModelEnv": {"evaluation/predict.py"},
    "ModelTrainer": {"training/fit.py"},
    "train_cells": {"training/fit.py"},
    # the samples' builders, called by training_samples; ``lin``'s least squares reads them all
    "one_step_samples": {"data/pairs.py", "evaluation/horizon.py"},
    "trajectory_pairs": {"data/pairs.py"},
}


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_models_are_queried_and_trained_in_one_place_each():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for name in _calls(path) & set(ONE_HOME):
            assert rel in ONE_HOME[name], (
                f"{rel} calls {name}: use predict() / training_samples + fit"
            )


def test_forecast_moments_of_members_and_of_one_sample():
    samples = np.arange(24.0).reshape(2, 3, 2, 2)
    mean, var = Forecast(samples).moments()
    np.testing.assert_array_equal(mean, samples.mean(0))
    np.testing.assert_array_equal(var, samples.var(0))
    one = Forecast(samples[:1])  # no copy, no variance
    assert one.moments()[1] is None and np.shares_memory(one.mean, samples)
    noisy = Forecast(samples, np.ones_like(samples)).moments()[1]
    np.testing.assert_array_equal(noisy, 1.0 + samples.var(0))


def test_the_api_and_control_get_the_eval_prediction():
    data = toy_dataset(n=8, horizon=6)
    model, _ = trajmbrl.train_on_dataset("te", data, epochs=2, hidden=8)
    s0, theta = data.states[:, 0], data.params
    members = predict(model, s0, 6, theta=theta)["direct"].samples
    api = trajmbrl.predict(model, s0, 6, theta)
    np.testing.assert_array_equal(api.members, members)
    np.testing.assert_array_equal(api.mean, members.mean(0))
    with pytest.raises(TrajmbrlError, match="theta"):
        predict(model, s0, 6)
    d, _ = trajmbrl.train_on_dataset("d", data, epochs=2, hidden=8)
    logged = predict(d, s0, 5, actions=data.actions)["logged"].mean
    np.testing.assert_array_equal(trajmbrl.rollout(d, s0, 5, actions=data.actions), logged)
    with pytest.raises(TrajmbrlError, match="int"):
        predict(d, s0, [1, 2], actions=data.actions)


def test_fitting_path_drops_or_refuses_diverged_samples():
    data = toy_dataset(n=6, horizon=5, test=0)
    data.states[2, 3] = np.nan  # a diverged episode
    with pytest.raises(TrajmbrlError, match="NaN"):
        training_samples(data, "one_step", Sampling(), seed=0)
    x, y, report = training_samples(data, "one_step", Sampling(drop_nonfinite=True), seed=0)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert x.shape[0] == 6 * 5 - 2 and report.traj is not None and len(report.traj) == len(x)
    assert (report.traj == 2).sum() == 3  # the two transitions touching the NaN state are gone
    spec = trajmbrl.ModelSpec.for_key("d", state_dim=2, action_dim=1, param_dim=2, hidden=8)
    cfg = TrainConfig(epochs=1, seed=4, resample="none")
    model, history = fit(spec, x, y, cfg, groups=report.traj)
    again, _ = fit(spec, x, y, cfg, groups=report.traj)
    assert report.kept == 28 and report.candidates == 30 and history.stopped_epoch == 1
    for a, b in zip(model.parameters(), again.parameters()):
        assert bool((a == b).all())  # seeded by the config's seed


def _returns(root: Path) -> pd.DataFrame:
    path = root / "outputs/smoke/cartpole/toy_stable/reward/returns.csv"
    return pd.read_csv(path, skiprows=1)


def test_reward_honours_protocols_propagation_and_precision(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=p")
    base = ("mode=eval", "eval.task=reward", "models=[p]", "overwrite=true", "plot.formats=[png]")
    run_mode(*base, "eval.protocols=[logged]")
    logged = _returns(tmp_path)
    assert set(logged["method"]) == {"p (logged)", "gp", "nn"}
    run_mode(*base, "eval.protocols=[controller]", "eval.propagation=ts1", "eval.particles=2")
    assert set(_returns(tmp_path)["method"]) == {"p (closed loop, ts1)", "gp", "nn"}
    run_mode(*base, "eval.protocols=[logged]", "train.precision=bf16")
    bf16 = _returns(tmp_path).set_index(["method", "traj"])["predicted_return"]
    fp32 = logged.set_index(["method", "traj"])["predicted_return"]
    assert not np.array_equal(bf16.loc["p (logged)"], fp32.loc["p (logged)"])
    np.testing.assert_allclose(bf16.loc["p (logged)"], fp32.loc["p (logged)"], rtol=0.1)
    np.testing.assert_array_equal(bf16.loc["gp"], fp32.loc["gp"])  # no model products
