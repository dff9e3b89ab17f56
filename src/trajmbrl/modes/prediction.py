"""Predictions for evaluation: the protocols an env supports, its controller sampler and the
predicted states of every eval task (:func:`forecasts`, the one call of
:func:`trajmbrl.evaluation.predict.predict`, with the :class:`PredictSettings` read from the
``eval.*`` and ``train.precision`` keys)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from trajmbrl.controllers.declared import declared_sampler, is_declared
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.settings import build, to_dict, typed

if TYPE_CHECKING:
    from trajmbrl.evaluation.predict import Forecast, PredictSettings

log = logging.getLogger("trajmbrl")


def prediction_settings(cfg: DictConfig, **given: Any) -> PredictSettings:
    """:class:`PredictSettings` from ``eval.*`` and ``train.precision`` (``given`` wins); it
    checks them and names its fields in errors (the CLI shows the keys)."""
    from trajmbrl.evaluation.predict import PredictSettings

    return typed(PredictSettings, cfg.eval, precision=str(cfg.train.precision), **given)


def has_controller(cfg: DictConfig) -> bool:
    """The env knows its controller: a simulated env's sampler, or a declared
    ``logs.controller``."""
    if "sampler" in cfg.env:
        return True
    logs = cfg.get("logs")
    return logs is not None and is_declared(to_dict(logs.get("controller")))


def env_sampler(cfg: DictConfig) -> Any:
    """The env's controller sampler (:func:`has_controller` must hold): ``env.sampler``, or
    the sampler of the ``logs.controller`` declaration over the log's columns."""
    if "sampler" in cfg.env:
        return build(cfg.env.sampler)
    return declared_sampler(
        to_dict(cfg.logs.controller),
        param_names=list(cfg.logs.theta),
        state_names=list(cfg.logs.state),
        action_dim=len(cfg.logs.action),
    )


def eval_protocols(cfg: DictConfig) -> list[str]:
    """``eval.protocols`` this env supports: ``controller`` needs the env's controller."""
    protocols: list[str] = list(prediction_settings(cfg).protocols)
    if "controller" in protocols and not has_controller(cfg):
        if protocols == ["controller"]:
            raise TrajmbrlError(
                f"eval.protocols=[controller] needs a controller; env "
                f"{cfg.env.name} (logged data) has none: declare it (logs.controller.family=..., "
                "docs/own-robot.md) or use [logged]"
            )
        log.info(
            "%s has no controller (logged data): one-step models are rolled out with the "
            "logged actions only (declare logs.controller for the closed loop).",
            cfg.env.name,
        )
        protocols.remove("controller")
    return protocols


def protocols_fingerprint(cfg: DictConfig, protocols: list[str]) -> dict[str, list[str]]:
    """What a result's fingerprint records of the one-step ``protocols`` it rolled out: nothing
    when they are every protocol the env supports (the default: results from before the
    protocols were hashed keep their hashes), else ``{"protocols": protocols}``."""
    every = ["logged", "controller"] if has_controller(cfg) else ["logged"]
    return {} if protocols == every else {"protocols": protocols}


def sampler_for(cfg: DictConfig, protocols: list[str]) -> Any:
    """The env's controller sampler when a closed-loop protocol is among ``protocols``."""
    return env_sampler(cfg) if "controller" in protocols else None


def forecasts(
    model: Any,
    test: TrajectoryData,
    horizon: int,
    cfg: DictConfig,
    protocols: list[str] | None = None,
) -> dict[str, Forecast]:
    """The one prediction of every eval task: predicted states from each test trajectory's
    initial state with ``eval.propagation`` / ``eval.particles`` and ``train.precision``.

    :param protocols: the one-step protocols to roll out (default: :func:`eval_protocols`).
    :returns: action source -> :class:`Forecast` (K, N, H, ds): ``direct`` for trajectory
        models, ``<protocol>`` or ``<protocol>-<propagation>`` (sampled) for one-step models.
    """
    from trajmbrl.evaluation.predict import predict

    protocols = eval_protocols(cfg) if protocols is None else protocols
    knobs = prediction_settings(cfg, protocols=protocols)
    propagation = knobs.propagation
    preds = predict(
        model,
        test.states[:, 0],
        horizon,
        theta=test.params,
        actions=test.actions,
        sampler=sampler_for(cfg, protocols),
        protocols=knobs.protocols,
        propagation=propagation,
        particles=knobs.particles,
        precision=knobs.precision,
        seed=int(cfg.seed),
    )
    suffix = "" if propagation == "mean" or model.spec.family != "one_step" else f"-{propagation}"
    return {f"{source}{suffix}": forecast for source, forecast in preds.items()}


def predict_states(
    model: Any, test: TrajectoryData, horizon: int, cfg: DictConfig
) -> dict[str, np.ndarray]:
    """Predicted states (N, H, ds) per action source: the mean of :func:`forecasts`."""
    return {source: f.mean for source, f in forecasts(model, test, horizon, cfg).items()}
