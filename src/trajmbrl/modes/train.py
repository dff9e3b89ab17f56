"""mode=train: build samples from the training split and fit one model key."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from trajmbrl.data.pairs import one_step_samples, select_training, trajectory_pairs
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.common import device, load_env_dataset, positive, provenance, to_dict
from trajmbrl.utils.atomic import atomic_write_text, config_hash

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Train ``cfg.model`` on ``paths.dataset``; write ``model.pt`` and ``history.csv``."""
    from trajmbrl.models.checkpoint import save_checkpoint
    from trajmbrl.training.trainer import ModelTrainer

    out = Path(cfg.paths.model_dir)
    data = load_env_dataset(cfg)
    fingerprint = config_hash(
        {"model": to_dict(cfg.model), "train": to_dict(cfg.train), "seed": cfg.seed,
         "dataset": data.meta.get("sha256")}
    )
    if _finished(out / "model.pt", fingerprint, overwrite=bool(cfg.overwrite)):
        log.info("Model %s already trained with this config; nothing to do.", out / "model.pt")
        return
    x, y, report, spec = build_training_set(cfg, data)
    log.info("%s", report.describe())
    dev = device(cfg)
    from trajmbrl.models.dynamics import DynamicsModel

    model = DynamicsModel(spec, seed=int(cfg.seed)).to(dev)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.overwrite:
        (out / "train_state.pt").unlink(missing_ok=True)  # start afresh, as asked
    if (out / "train_state.pt").exists():
        log.info("Resuming the interrupted training from %s", out / "train_state.pt")
    trainer = ModelTrainer(
        model,
        train_config(cfg),
        state_path=out / "train_state.pt",
        progress=cfg.progress,
    )
    history = trainer.fit(
        torch.as_tensor(x, device=dev), torch.as_tensor(y, device=dev)
    )
    frame = history.to_frame()
    atomic_write_text(out / "history.csv", frame.to_csv(index=False))
    meta: dict[str, Any] = {
        "config_hash": fingerprint,
        "dataset": str(cfg.paths.dataset),
        "dataset_sha256": data.meta.get("sha256"),
        "env": cfg.env.name,
        "seed": int(cfg.seed),
        "samples": report.to_dict(),
        **history.summary(),
        "config": to_dict(cfg),
        **provenance(),
    }
    save_checkpoint(out / "model.pt", model, meta=meta)
    (out / "train_state.pt").unlink(missing_ok=True)
    log.info(
        "Saved %s (best validation MSE per member: %s)",
        out / "model.pt",
        ", ".join(f"{s:.3g}" for s in history.best_score),
    )


def train_config(cfg: DictConfig) -> Any:
    """The trainer's plain config from ``model.*`` and ``train.*``."""
    from trajmbrl.training.trainer import TrainConfig

    return TrainConfig(
        epochs=positive(cfg, "model.epochs", allow_none=False),
        batch_size=positive(cfg, "model.batch_size", allow_none=False),
        lr=float(cfg.model.lr),
        weight_decay=float(cfg.model.weight_decay),
        patience=positive(cfg, "train.patience", allow_none=False),
        val_fraction=float(cfg.train.val_fraction),
        # a single model trains on all its data; resampling only diversifies ensemble members
        resample=str(cfg.train.resample) if int(cfg.model.ensemble_size) > 1 else "none",
        seed=int(cfg.seed),
        elites=positive(cfg, "train.elites"),
    )


def build_training_set(cfg: DictConfig, data: TrajectoryData) -> tuple[Any, ...]:
    """Samples and model spec for ``cfg.model`` from the dataset's training split.

    :returns: x (M, in) float32, y (M, out) float32, SampleReport, ModelSpec
    """
    from trajmbrl.models.dynamics import ModelSpec

    train = data.train()
    if train.num == 0:
        raise TrajmbrlError(f"Dataset {cfg.paths.dataset} has no training trajectories")
    selected, t_range = select_training(
        train,
        num_traj=positive(cfg, "train.num_traj"),
        t_range=positive(cfg, "train.t_range"),
        seed=int(cfg.seed),
    )
    family = str(cfg.model.family)
    if family == "one_step":
        x, y, report = one_step_samples(selected)
    elif family == "trajectory":
        keep = cfg.train.keep_rate
        x, y, report = trajectory_pairs(
            selected,
            t_range=t_range,
            keep_rate=None if keep is None else float(keep),
            max_pairs=positive(cfg, "train.max_pairs"),
            seed=int(cfg.seed),
        )
    else:
        raise TrajmbrlError(f"model.family must be one_step or trajectory, got {family!r}")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise TrajmbrlError(
            f"Training samples from {cfg.paths.dataset} contain NaN/inf (diverged trajectories?)"
        )
    spec = ModelSpec(
        key=str(cfg.model.key),
        family=family,  # type: ignore[arg-type]
        state_dim=data.state_dim,
        action_dim=data.action_dim,
        param_dim=data.param_dim,
        ensemble_size=positive(cfg, "model.ensemble_size", allow_none=False),
        probabilistic=bool(cfg.model.probabilistic),
        hidden=positive(cfg, "model.hidden", allow_none=False),
        layers=positive(cfg, "model.layers", allow_none=False),
    )
    return x, y, report, spec


def _finished(path: Path, fingerprint: str, *, overwrite: bool) -> bool:
    """True when ``path`` holds a model trained with the same config; error on a mismatch."""
    if not path.exists() or overwrite:
        return False
    from trajmbrl.models.checkpoint import load_checkpoint

    _, meta = load_checkpoint(path)
    if meta.get("config_hash") == fingerprint:
        return True
    raise TrajmbrlError(
        f"Model {path} exists but was trained with a different config or dataset.\n"
        "  Pass overwrite=true to retrain it, or experiment_name=<name> to train elsewhere."
    )
