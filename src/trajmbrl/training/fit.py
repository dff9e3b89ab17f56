"""The one fitting path: samples from :func:`trajmbrl.data.pairs.training_samples`, then a
fitted model of any key.

- :func:`fit`: a fresh model of a spec trained on samples ``x, y`` (one
  :class:`~trajmbrl.training.trainer.ModelTrainer`; the weights are seeded by the config's seed):
  what ``mode=train``, the Python API, control and 5.5's direct network use;
- :func:`fit_many`: many such fits as the members of batched modules (the 5.4 grid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.training.config import History, TrainConfig

if TYPE_CHECKING:
    from trajmbrl.training.multistep import ControllerSampler


def fit(
    spec: ModelSpec,
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    config: TrainConfig,
    *,
    groups: np.ndarray | Tensor | None = None,
    device: torch.device | str = "cpu",
    state_path: Path | None = None,
    progress: bool | None = False,
    on_epoch: Callable[[int, History], None] | None = None,
    sampler: ControllerSampler | None = None,
) -> tuple[DynamicsModel, History]:
    """A fresh model of ``spec`` (weights seeded by ``config.seed``) trained on x (M, in),
    y (M, out); ``groups`` (M,): each sample's trajectory (None: every sample its own).

    A sequence spec trains on windows of W = y's columns / ds steps
    (:class:`~.sequence.SequenceTrainer`); a one-step spec with ``unroll`` > 1 trains on
    windows (``spec.sample_widths()``) with the multi-step loss
    (:class:`~.multistep.MultiStepTrainer`; ``sampler`` rebuilds controllers from theta for
    ``unroll_actions=controller``).
    ``state_path`` makes the training resumable; ``on_epoch(epoch, history)`` runs per epoch.
    :returns: the trained model (eval mode) and its history.
    """
    from trajmbrl.training.multistep import MultiStepTrainer
    from trajmbrl.training.trainer import ModelTrainer

    if spec.family == "sequence":  # the windows' W (capped at the trajectories' length)
        spec = replace(spec, window=np.shape(y)[1] // spec.state_dim)
    model = DynamicsModel(spec, seed=int(config.seed)).to(device)
    trainer: ModelTrainer
    if spec.family == "sequence":
        from trajmbrl.training.sequence import SequenceTrainer

        trainer = SequenceTrainer(
            model, config, window=spec.window, state_path=state_path, progress=progress
        )
    elif spec.family == "one_step" and spec.unroll > 1:
        trainer = MultiStepTrainer(
            model, config, sampler=sampler, state_path=state_path, progress=progress
        )
    else:
        trainer = ModelTrainer(model, config, state_path=state_path, progress=progress)
    as_t = lambda a: torch.as_tensor(  # noqa: E731
        a if isinstance(a, Tensor) else np.asarray(a, dtype=np.float32), device=device
    )
    history = trainer.fit(
        as_t(x),
        as_t(y),
        groups=None if groups is None else torch.as_tensor(groups, device=device),
        on_epoch=on_epoch,
    )
    return model.eval(), history


def fit_many(
    spec: ModelSpec,
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    configs: list[TrainConfig],
    *,
    device: torch.device | str = "cpu",
    chunk_members: int = 50,
    on_chunk: Callable[[list[int], list[tuple[DynamicsModel, History]]], None] | None = None,
    snapshots: Sequence[int] = (),
    on_snapshot: Callable[..., None] | None = None,
) -> list[tuple[DynamicsModel, History]]:
    """Many :func:`fit` of one ``spec`` (fixed budgets) as the members of batched modules, each
    on its own samples (x (M, in), y (M, out), groups (M,) or None) and config; see
    :func:`.grid.train_cells` (also for the budget ``snapshots``)."""
    from trajmbrl.training.grid import Cell, train_cells

    cells = [
        Cell(
            torch.as_tensor(x),
            torch.as_tensor(y),
            None if groups is None else torch.as_tensor(groups),
            config,
        )
        for (x, y, groups), config in zip(samples, configs, strict=True)
    ]
    return train_cells(
        spec,
        cells,
        device=device,
        chunk_members=chunk_members,
        on_chunk=on_chunk,
        snapshots=snapshots,
        on_snapshot=on_snapshot,
    )
