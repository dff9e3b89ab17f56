"""The Python API checks its inputs at the door: a one-line TrajmbrlError naming the argument.

A generated test calls every public API function with bad shapes, NaN, empty and wrong-type
input for each argument; a few named cases pin the messages the issue quotes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import trajmbrl
from trajmbrl.data.storage import ARRAYS
from trajmbrl.errors import TrajmbrlError

N, T, DS, DU, DP = 6, 5, 2, 1, 3


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "states": rng.normal(size=(N, T + 1, DS)),
        "actions": rng.normal(size=(N, T, DU)),
        "params": rng.normal(size=(N, DP)),
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    """A tiny dataset and a trained one-step (d) and trajectory (t) model, both also on disk."""
    a = _arrays()
    data = trajmbrl.dataset_from_arrays(a["states"], a["actions"], a["params"], num_test=2)
    small = {"epochs": 1, "hidden": 4, "layers": 1}
    d, _ = trajmbrl.train_on_dataset("d", data, **small)
    t, _ = trajmbrl.train_on_dataset("t", data, sampling={"keep_rate": None}, **small)
    x, y, _ = trajmbrl.training_samples(data, "d")
    disk = tmp_path_factory.mktemp("api")
    trajmbrl.save_dataset(data, disk / "data", {})
    trajmbrl.save_checkpoint(disk / "d.pt", d, meta={})
    return {**a, "data": data, "d": d, "t": t, "x": x, "y": y, "disk": disk}


#: public function -> the kind of each argument the generated test spoils
KINDS: dict[str, dict[str, str]] = {
    "dataset_from_arrays": {
        "states": "array",
        "actions": "array",
        "params": "array",
        "num_test": "count",
    },
    "training_samples": {"data": "object", "key": "key", "num_traj": "count", "seed": "count"},
    "train_model": {
        "key": "key",
        "x": "array",
        "y": "array",
        "state_dim": "count",
        "epochs": "count",
    },
    "train_on_dataset": {"key": "key", "data": "object", "seed": "count", "epochs": "count"},
    "predict": {"model": "object", "s0": "array", "horizons": "count", "theta": "array"},
    "rollout": {"model": "object", "s0": "array", "horizon": "count", "actions": "array"},
    "score": {"pred": "shape", "data": "object"},
    "load_model": {"path": "path"},
    "load_dataset": {"path": "path"},
    "save_dataset": {"data": "object", "path": "path", "manifest": "optional mapping"},
    "save_checkpoint": {"path": "path", "model": "object", "meta": "mapping"},
    "load_checkpoint": {"path": "path", "expect": "optional mapping"},
    "model_config": {"key": "key"},
    "TrajectoryData": {"states": "dataset array", "actions": "dataset array"},
    "ModelSpec": {"state_dim": "count", "action_dim": "count"},
    "DynamicsModel": {"spec": "object"},
    "benchmark": {"model_or_key": "key", "dataset": "object", "horizon": "count"},
}


def _calls(w: dict[str, Any]) -> dict[str, tuple[Callable[..., Any], dict[str, Any]]]:
    """Public function -> (the function, valid keyword arguments)."""
    s0 = w["states"][:, 0]
    return {
        "dataset_from_arrays": (
            trajmbrl.dataset_from_arrays,
            {"states": w["states"], "actions": w["actions"], "params": w["params"], "num_test": 2},
        ),
        "training_samples": (
            trajmbrl.training_samples,
            {"data": w["data"], "key": "d", "num_traj": 2, "seed": 0},
        ),
        "train_model": (
            trajmbrl.train_model,
            {"key": "d", "x": w["x"], "y": w["y"], "state_dim": DS, "action_dim": DU, "epochs": 1},
        ),
        "train_on_dataset": (
            trajmbrl.train_on_dataset,
            {"key": "d", "data": w["data"], "seed": 0, "epochs": 1},
        ),
        "predict": (
            trajmbrl.predict,
            {"model": w["t"], "s0": s0, "horizons": 3, "theta": w["params"]},
        ),
        "rollout": (
            trajmbrl.rollout,
            {"model": w["d"], "s0": s0, "horizon": 3, "actions": w["actions"]},
        ),
        "score": (trajmbrl.score, {"pred": w["states"][:, 1:4], "data": w["data"]}),
        "load_model": (trajmbrl.load_model, {"path": "missing.pt"}),
        "load_dataset": (trajmbrl.load_dataset, {"path": w["disk"] / "data"}),
        "save_dataset": (
            trajmbrl.save_dataset,
            {"data": w["data"], "path": w["disk"] / "new", "manifest": {}},
        ),
        "save_checkpoint": (
            trajmbrl.save_checkpoint,
            {"path": w["disk"] / "new.pt", "model": w["d"], "meta": {}},
        ),
        "load_checkpoint": (trajmbrl.load_checkpoint, {"path": w["disk"] / "d.pt", "expect": {}}),
        "model_config": (trajmbrl.model_config, {"key": "d"}),
        "TrajectoryData": (
            trajmbrl.TrajectoryData,
            {name: getattr(w["data"], name) for name in ARRAYS},
        ),
        "ModelSpec": (  # a spec, and the model built from it
            lambda **kw: trajmbrl.DynamicsModel(trajmbrl.ModelSpec(**kw)),
            {"key": "d", "family": "one_step", "state_dim": DS, "action_dim": DU, "param_dim": 0},
        ),
        "DynamicsModel": (trajmbrl.DynamicsModel, {"spec": w["d"].spec}),
        "benchmark": (
            trajmbrl.benchmark,
            {"model_or_key": w["d"], "dataset": w["data"], "horizon": 3},
        ),
    }


#: argument kind -> the faulty variants tried
VARIANTS = {
    "array": ("wrong type", "bad shape", "transposed", "empty", "NaN", "inf"),
    "shape": ("wrong type", "bad shape", "transposed", "empty"),
    "count": ("wrong type", "negative", "2**64", "bool", "float"),
    "key": ("wrong type", "unknown"),
    "object": ("wrong type", "None"),
    "path": ("number", "None", "empty"),
    "mapping": ("wrong type", "None"),
    "optional mapping": ("wrong type",),
    "dataset array": ("wrong type", "bad shape"),  # NaN padding and N = 0 are valid datasets
}


def _bad(name: str, value: Any) -> Any:
    """The variant ``name`` of a valid argument ``value``."""
    if name in ("NaN", "inf"):
        out = np.array(value, dtype=np.float64)
        out.flat[0] = np.nan if name == "NaN" else np.inf
        return out
    if name == "bad shape":
        return np.asarray(value)[..., None]
    if name == "transposed":
        return np.swapaxes(np.asarray(value), 0, -1)
    return {
        "wrong type": "abc",
        "empty": np.asarray(value)[:0] if isinstance(value, np.ndarray) else "",
        "negative": -1,
        "2**64": 2**64,
        "bool": True,
        "float": 1.5,
        "unknown": "no-such-key",
        "None": None,
        "number": 123,
    }[name]


CASES = [
    (fn, arg, variant)
    for fn, kinds in KINDS.items()
    for arg, kind in kinds.items()
    for variant in VARIANTS[kind]
]


def test_every_public_function_is_covered():
    # model_keys() takes no argument; Prediction and TrajmbrlError are results, not doors
    assert set(trajmbrl.__all__) == set(KINDS) | {"model_keys", "Prediction", "TrajmbrlError"}


@pytest.mark.parametrize(("fn", "arg", "variant"), CASES)
def test_bad_input_is_a_one_line_error(world, fn, arg, variant):
    func, valid = _calls(world)[fn]
    with pytest.raises(TrajmbrlError) as err:
        func(**{**valid, arg: _bad(variant, valid[arg])})
    msg = str(err.value)
    assert msg and "\n" not in msg, msg
    # the spoilt argument is named, or (a transposed array that is valid on its own) the one
    # it no longer agrees with
    named = [a for a in inspect.signature(func).parameters if a in msg]
    assert arg in msg or (variant == "transposed" and named), msg


def test_valid_calls_still_work(world):
    for func, valid in _calls(world).values():
        if func is not trajmbrl.load_model:
            func(**valid)


def test_transposed_theta_is_named_not_reshaped(world):
    theta = np.ones((DP, 24))
    s0 = np.zeros((24, DS))
    with pytest.raises(TrajmbrlError, match=r"^theta has shape \(3, 24\), expected \(24, 3\)$"):
        trajmbrl.predict(world["t"], s0, 3, theta)
    with pytest.raises(TrajmbrlError, match=r"^s0 has shape \(2, 24\), expected \(N, 2\)$"):
        trajmbrl.predict(world["t"], s0.T, 3, theta.T)


def test_num_test_out_of_range_and_epochs_zero(world):
    a = _arrays()
    with pytest.raises(TrajmbrlError, match=r"^num_test must be <= 6, got 30$"):
        trajmbrl.dataset_from_arrays(a["states"], a["actions"], num_test=30)
    with pytest.raises(TrajmbrlError, match=r"^num_test must be >= 0, got -1$"):
        trajmbrl.dataset_from_arrays(a["states"], a["actions"], num_test=-1)
    with pytest.raises(TrajmbrlError, match=r"^epochs must be >= 1, got 0$"):
        trajmbrl.train_model("d", world["x"], world["y"], state_dim=DS, action_dim=DU, epochs=0)


def test_nan_only_refused_inside_valid_steps():
    a = _arrays()
    states = a["states"].copy()
    states[0, T] = np.nan  # padding beyond lengths[0] = T - 1: allowed
    lengths = np.full(N, T)
    lengths[0] = T - 1
    data = trajmbrl.dataset_from_arrays(states, a["actions"], lengths=lengths)
    assert data.num == N
    states[1, 2, 1] = np.inf
    with pytest.raises(TrajmbrlError, match=r"states contains 1 NaN/inf.*\[1, 2, 1\]"):
        trajmbrl.dataset_from_arrays(states, a["actions"], lengths=lengths)
