"""The Python API (plain Python, no Hydra): datasets, training, checkpoints, prediction, scores.

Shapes: N trajectories, T steps, H horizons, E ensemble members, ds / du / dp the state, action
and controller-parameter (theta) sizes. Everything here is re-exported by ``trajmbrl``; see
``docs/api.md`` for worked examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trajmbrl import api_checks as check
from trajmbrl.configs import LATER, model_config, resolve_model
from trajmbrl.data.pairs import SampleReport, Sampling
from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import normalised_mse
from trajmbrl.models.checkpoint import load_checkpoint
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.training.trainer import History, TrainConfig


def dataset_from_arrays(
    states: np.ndarray,
    actions: np.ndarray,
    params: np.ndarray | None = None,
    *,
    lengths: np.ndarray | None = None,
    num_test: int = 0,
) -> TrajectoryData:
    """Wrap trajectories you already have as a dataset (the last ``num_test`` form the test split).

    :param states: (N, T+1, ds), index 0 the initial state; :param actions: (N, T, du), applied
        at ``states[:, t]``; :param params: (N, dp) controller parameters theta (None: dp = 0);
    :param lengths: (N,) valid steps (None: all T). The train split's state min/max become the
        metric's normaliser (``meta["state_min"]``, ``meta["state_max"]``).
    """
    check.dataset_from_arrays(states, actions, params, lengths, num_test)
    states = np.asarray(states, dtype=np.float64)
    n, t = states.shape[0], states.shape[1] - 1
    split = np.full(n, TRAIN, dtype=np.int8)
    split[n - num_test :] = TEST if num_test else TRAIN
    data = TrajectoryData(
        states=states,
        actions=np.asarray(actions, dtype=np.float64),
        params=np.zeros((n, 0)) if params is None else np.asarray(params, dtype=np.float64),
        rewards=np.zeros((n, t)),
        lengths=np.full(n, t, dtype=np.int64) if lengths is None else np.asarray(lengths),
        seeds=np.full(n, -1, dtype=np.int64),
        split=split,
    )
    lo, hi = (data.train() if num_test < n else data).state_bounds()
    data.meta = {"state_min": lo.tolist(), "state_max": hi.tolist()}
    return data


def training_samples(
    data: TrajectoryData,
    key: str,
    *,
    num_traj: int | None = None,
    t_range: int | None = None,
    keep_rate: float | None = Sampling().keep_rate,
    max_pairs: int | None = Sampling().max_pairs,
    seed: int = 0,
    unroll: int | None = None,
    window: int | None = None,
) -> tuple[np.ndarray, np.ndarray, SampleReport]:
    """Training samples for model ``key`` from the dataset's training split.

    One-step keys: x = [s_t, a_t] (M, ds + du), y = s_{t+1} - s_t; with ``unroll`` = k > 1
    (None: the key's own, k = 5 for ``dk``) every window of k steps, x = [s_i, a_i..a_{i+k-1},
    theta] (M, ds + k du + dp), y = [s_{i+1}..s_{i+k}] (M, k ds). Sequence keys: every window
    of W = ``window`` steps (None: the key's, 50; at most the longest trajectory), x = [s_i,
    theta] (M, ds + dp), y = [s_{i+1}..s_{i+W}] (M, W ds). Trajectory keys:
    x = [s_i, h, theta] (M, ds + 1 + dp), y = s_{i+h}, a seeded share ``keep_rate`` of all pairs
    capped at ``max_pairs`` (the CLI's defaults). ``num_traj`` / ``t_range``: a seeded subset of
    trajectories cut to their first steps (paper 5.4).

    :returns: x, y (float32) and a report of what was drawn.
    """
    check.training_samples(data, key, num_traj, t_range, keep_rate, max_pairs, seed)
    from trajmbrl.data.pairs import training_samples as samples

    sampling = Sampling(num_traj, t_range, keep_rate, max_pairs)
    settings = model_config(key)
    k = int(settings.get("unroll", 1) if unroll is None else unroll)
    w = int(settings.get("window", LATER["window"]) if window is None else window)
    return samples(data, str(settings["family"]), sampling, seed, unroll=k, window=w)


def trainer_config(settings: dict[str, Any], *, seed: int = 0, **train: Any) -> TrainConfig:
    """The trainer's config: ``epochs``, ``batch_size``, ``lr``, ``weight_decay`` from the model
    ``settings``, the rest (patience, val_fraction, resample, split, steps, precision, elites) from
    ``train``."""
    from trajmbrl.training.trainer import TrainConfig

    if int(settings["ensemble_size"]) == 1:
        train["resample"] = "none"  # resampling only diversifies ensemble members
    return TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=float(settings["lr"]),
        weight_decay=float(settings["weight_decay"]),
        seed=seed,
        **train,
    )


def train_model(
    key: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    state_dim: int,
    action_dim: int = 0,
    param_dim: int = 0,
    seed: int = 0,
    device: str = "cpu",
    state_path: Path | None = None,
    progress: bool | None = False,
    traj: np.ndarray | None = None,
    **settings: Any,
) -> tuple[DynamicsModel, History]:
    """Train model ``key`` (``conf/models/<key>.yaml``) on samples ``x`` (M, in), ``y`` (M, ds).

    ``traj`` (M,): the trajectory of every sample (``SampleReport.traj``), so the validation
    split and ensemble resampling draw whole trajectories; None: every sample on its own.
    ``settings``: model settings (``epochs``, ``hidden``, ``lr``, ...) and trainer settings
    (``patience``, ``val_fraction``, ``resample``, ``split``, ``steps``, ``precision``,
    ``elites``); ``state_path`` makes an
    interrupted training resumable.

    :returns: the trained model (eval mode) and its per-epoch history.
    """
    check.train_model(key, x, y, state_dim, action_dim, param_dim, seed, traj, settings)
    from trajmbrl.training.fit import fit
    from trajmbrl.training.trainer import TrainConfig

    names = {f.name for f in fields(TrainConfig)} - {"seed", *model_config(key)}
    train = {k: settings.pop(k) for k in list(settings) if k in names}
    merged = resolve_model(key, model_config(key), settings)
    spec = ModelSpec.for_key(
        key, state_dim=state_dim, action_dim=action_dim, param_dim=param_dim, **settings
    )
    return fit(
        spec,
        x,
        y,
        trainer_config(merged, seed=seed, **train),
        groups=None if traj is None else np.asarray(traj),
        device=device,
        state_path=state_path,
        progress=progress,
    )


def train_on_dataset(
    key: str,
    data: TrajectoryData,
    *,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    **settings: Any,
) -> tuple[DynamicsModel, History]:
    """:func:`training_samples` (``sampling``: num_traj, t_range, keep_rate, max_pairs) then
    :func:`train_model` with the dataset's dimensions."""
    check.train_on_dataset(key, data, seed, sampling, settings)
    x, y, report = training_samples(
        data,
        key,
        seed=seed,
        unroll=settings.get("unroll"),
        window=settings.get("window"),
        **(sampling or {}),
    )
    return train_model(
        key,
        x,
        y,
        state_dim=data.state_dim,
        action_dim=data.action_dim,
        param_dim=data.param_dim,
        seed=seed,
        traj=report.traj,
        **settings,
    )


def load_model(path: str | Path, *, device: str = "cpu") -> DynamicsModel:
    """A checkpoint written by training (CLI ``model.pt`` or :func:`save_checkpoint`)."""
    check.load_model(path, device)
    model, _ = load_checkpoint(Path(path), map_location=device)
    return model


@dataclass
class Prediction:
    """A trajectory model's prediction at every (trajectory, horizon).

    ``mean`` (N, H, ds) the member average; ``members`` (E, N, H, ds); ``spread`` (N, H, ds) the
    standard deviation across members (0 for a single model); ``variance`` (N, H, ds) the
    Gaussian mixture's variance (member noise + spread^2) for probabilistic keys, else None.
    """

    mean: np.ndarray
    members: np.ndarray
    spread: np.ndarray
    variance: np.ndarray | None


def predict(
    model: DynamicsModel, s0: np.ndarray, horizons: int | Sequence[int], theta: np.ndarray
) -> Prediction:
    """Trajectory models: ``f(s_0, h, theta)`` for every horizon in one batched query; sequence
    models: s_1..s_max(h) in one pass of the GRU, kept at the given horizons.

    :param s0: (N, ds) initial states; :param horizons: H (meaning 1..H) or the steps ahead;
    :param theta: (N, dp) controller parameters.
    """
    check.predict(model, s0, horizons, theta)
    if model.spec.family == "one_step":
        raise TrajmbrlError(
            f"predict() is for trajectory models; {model.spec.key!r} is one-step: use rollout()"
        )
    from trajmbrl.evaluation.predict import predict as predict_states

    s0 = np.asarray(s0).reshape(-1, model.spec.state_dim)
    theta = np.asarray(theta).reshape(s0.shape[0], model.spec.param_dim)
    forecast = predict_states(model, s0, horizons, theta=theta)["direct"]
    members = forecast.samples
    spread = members.std(axis=0)
    variance = None
    if forecast.variances is not None:
        variance = forecast.variances.mean(axis=0) + spread**2
    return Prediction(members.mean(axis=0), members, spread, variance)


def rollout(
    model: DynamicsModel,
    s0: np.ndarray,
    horizon: int,
    *,
    actions: np.ndarray | None = None,
    controller: ControllerSampler | None = None,
    params: np.ndarray | None = None,
) -> np.ndarray:
    """One-step models: recursive roll-out ``s_{t+1} = s_t + f(s_t, a_t)`` for ``horizon`` steps.

    Either replay ``actions`` (N, T >= H, du) (the paper's protocol), or put a ``controller``
    in the loop: a sampler that rebuilds each trajectory's controller from ``params`` (N, dp)
    and acts on the *predicted* states. :returns: (N, H, ds); diverged rows turn non-finite.
    """
    check.rollout(model, s0, horizon, actions, params)
    from trajmbrl.evaluation.predict import predict as predict_states

    if model.spec.family != "one_step":
        raise TrajmbrlError(
            f"rollout() is for one-step models; {model.spec.key!r} is a "
            "trajectory model: use predict()"
        )
    if (actions is None) == (controller is None):
        raise TrajmbrlError("rollout() needs exactly one of actions= or controller=")
    s0 = np.asarray(s0, dtype=np.float64).reshape(-1, model.spec.state_dim)
    if controller is None:
        preds = predict_states(model, s0, horizon, actions=np.asarray(actions))
        return preds["logged"].mean
    if params is None:
        raise TrajmbrlError("rollout(controller=...) needs params= (N, dp), theta per row")
    preds = predict_states(
        model,
        s0,
        horizon,
        theta=np.asarray(params),
        sampler=controller,
        protocols=("controller",),
    )
    return preds["controller"].mean


def score(pred: np.ndarray, data: TrajectoryData) -> np.ndarray:
    """The paper's metric: normalised MSE of ``pred`` (N, H, ds) against ``data``'s states
    1..H, in units of its train-split state range. :returns: (N, H), NaN past a trajectory's end.
    """
    check.score(pred, data)
    pred = np.asarray(pred, dtype=np.float64)
    h = pred.shape[1]
    if h > data.horizon or pred.shape[0] != data.num:
        raise TrajmbrlError(
            f"pred has shape {pred.shape}; the data has {data.num} "
            f"trajectories of {data.horizon} steps"
        )
    true = data.states[:, 1 : h + 1].copy()
    true[np.arange(1, h + 1)[None, :] > data.lengths[:, None]] = np.nan
    lo, hi = data.meta.get("state_min"), data.meta.get("state_max")
    if lo is None or hi is None:
        lo, hi = data.state_bounds()
    return normalised_mse(true, pred, np.asarray(lo), np.asarray(hi))
