"""Trainer configuration and the per-epoch training history."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from trajmbrl.configs import BASE
from trajmbrl.errors import ArgumentError
from trajmbrl.training.precision import Precision
from trajmbrl.utils.schema_check import check_settings, setting

RESAMPLES = ("bootstrap", "kfold", "none")
SPLITS = ("trajectory", "sample")


@dataclass
class TrainConfig:
    """Training hyper-parameters, each declared once (type, range, doc; the CLI schema in
    modes/schema.py is composed from these fields, and its YAML defaults are in conf/)."""

    epochs: int = setting(
        BASE["epochs"], "upper bound; early stopping on validation (patience)", ge=1
    )
    batch_size: int = setting(BASE["batch_size"], "samples per gradient step", ge=1)
    lr: float = setting(BASE["lr"], "Adam learning rate", gt=0)
    weight_decay: float = setting(BASE["weight_decay"], "Adam weight decay", ge=0)
    patience: int | None = setting(
        5,
        "epochs without a relative validation improvement > min_rel_improvement before a "
        "member stops (None: no early stopping, the final weights are kept)",
        ge=1,
    )
    min_rel_improvement: float = setting(0.01, "relative improvement patience waits for", ge=0)
    val_fraction: float = setting(
        0.1,
        "share held out (seeded shuffle); 0: the training part doubles as validation set",
        ge=0,
        lt=1,
    )
    resample: Literal["bootstrap", "kfold", "none"] = setting(
        "bootstrap", "data of each ensemble member"
    )
    seed: int = 0
    elites: int | None = setting(None, "number of best members to record (None: all)", ge=1)
    split: Literal["trajectory", "sample"] = setting(
        "trajectory",
        "validation split and resampling draw whole trajectories (needs the per-sample "
        "trajectory ids passed to fit) or individual samples",
    )
    steps: int | None = setting(
        None,
        "a fixed budget of gradient steps (overrides epochs; the last epoch may be partial)",
        ge=1,
    )
    precision: Precision = setting(
        "fp32", "fp32 or bf16 matrix products (fp32 weights and storage; see .precision)"
    )

    def __post_init__(self) -> None:
        check_settings(self)
        if not math.isfinite(self.lr):
            raise ArgumentError(f"{{TrainConfig.lr}} must be > 0, got {self.lr!r}")

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
