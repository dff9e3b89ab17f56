"""Input checks at the door of the Python API: one-line TrajmbrlErrors naming the argument.

Every name ``trajmbrl`` exports (``trajmbrl.api``, and the storage, checkpoint and model
classes it re-exports) calls its checker first, so a wrong shape, a NaN/inf inside a valid
state, an empty array, a wrong type or a count out of range is refused with a message naming
the argument (``theta has shape (3, 24), expected (24, 3)``) before anything is computed or
reshaped. The rules are the CLI's: the schema ranges of the same settings, and finite data
(NaN is only allowed as padding beyond a trajectory's ``lengths``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.inputs import (
    COUNT_MAX,
    finite,
    integer,
    path_like,
    seed,
    shaped,
    type_name,
)

#: the ranges of the model and trainer settings ``train_model`` takes (as the CLI schema's):
#: name -> (lowest, lowest is allowed, highest or None, the value may be None)
SETTING_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "epochs": (1, True, None, False),
    "batch_size": (1, True, None, False),
    "hidden": (1, True, None, False),
    "layers": (1, True, None, False),
    "ensemble_size": (1, True, None, False),
    "lr": (0, False, None, False),
    "weight_decay": (0, True, None, False),
    "patience": (1, True, None, True),
    "val_fraction": (0, True, 1, False),
    "steps": (1, True, None, True),
    "elites": (1, True, None, True),
}
INT_SETTINGS = set(SETTING_RANGES) - {"lr", "weight_decay", "val_fraction"}
SAMPLING = ("num_traj", "t_range", "keep_rate", "max_pairs")


def setting(name: str, value: Any) -> None:
    """A model or trainer setting within its range (:data:`SETTING_RANGES`)."""
    if name not in SETTING_RANGES:
        return
    lo, closed, hi, none = SETTING_RANGES[name]
    if value is None and none:
        return
    if name in INT_SETTINGS:
        integer(name, value, lo=int(lo), none=none)
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TrajmbrlError(f"{name} must be a number, got {value!r}")
    below = value < lo if closed else value <= lo
    if below or not np.isfinite(value) or (hi is not None and value >= hi):
        rng = f"{'>=' if closed else '>'} {lo:g}" + (f" and < {hi:g}" if hi is not None else "")
        raise TrajmbrlError(f"{name} must be {rng}, got {value}")


def dataset(data: Any, name: str = "data") -> None:
    """A :class:`TrajectoryData`."""
    from trajmbrl.data.storage import TrajectoryData

    if not isinstance(data, TrajectoryData):
        raise TrajmbrlError(f"{name} must be a TrajectoryData, got {type_name(data)}")


def model(value: Any, name: str = "model") -> None:
    """A :class:`DynamicsModel`."""
    from trajmbrl.models.dynamics import DynamicsModel

    if not isinstance(value, DynamicsModel):
        raise TrajmbrlError(f"{name} must be a DynamicsModel, got {type_name(value)}")


def model_key(key: Any) -> None:
    """A model key that has a ``conf/models/<key>.yaml``."""
    from trajmbrl.configs import model_keys

    if not isinstance(key, str) or key not in model_keys():
        raise TrajmbrlError(f"key must be one of {', '.join(model_keys())}, got {key!r}")


# ---- one checker per public API function ----


def dataset_from_arrays(
    states: Any, actions: Any, params: Any, lengths: Any, num_test: Any
) -> None:
    """states (N, T+1, ds), actions (N, T, du), params (N, dp) or None, lengths (N,) in [1, T],
    finite on valid steps; ``num_test`` in [0, N]."""
    sizes: dict[str, int] = {}
    s = shaped("states", states, ("N", "T+1", "ds"), sizes)
    if sizes["T+1"] < 2:
        raise TrajmbrlError(f"states has shape {s.shape}: need T+1 >= 2 states per trajectory")
    sizes["T"] = sizes["T+1"] - 1
    a = shaped("actions", actions, ("N", "T", "du"), sizes)
    if params is not None:
        finite("params", shaped("params", params, ("N", "dp"), sizes, may_be_empty=("dp",)))
    n, t = sizes["N"], sizes["T"]
    steps = np.full(n, t)
    if lengths is not None:
        lens = shaped("lengths", lengths, ("N",), sizes)
        if not np.all(lens == np.round(lens)) or lens.min() < 1 or lens.max() > t:
            raise TrajmbrlError(f"lengths must be integers in [1, {t}] (T = {t})")
        steps = lens.astype(np.int64)
    finite("states", s, np.arange(t + 1)[None, :] <= steps[:, None])
    finite("actions", a, np.arange(t)[None, :] < steps[:, None])
    integer("num_test", num_test, lo=0, hi=n)


def training_samples(
    data: Any,
    key: Any,
    num_traj: Any,
    t_range: Any,
    keep_rate: Any,
    max_pairs: Any,
    seed_: Any,
) -> None:
    """A dataset, a model key, the sampling counts (>= 1 or None), keep_rate in (0, 1] or None."""
    dataset(data)
    model_key(key)
    integer("num_traj", num_traj, lo=1, none=True)
    integer("t_range", t_range, lo=1, none=True)
    integer("max_pairs", max_pairs, lo=1, none=True)
    if keep_rate is not None and (
        isinstance(keep_rate, bool)
        or not isinstance(keep_rate, int | float)
        or not 0 < keep_rate <= 1
    ):
        raise TrajmbrlError(f"keep_rate must be in (0, 1] or None, got {keep_rate!r}")
    seed(seed_)


def train_model(
    key: Any,
    x: Any,
    y: Any,
    state_dim: Any,
    action_dim: Any,
    param_dim: Any,
    seed_: Any,
    traj: Any,
    settings: Mapping[str, Any],
) -> None:
    """x (M, in) with in = ds + du (one-step) or ds + 1 + dp (trajectory), y (M, ds), both
    finite; traj (M,) or None; the dimensions, the seed and every setting in range."""
    from trajmbrl.configs import model_config

    model_key(key)
    integer("state_dim", state_dim, lo=1)
    integer("action_dim", action_dim, lo=0)
    integer("param_dim", param_dim, lo=0)
    seed(seed_)
    cfg = model_config(key)
    one_step = cfg["family"] == "one_step"
    raw = settings.get("unroll", cfg.get("unroll", 1))
    k = raw if one_step and isinstance(raw, int) and not isinstance(raw, bool) else 1
    width = state_dim + action_dim if one_step else state_dim + 1 + param_dim
    if k > 1:  # windows of k steps (data.pairs.unroll_windows)
        width = state_dim + k * action_dim + param_dim
    ys = k * state_dim
    if cfg["family"] == "sequence":  # windows of W steps (data.pairs.sequence_windows)
        width, ys = state_dim + param_dim, np.shape(y)[-1] if np.ndim(y) == 2 else state_dim
        if ys % state_dim:
            raise TrajmbrlError(f"y of a sequence key has W * ds columns, got {np.shape(y)}")
    sizes = {"in": width, "ds": ys}
    finite("x", shaped("x", x, ("M", "in"), sizes))
    finite("y", shaped("y", y, ("M", "ds"), sizes))
    if traj is not None:
        shaped("traj", traj, ("M",), sizes)
    for name, value in settings.items():
        setting(name, value)


def train_on_dataset(
    key: Any, data: Any, seed_: Any, sampling: Any, settings: Mapping[str, Any]
) -> None:
    """A dataset, a model key, ``sampling`` a dict of :data:`SAMPLING` keys, settings in range."""
    if sampling is not None:
        if not isinstance(sampling, Mapping):
            raise TrajmbrlError(f"sampling must be a dict or None, got {type_name(sampling)}")
        unknown = sorted(set(sampling) - set(SAMPLING))
        if unknown:
            raise TrajmbrlError(f"sampling has unknown key {unknown[0]!r}; known: {SAMPLING}")
    from trajmbrl.data.pairs import Sampling

    s = {f: getattr(Sampling(), f) for f in SAMPLING} | dict(sampling or {})
    n, t, keep, most = (s[f] for f in SAMPLING)
    training_samples(data, key, n, t, keep, most, seed_)
    for name, value in settings.items():
        setting(name, value)


def predict(model_: Any, s0: Any, horizons: Any, theta: Any) -> None:
    """A model, s0 (N, ds) and theta (N, dp) finite, horizons an int >= 1 or steps >= 1."""
    model(model_)
    spec = model_.spec
    sizes = {"ds": spec.state_dim, "dp": spec.param_dim}
    finite("s0", shaped("s0", s0, ("N", "ds"), sizes))
    finite("theta", shaped("theta", theta, ("N", "dp"), sizes, may_be_empty=("dp",)))
    if isinstance(horizons, int | np.integer) and not isinstance(horizons, bool):
        integer("horizons", horizons, lo=1)
        return
    hs = shaped("horizons", horizons, ("H",), {})
    if not np.all(hs == np.round(hs)) or hs.min() < 1 or hs.max() > COUNT_MAX:
        raise TrajmbrlError(f"horizons must be integer steps >= 1, got {hs.tolist()}")


def rollout(model_: Any, s0: Any, horizon: Any, actions: Any, params: Any) -> None:
    """A model, s0 (N, ds), horizon >= 1, actions (N, T >= horizon, du), params (N, dp)."""
    model(model_)
    spec = model_.spec
    sizes = {"ds": spec.state_dim, "du": spec.action_dim, "dp": spec.param_dim}
    finite("s0", shaped("s0", s0, ("N", "ds"), sizes))
    integer("horizon", horizon, lo=1)
    if actions is not None:
        a = shaped("actions", actions, ("N", "T", "du"), sizes)
        if a.shape[1] < horizon:
            raise TrajmbrlError(
                f"actions has {a.shape[1]} steps, fewer than horizon={horizon} "
                f"(shape {a.shape}, expected (N, T >= {horizon}, du))"
            )
        finite("actions", a[:, :horizon])
    if params is not None:
        finite("params", shaped("params", params, ("N", "dp"), sizes, may_be_empty=("dp",)))


def score(pred: Any, data: Any) -> None:
    """pred (N, H, ds) for ``data``'s N trajectories, 1 <= H <= T (NaN allowed: diverged)."""
    dataset(data)
    sizes = {"N": data.num, "ds": data.state_dim}
    p = shaped("pred", pred, ("N", "H", "ds"), sizes)
    if p.shape[1] > data.horizon:
        raise TrajmbrlError(
            f"pred has shape {p.shape}; the data has {data.num} "
            f"trajectories of {data.horizon} steps"
        )


def load_model(path: Any, device: Any) -> None:
    """A checkpoint path and a device name."""
    path_like("path", path)
    if not isinstance(device, str):
        raise TrajmbrlError(f"device must be a str such as 'cpu', got {device!r}")
