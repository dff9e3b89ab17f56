"""Equal-budget tuning of a model key with Optuna (seeded TPE), on validation trajectories only.

Hydra's Optuna sweeper needs optuna < 3 (this project pins optuna 5), so the search runs here,
in plain Python. The objective of a trial: train the key with the trial's settings on the *fit*
trajectories of the training split, predict the held-out *validation* trajectories of the same
training split from their s_0 and score the median over them of the mean nMSE over horizons
1..H (diverged = the error ceiling). The test split is never read (:func:`tune` only calls
``data.train()``). Every family gets the same number of trials (``trials``); the search space
is declared per family (``conf/tune/default.yaml``, ``space.<family>``; :func:`space_name`),
one entry per model setting: ``{low, high, log, int}`` or ``{choices: [...]}``. Trial 0 is the
key's own settings (those inside the space, :func:`own_settings`): when the space contains them
all, the chosen preset is never worse on the objective than the key untuned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from trajmbrl.configs import model_config
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import ArgumentError
from trajmbrl.evaluation.metrics import ERROR_CEILING, normalised_mse
from trajmbrl.utils.schema_check import check_settings, setting

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler

#: model settings a search space may tune (the rest of a key's meaning is fixed by the key)
TUNABLE = (
    "hidden",
    "layers",
    "lr",
    "weight_decay",
    "batch_size",
    "epochs",
    "unroll",  # k of the k-step loss (space ``multistep``)
    "unroll_discount",
    "window",  # training window of the sequence family
)


def space_name(model: Mapping[str, Any]) -> str:
    """The search space a key's settings tune in: its family, except ``multistep`` for one-step
    keys trained with a k-step loss (``unroll > 1``: k is their own knob; ``d``'s space has
    none, so tuning cannot turn ``d`` into ``dk``)."""
    family = str(model["family"])
    return "multistep" if family == "one_step" and int(model.get("unroll") or 1) > 1 else family


@dataclass
class TuneSettings:
    """The tuner's knobs (the CLI's ``tune.*``)."""

    trials: int = setting(20, "Optuna trials per model key (the same for every family)", ge=1)
    val_fraction: float = setting(
        0.2, "share of the training split's trajectories held out for the objective", gt=0, lt=1
    )
    seed: int = setting(0, "seed of the TPE sampler, the validation split and training", ge=0)
    protocol: Literal["logged", "controller"] = setting(
        "logged", "one-step keys: roll-out protocol of the objective (controller needs a sampler)"
    )

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class TuneResult:
    """The chosen settings, their validation score and every trial (one line per trial:
    ``number, value, state, params_<name>...``)."""

    best: dict[str, Any]
    best_value: float
    trials: pd.DataFrame


def validation_split(train: TrajectoryData, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Whole-trajectory split of the training split: (fit indices, validation indices)."""
    n = train.num
    if n < 2:
        raise ArgumentError(f"tuning needs >= 2 training trajectories, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    k = min(max(1, round(fraction * n)), n - 1)
    return np.sort(order[k:]), np.sort(order[:k])


def check_space(space: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A family's search space, checked: setting -> {low, high[, log, int]} or {choices}."""
    out = {}
    for name, spec in dict(space).items():
        if name not in TUNABLE:
            raise ArgumentError(f"{{tune.space}}: {name} is not tunable; tunable: {TUNABLE}")
        spec = dict(spec)
        if "choices" in spec:
            if not spec["choices"]:
                raise ArgumentError(f"{{tune.space}}: {name}.choices is empty")
        elif not {"low", "high"} <= set(spec) or not spec["low"] < spec["high"]:
            raise ArgumentError(f"{{tune.space}}: {name} needs low < high (or choices), got {spec}")
        out[name] = spec
    if not out:
        raise ArgumentError("{tune.space} is empty")
    return out


def _suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The trial's settings from the space."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if "choices" in spec:
            params[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif spec.get("int") or isinstance(spec["low"], int) and isinstance(spec["high"], int):
            params[name] = trial.suggest_int(
                name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log"))
            )
        else:
            params[name] = trial.suggest_float(
                name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
            )
    return params


def own_settings(space: dict[str, dict[str, Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The tuned names' values in ``settings`` (the key's own) that lie inside ``space``: the
    study's first trial (names outside, or a value outside the bounds, are left to TPE)."""
    start: dict[str, Any] = {}
    for name, spec in space.items():
        if name not in settings or settings[name] is None:
            continue
        value = settings[name]
        if "choices" in spec:
            if value in list(spec["choices"]):
                start[name] = value
        elif float(spec["low"]) <= float(value) <= float(spec["high"]):
            start[name] = value
    return start


def validation_score(
    model: Any,
    val: TrajectoryData,
    state_range: tuple[np.ndarray, np.ndarray],
    protocol: str,
    sampler: ControllerSampler | None,
) -> float:
    """Median over ``val`` trajectories of their mean nMSE over horizons 1..H (capped)."""
    from trajmbrl.evaluation.predict import predict

    h = val.horizon
    source: Any = protocol if model.spec.family == "one_step" else "logged"
    preds = predict(
        model,
        val.states[:, 0],
        h,
        theta=val.params,
        actions=val.actions,
        sampler=sampler,
        protocols=[source],
    )
    pred = next(iter(preds.values())).mean
    true = val.states[:, 1 : h + 1].copy()
    true[np.arange(1, h + 1)[None, :] > val.lengths[:, None]] = np.nan
    mse = normalised_mse(true, pred, *state_range)
    mse = np.where(np.isfinite(mse) | np.isnan(mse), mse, ERROR_CEILING)
    mse = np.minimum(mse, ERROR_CEILING)
    per_traj = np.nanmean(mse, axis=1)
    return float(np.median(np.where(np.isnan(per_traj), ERROR_CEILING, per_traj)))


def tune(
    key: str,
    data: TrajectoryData,
    space: Mapping[str, Any],
    settings: TuneSettings | None = None,
    *,
    sampler: ControllerSampler | None = None,
    sampling: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
) -> TuneResult:
    """Tune model ``key`` on ``data``'s training split with seeded TPE.

    :param space: the family's search space (:func:`check_space`).
    :param sampler: rebuilds controllers from theta (``protocol=controller``).
    :param sampling: training-sample settings (``keep_rate``, ``max_pairs``, ...).
    :param fixed: settings every trial trains with (e.g. the benchmark's ``steps``,
        ``patience``); a trial's own settings win.
    """
    import optuna

    from trajmbrl.api import train_on_dataset

    settings = settings or TuneSettings()
    family = str(model_config(key)["family"])
    space = check_space(space)
    if settings.protocol == "controller" and family == "one_step" and sampler is None:
        raise ArgumentError("{TuneSettings.protocol}=controller needs a controller sampler")
    train = data.train()  # the only split the tuner reads
    fit_idx, val_idx = validation_split(train, settings.val_fraction, settings.seed)
    fit, val = train.subset(fit_idx), train.subset(val_idx)
    lo, hi = data.meta.get("state_min"), data.meta.get("state_max")
    state_range = (
        (np.asarray(lo), np.asarray(hi))
        if lo is not None and hi is not None
        else fit.state_bounds()
    )

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, space)
        model, _ = train_on_dataset(
            key, fit, seed=settings.seed, sampling=sampling, **{**(fixed or {}), **params}
        )
        return validation_score(model, val, state_range, settings.protocol, sampler)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=settings.seed)
    )
    start = own_settings(space, {**model_config(key), **(fixed or {})})
    if start:  # trial 0: the key's own settings, so a study can only improve on them
        study.enqueue_trial(start)
    study.optimize(objective, n_trials=settings.trials)
    trials = study.trials_dataframe(attrs=("number", "value", "state", "params"))
    trials.insert(0, "key", key)
    return TuneResult(dict(study.best_params), float(study.best_value), trials)
