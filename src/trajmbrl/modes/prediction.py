"""Predictions for evaluation: the protocols an env supports, its controller sampler and the
predicted states of every eval task (:func:`forecasts`, the one call of
:func:`trajmbrl.evaluation.predict.predict`, with the :class:`PredictSettings` read from the
``eval.*`` and ``train.precision`` keys)."""

from __future__ import annotations

import dataclasses
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
    """The env knows its controller: a simulated env's sampler, or the controller declared when
    the logs were imported (recorded in the dataset's manifest)."""
    if "sampler" in cfg.env:
        return True
    return logged_controller(cfg) is not None


def _manifest(cfg: DictConfig) -> dict[str, Any]:
    """The dataset's manifest (``{}`` when there is none yet)."""
    import json
    from pathlib import Path

    path = Path(str(cfg.paths.dataset)).with_suffix(".json")
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def logged_controller(cfg: DictConfig) -> dict[str, Any] | None:
    """The controller declaration of imported logs: the manifest's (provenance: it was checked
    against the logged actions at import), None when none was declared. A different
    ``logs.controller`` on the command line is refused (import the logs again)."""
    if cfg.get("logs") is None or "importer" not in cfg.env:
        return None
    recorded = _manifest(cfg).get("controller")
    stored = None if recorded is None else recorded.get("declaration")
    given = to_dict(cfg.env.importer.get("controller"))
    if is_declared(given) and stored is not None and given != stored:
        raise TrajmbrlError(
            f"logs.controller differs from the one the dataset {cfg.paths.dataset} was imported "
            f"with ({(recorded or {}).get('controller')}); import it again with "
            "overwrite=true, or drop the logs.controller keys (the recorded one is used)"
        )
    if stored is None and is_declared(given) and _manifest(cfg):
        raise TrajmbrlError(
            f"the dataset {cfg.paths.dataset} was imported without a controller; import it "
            "again with logs.controller.* and overwrite=true"
        )
    return stored if is_declared(stored) else None


def env_sampler(cfg: DictConfig) -> Any:
    """The env's controller sampler (:func:`has_controller` must hold): ``env.sampler``, or
    the sampler declared for the logs (their manifest's declaration and column names)."""
    if "sampler" in cfg.env:
        return build(cfg.env.sampler)
    meta = _manifest(cfg)
    return declared_sampler(
        logged_controller(cfg),
        param_names=list(meta["param_names"]),
        state_names=list(meta["state_names"]),
        action_dim=len(meta["action_names"]),
    )


def task_reward(cfg: DictConfig, train: TrajectoryData | None = None) -> Any:
    """The per-state reward of section 5.5 and control: a simulated system's own, or the one
    declared for ``envs=logs`` (``logs.reward_fn``, ``fitted`` by default when ``logs.reward``
    names a column) and ``envs=gym`` (``env.reward``); ``fitted`` is fitted on ``train``."""
    from trajmbrl.evaluation.returns import declared_reward, reward_for

    name = str(cfg.env.name)
    if name == "logs":
        column = _manifest(cfg).get("columns", {}).get("reward") or cfg.logs.reward
        kind = cfg.logs.reward_fn or ("fitted" if column else None)
        if kind is None:
            raise TrajmbrlError(
                "envs=logs has no reward: name a reward column (logs.reward=<column>) or "
                "declare one (logs.reward_fn=quadratic logs.reward_weights={q: 1.0}, or "
                "logs.reward_fn=pkg.module:fn)"
            )
        names = list(_manifest(cfg).get("state_names") or cfg.logs.state)
        weights = to_dict(cfg.logs.reward_weights)
    elif name == "gym":
        kind, weights = str(cfg.env.reward), to_dict(cfg.env.reward_weights)
        names = _gym_state_names(cfg)
    else:
        return reward_for(name)
    reward = declared_reward(str(kind), state_names=names, weights=weights, train=train)
    if hasattr(reward, "r2"):
        log.info("Reward fitted to the recorded rewards (train split): R^2 = %.3f", reward.r2)
    return reward


def reward_fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The declared reward of an own system for a result's fingerprint ({} elsewhere)."""
    if str(cfg.env.name) == "logs":
        return {"reward": [cfg.logs.reward_fn, to_dict(cfg.logs.reward_weights)]}
    if str(cfg.env.name) == "gym":
        return {"reward": [str(cfg.env.reward), to_dict(cfg.env.reward_weights)]}
    return {}


def _gym_state_names(cfg: DictConfig) -> list[str]:
    from trajmbrl.envs.spec import find_system

    spec = find_system("gym")
    return [] if spec is None else list(spec.state_names)


def register_gym_system(cfg: DictConfig) -> None:
    """Build and register the SystemSpec of ``envs=gym env.id=<id>`` (envs/gym.py): the
    declared controller (``env.sampler``), its theta box and, with a state reward
    (``env.reward`` quadratic or a function), a control task."""
    from trajmbrl.envs.gym import gym_system
    from trajmbrl.envs.spec import register_system

    indices = to_dict(cfg.env.state_indices)
    kind = str(cfg.env.reward)

    def state_reward(states: np.ndarray) -> np.ndarray:
        raise TrajmbrlError(
            f"env.reward={kind} is fitted to the recorded rewards of a dataset; use it from "
            "eval=reward, or declare a state reward (env.reward=quadratic, or pkg.module:fn)"
        )

    spec = gym_system(
        str(cfg.env.id),
        kwargs=dict(to_dict(cfg.env.kwargs) or {}),
        state_indices=None if indices is None else tuple(indices),
        horizon=int(cfg.env.horizon),
        controller=lambda: build(cfg.env.sampler),
        theta_box=lambda sampler: sampler.box,
        return_reward=state_reward,
    )
    if kind != "fitted":  # a state reward: 5.5 and mode=control use it directly
        from trajmbrl.evaluation.returns import declared_reward

        weights = to_dict(cfg.env.reward_weights)
        reward = declared_reward(kind, state_names=list(spec.state_names), weights=weights)
        spec = dataclasses.replace(
            spec,
            return_reward=reward,
            control_reward=reward,
            controller=lambda: build(cfg.env.sampler),
            theta_box=lambda sampler: sampler.box,
        )
    register_system(spec, replace=True)


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
