"""Predictions for evaluation: the protocols an env supports, its controller sampler and the
predicted states."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.settings import build, device, positive

log = logging.getLogger("trajmbrl")


def eval_protocols(cfg: DictConfig) -> list[str]:
    """``eval.protocols`` this env supports: ``controller`` needs the env's controller."""
    from trajmbrl.evaluation.rollout import PROTOCOLS

    protocols = list(cfg.eval.protocols)
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise TrajmbrlError(
            f"eval.protocols must be a non-empty subset of {list(PROTOCOLS)}, got {protocols}"
        )
    if "controller" in protocols and "sampler" not in cfg.env:
        if protocols == ["controller"]:
            raise TrajmbrlError(
                f"eval.protocols=[controller] needs a controller; env "
                f"{cfg.env.name} (logged data) has none: use [logged]"
            )
        log.info(
            "%s has no controller (logged data): one-step models are rolled out with the "
            "logged actions only.",
            cfg.env.name,
        )
        protocols.remove("controller")
    return protocols


def sampler_for(cfg: DictConfig, protocols: list[str]) -> Any:
    """The env's controller sampler when a closed-loop protocol is among ``protocols``."""
    return build(cfg.env.sampler) if "controller" in protocols else None


def predict_states(
    model: Any, test: TrajectoryData, horizon: int, cfg: DictConfig
) -> dict[str, np.ndarray]:
    """Predicted states (N, H, ds) from each test trajectory's initial state (mean path) per
    protocol: ``direct`` for trajectory models, each of ``eval.protocols`` for one-step models;
    products in ``train.precision``."""
    from trajmbrl.evaluation.horizon import model_predictions
    from trajmbrl.training.precision import matmul_precision

    protocols = eval_protocols(cfg)
    with matmul_precision(str(cfg.train.precision), device(cfg)):
        preds = model_predictions(
            model,
            test,
            horizon,
            protocols=protocols,
            sampler=sampler_for(cfg, protocols),
            propagation=str(cfg.eval.propagation),
            particles=positive(cfg, "eval.particles", allow_none=False),
            seed=int(cfg.seed),
        )
    return {protocol: mean for protocol, (mean, _) in preds.items()}
