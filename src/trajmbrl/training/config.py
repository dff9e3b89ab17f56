"""Trainer configuration and the per-epoch training history."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from trajmbrl.errors import TrajmbrlError
from trajmbrl.training.precision import PRECISIONS

RESAMPLES = ("bootstrap", "kfold", "none")
SPLITS = ("trajectory", "sample")

#: the CLI key of each TrainConfig field, for error messages
CONFIG_KEYS = {
    "epochs": "model.epochs",
    "batch_size": "model.batch_size",
    "lr": "model.lr",
    "weight_decay": "model.weight_decay",
    "patience": "train.patience",
    "val_fraction": "train.val_fraction",
    "resample": "train.resample",
    "elites": "train.elites",
    "min_rel_improvement": "train.min_rel_improvement",
    "split": "train.split",
    "steps": "train.steps",
    "precision": "train.precision",
}


@dataclass
class TrainConfig:
    """Training hyper-parameters (CLI keys in :data:`CONFIG_KEYS`).

    ``patience``: epochs without a relative validation improvement > ``min_rel_improvement``
    before a member stops (None: no early stopping, the final weights are kept).
    ``val_fraction``: share held out (seeded shuffle); 0 means the training part doubles as
    validation set. ``split``: ``trajectory`` holds out and resamples whole trajectories (needs
    the per-sample trajectory ids passed to ``fit``), ``sample`` individual samples.
    ``steps``: a fixed budget of gradient steps (overrides ``epochs``; the last epoch may be
    partial). ``elites``: number of best members to record (None = all). ``precision``: ``fp32``
    or ``bf16`` matrix products (fp32 weights and storage; see :mod:`.precision`).
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 5
    min_rel_improvement: float = 0.01
    val_fraction: float = 0.1
    resample: Literal["bootstrap", "kfold", "none"] = "bootstrap"
    seed: int = 0
    elites: int | None = None
    split: Literal["trajectory", "sample"] = "trajectory"
    steps: int | None = None
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs >= 0, ">= 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("patience", self.patience is None or self.patience >= 1, ">= 1 or null"),
            ("min_rel_improvement", self.min_rel_improvement >= 0, ">= 0"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)"),
            ("resample", self.resample in RESAMPLES, f"one of {RESAMPLES}"),
            ("elites", self.elites is None or self.elites >= 1, ">= 1 or null"),
            ("split", self.split in SPLITS, f"one of {SPLITS}"),
            ("steps", self.steps is None or self.steps >= 1, ">= 1 or null"),
            ("precision", self.precision in PRECISIONS, f"one of {PRECISIONS}"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise TrajmbrlError(
                    f"{CONFIG_KEYS.get(name, name)} must be {want}, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class History:
    """Per-epoch record. ``rows``: dicts (epoch, member, train_loss, val_score), epochs 1-based.

    Stopped members get no rows after their last epoch. ``best_epoch``/``best_score`` per member
    refer to the restored weights; ``stopped_epoch`` is the last epoch run; ``steps`` the
    gradient steps taken; ``elite_members`` are member indices, best first (all if no elites);
    ``val_is_train``: no validation data could be held out, the scores are on the training data.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: list[int] = field(default_factory=list)
    best_score: list[float] = field(default_factory=list)
    stopped_epoch: int = 0
    elite_members: list[int] = field(default_factory=list)
    steps: int = 0
    val_is_train: bool = False

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame with columns epoch, member, train_loss, val_score, val_is_train."""
        frame = pd.DataFrame(self.rows, columns=["epoch", "member", "train_loss", "val_score"])
        return frame.assign(val_is_train=self.val_is_train)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary for checkpoint meta."""
        return {
            "best_epoch": list(self.best_epoch),
            "best_score": list(self.best_score),
            "stopped_epoch": self.stopped_epoch,
            "elite_members": list(self.elite_members),
            "steps": self.steps,
        }
