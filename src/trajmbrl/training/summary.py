"""A trained model's summary per ensemble member, with the mean predictor beside it.

A validation MSE means little on its own (0.93 in normalised units can be good or useless): the
reference is the *mean predictor*, which predicts the training mean of the target for every
input. In the normalised units of :meth:`DynamicsModel.eval_score` the target normaliser is
fitted on the training part, so the mean predictor predicts 0 and its validation score is the
mean square of the normalised validation targets. A member whose best validation score is not
below :data:`NO_BETTER_RATIO` x that score learned nothing the mean does not know (e.g. it
early-stopped at the mean on a chattering system) and is flagged.

:func:`summarize` rebuilds the trainer's validation rows from the config's seed (the seeded
split of :func:`trajmbrl.training.splits.make_split`, which the trainer and the batched grid
draw first from a fresh generator), so it needs no state from the trainer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.training.config import History, TrainConfig
from trajmbrl.training.splits import make_split
from trajmbrl.utils.format import fmt_number

#: a member whose best validation score is >= this x the mean predictor's is flagged
NO_BETTER_RATIO = 0.98


@dataclass(frozen=True)
class MemberSummary:
    """One ensemble member: epochs it trained, its last train loss, its best validation score
    (the restored weights), and the mean predictor's validation score (same normalised units)."""

    member: int
    epochs: int
    best_epoch: int
    train_loss: float
    val_loss: float
    mean_val_loss: float

    @property
    def ratio(self) -> float:
        """``val_loss / mean_val_loss`` (< 1: better than predicting the mean; NaN when the
        validation targets are constant)."""
        return self.val_loss / self.mean_val_loss if self.mean_val_loss > 0 else math.nan

    @property
    def no_better(self) -> bool:
        """Whether the member is no better than the mean predictor (ratio >= 0.98)."""
        return bool(self.ratio >= NO_BETTER_RATIO)


@dataclass(frozen=True)
class TrainingSummary:
    """The summary of one trained model ``key``: a :class:`MemberSummary` per member.

    ``val_is_train``: no validation data could be held out (the scores are on training data).
    """

    key: str
    members: list[MemberSummary] = field(default_factory=list)
    val_is_train: bool = False

    @property
    def flagged(self) -> list[int]:
        """The members no better than the mean predictor."""
        return [m.member for m in self.members if m.no_better]

    @property
    def worst_ratio(self) -> float:
        """The largest validation MSE / mean predictor's among the flagged members (NaN: none)."""
        return max((self.members[m].ratio for m in self.flagged), default=math.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: key, val_is_train, no_better_ratio, flagged and one dict per member (NaN,
        e.g. the ratio of constant validation targets, as None)."""
        return {
            "key": self.key,
            "val_is_train": self.val_is_train,
            "no_better_ratio": NO_BETTER_RATIO,
            "flagged": self.flagged,
            "members": [
                {k: _json_number(v) for k, v in {**asdict(m), "ratio": m.ratio}.items()}
                for m in self.members
            ],
        }

    def table(self) -> str:
        """A printable table, one line per member (numbers in the one format of utils/format)."""
        head = ("member", "epochs", "best epoch", "train loss", "val MSE", "mean's val MSE", "")
        rows = [
            (
                str(m.member),
                str(m.epochs),
                str(m.best_epoch),
                fmt_number(m.train_loss, infinite_only=True),
                fmt_number(m.val_loss, infinite_only=True),
                # k-step windows and sequences have no mean predictor
                "n/a"
                if math.isnan(m.mean_val_loss)
                else fmt_number(m.mean_val_loss, infinite_only=True),
                "NO BETTER THAN THE MEAN" if m.no_better else "",
            )
            for m in self.members
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
        return "\n".join(lines)

    def warning(self) -> str | None:
        """One line when a member is no better than the mean predictor, else None."""
        bad = self.flagged
        if not bad:
            return None
        which = "every member" if len(bad) == len(self.members) else f"member(s) {bad}"
        worst = self.worst_ratio
        return (
            f"model {self.key}: {which} no better than predicting the training mean "
            f"(validation MSE up to {fmt_number(worst)} x the mean predictor's, flagged at "
            f">= {NO_BETTER_RATIO:g}): it learned nothing the mean does not know"
        )


def _json_number(value: Any) -> Any:
    """``value``, with a NaN float as None (strict JSON has no NaN)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def validation_rows(
    n: int, groups: Tensor | np.ndarray | None, config: TrainConfig, ensemble: int, device: Any
) -> Tensor:
    """The rows (N_val,) the trainer validated on: its seeded split of ``n`` samples
    (``groups`` (n,) trajectory ids or None), redrawn from ``config.seed``."""
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(int(config.seed))
    ids = None
    if groups is not None and config.split == "trajectory":
        ids = torch.as_tensor(groups, device=device)
    split = make_split(
        n,
        ids,
        ensemble=ensemble,
        val_fraction=config.val_fraction,
        resample=config.resample,
        gen=gen,
        device=device,
    )
    return split.val


def mean_predictor_score(model: DynamicsModel, y_val: Tensor) -> float:
    """Validation MSE (normalised units, as :meth:`DynamicsModel.eval_score`) of predicting the
    training mean of the target (the model's fitted target normaliser) for every input.

    :param y_val: (N_val, out) raw validation targets.
    """
    with torch.no_grad():
        z = model.out_norm.normalize(y_val.to(model.out_norm.mean.dtype)).to(torch.float64)
    return float(z.square().mean()) if z.numel() else math.nan


def summarize(
    model: DynamicsModel,
    history: History,
    y: Tensor | np.ndarray,
    config: TrainConfig,
    *,
    groups: Tensor | np.ndarray | None = None,
) -> TrainingSummary:
    """The :class:`TrainingSummary` of ``model`` trained by :func:`~.fit.fit` (or the grid)
    with ``config`` on targets ``y`` (N, out) raw (``groups`` (N,) as passed to the fit).
    Targets that are not the model's one-row outputs (k-step windows) get no mean predictor
    (NaN, never flagged)."""
    device = model.device
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32) if not isinstance(y, Tensor) else y)
    yt = yt.to(device)
    norm = getattr(model, "out_norm", None)
    if norm is None or yt.ndim != 2 or yt.shape[1] != norm.dim:
        mean_score = math.nan  # targets of another shape (k-step windows): no mean predictor
    else:
        val = validation_rows(yt.shape[0], groups, config, model.ensemble_size, device)
        mean_score = mean_predictor_score(model, yt[val])
    members = []
    for m in range(model.ensemble_size):
        rows = [r for r in history.rows if r["member"] == m]
        members.append(
            MemberSummary(
                member=m,
                epochs=len(rows),
                best_epoch=int(history.best_epoch[m]),
                train_loss=float(rows[-1]["train_loss"]) if rows else math.nan,
                val_loss=float(history.best_score[m]),
                mean_val_loss=mean_score,
            )
        )
    return TrainingSummary(model.spec.key, members, bool(history.val_is_train))
