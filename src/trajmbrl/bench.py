"""``trajmbrl.benchmark``: the benchmark's leaderboard for one model on one or more datasets.

The same tidy table ``mode=leaderboard`` writes (``tables/leaderboard.csv``,
:func:`trajmbrl.reports.benchmark.leaderboard`): the model (trained here per seed when given as
a key, on each dataset's training split) and the baselines ``zero``, ``hmean``, ``lin``, ``lint``
(fitted on the training split) scored on the test split; one-step models with the logged actions
and, given a ``controller``, with it in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import normalised_mse, tidy_errors
from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.reports.benchmark import PAPER_VARIANT, BenchmarkSettings, leaderboard

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler
    from trajmbrl.evaluation.rollout import ActionSource

#: the baselines of the benchmark (``oracle`` needs a simulator: the CLI only)
BASELINES = ("zero", "hmean", "lin", "lint")


def benchmark(
    model_or_key: DynamicsModel | str,
    dataset: TrajectoryData | Sequence[TrajectoryData],
    *,
    seeds: Sequence[int] = (0,),
    controller: ControllerSampler | None = None,
    horizon: int | None = None,
    system: str = "dataset",
    statistics: BenchmarkSettings | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """The leaderboard of ``model_or_key`` against the baselines, per horizon band.

    :param model_or_key: a trained model, or a key (``conf/models/<key>.yaml``) trained here with
        every seed of ``seeds`` on each dataset's training split (``settings``: as
        :func:`trajmbrl.train_on_dataset`, e.g. ``epochs=5, hidden=32``).
    :param dataset: one dataset, or several independently collected ones (the bootstrap's top
        level); each needs a test split.
    :param controller: rebuilds each test trajectory's controller from theta: one-step models
        and ``lin`` are then also rolled out with it in the loop.
    :param horizon: steps to predict (None: the test trajectories' length).
    :returns: the tidy leaderboard (one line per band and row; see docs/benchmark.md).
    """
    datasets = _check(model_or_key, dataset, seeds, horizon, settings)
    frames = []
    for i, data in enumerate(datasets):
        test = data.test()
        if test.num == 0:
            raise TrajmbrlError(f"benchmark(): dataset {i} has no test trajectories")
        h = int(horizon or test.horizon)
        protocols = ["logged"] + (["controller"] if controller is not None else [])
        for seed, model in _models(model_or_key, data, seeds, settings):
            for source, pred in _predict(model, test, h, protocols, controller).items():
                frames.append(_tidy(data, test, pred, model.spec.key, source, seed, i))
        from trajmbrl.evaluation.horizon import ROLLOUT_BASELINES, baseline_predictions

        for key in BASELINES:
            preds = baseline_predictions(
                key,
                data.train(),
                test,
                h,
                protocols=protocols if key in ROLLOUT_BASELINES else ("logged",),
                sampler=controller,
            )
            for source, (pred, _) in preds.items():
                frames.append(_tidy(data, test, pred, key, source, 0, i))
    frame = pd.concat(frames, ignore_index=True)
    return leaderboard(frame[frame["metric"] == "nmse"], system, settings=statistics).board


def _check(
    model_or_key: Any, dataset: Any, seeds: Any, horizon: Any, settings: dict[str, Any]
) -> list[TrajectoryData]:
    """The arguments of :func:`benchmark`, checked (one-line errors naming them)."""
    from trajmbrl.configs import model_keys
    from trajmbrl.utils.limits import SEED_MAX

    if not isinstance(model_or_key, DynamicsModel) and (
        not isinstance(model_or_key, str) or model_or_key not in model_keys()
    ):
        raise TrajmbrlError(
            f"model_or_key must be a DynamicsModel or one of {', '.join(model_keys())}, "
            f"got {model_or_key!r}"
        )
    if isinstance(model_or_key, DynamicsModel) and settings:
        raise TrajmbrlError(f"training settings {sorted(settings)} need a key as model_or_key")
    seq = isinstance(dataset, (list, tuple))
    datasets = list(dataset) if seq else [dataset]
    if not datasets or not all(isinstance(d, TrajectoryData) for d in datasets):
        raise TrajmbrlError(
            f"dataset must be a TrajectoryData or a list of them, got {type(dataset).__name__}"
        )
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= SEED_MAX  # noqa: E731
    if isinstance(seeds, (str, bytes)) or not all(ok(s) for s in seeds) or not len(seeds):
        raise TrajmbrlError(f"seeds must be a non-empty list of ints in [0, {SEED_MAX}]")
    if horizon is not None:
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise TrajmbrlError(f"horizon must be an int >= 1 or None, got {horizon!r}")
        longest = min(d.horizon for d in datasets)
        if horizon > longest:
            raise TrajmbrlError(f"horizon must be <= {longest} (the trajectories), got {horizon}")
    return datasets


def _models(
    model_or_key: DynamicsModel | str,
    data: TrajectoryData,
    seeds: Sequence[int],
    settings: dict[str, Any],
) -> list[tuple[int, DynamicsModel]]:
    """(seed, model) pairs: the given model (seed 0), or the key trained per seed."""
    if isinstance(model_or_key, DynamicsModel):
        return [(0, model_or_key)]
    from trajmbrl.api import train_on_dataset

    return [
        (int(s), train_on_dataset(str(model_or_key), data, seed=int(s), **dict(settings))[0])
        for s in seeds
    ]


def _predict(
    model: DynamicsModel,
    test: TrajectoryData,
    horizon: int,
    protocols: list[str],
    controller: ControllerSampler | None,
) -> dict[str, np.ndarray]:
    """(N, H, ds) predictions per action source (``direct`` for trajectory models)."""
    from trajmbrl.evaluation.predict import predict

    preds = predict(
        model,
        test.states[:, 0],
        horizon,
        theta=test.params,
        actions=test.actions,
        sampler=controller,
        protocols=cast("list[ActionSource]", protocols),
    )
    return {source: f.mean for source, f in preds.items()}


def _tidy(
    data: TrajectoryData,
    test: TrajectoryData,
    pred: np.ndarray,
    key: str,
    source: str,
    seed: int,
    dataset: int,
) -> pd.DataFrame:
    """The tidy nMSE rows of one prediction (the CLI's metrics CSV columns + ``dataset``)."""
    h = pred.shape[1]
    true = test.states[:, 1 : h + 1].copy()
    true[np.arange(1, h + 1)[None, :] > test.lengths[:, None]] = np.nan
    lo, hi = data.meta.get("state_min"), data.meta.get("state_max")
    if lo is None or hi is None:
        lo, hi = data.train().state_bounds()
    mse = normalised_mse(true, pred, np.asarray(lo), np.asarray(hi))
    return tidy_errors(
        mse,
        dataset=dataset,
        model=key,
        variant=PAPER_VARIANT,
        seed=seed,
        action_source=source,
    )
