"""Training a sequence model (keys ``sq``, ``sqe``) on whole windows.

Each sample is a window of W steps of one training trajectory
(:func:`trajmbrl.data.pairs.sequence_windows`: x = [s_i, theta], y = [s_{i+1}..s_{i+W}]); the GRU
emits the W steps in one pass and the loss is the MSE of the normalised residuals
``(s_t - s_i) / sqrt(t)`` over the window. :class:`SequenceTrainer` is
:class:`~trajmbrl.training.trainer.ModelTrainer` with this objective: the same split by whole
trajectory, per-member resampling, members batched in one module, early stopping on the
validation windows, resumable state and history.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.training.config import TrainConfig
from trajmbrl.training.trainer import ModelTrainer, chunked_loss_score

# windows per member scored at once in validation
_CHUNK_ROWS = 512


class SequenceTrainer(ModelTrainer):
    """Trains a sequence :class:`DynamicsModel` on windows of ``window`` steps (W <= the spec's
    ``window`` when the trajectories are shorter)."""

    def __init__(
        self,
        model: DynamicsModel,
        config: TrainConfig,
        *,
        window: int,
        state_path: Path | None = None,
        progress: bool | None = None,
        state_every: float = 30.0,
    ) -> None:
        if model.spec.family != "sequence":
            raise ValueError(f"SequenceTrainer trains sequence models, got {model.spec.family}")
        super().__init__(
            model, config, state_path=state_path, progress=progress, state_every=state_every
        )
        self.window = int(window)

    def _widths(self) -> tuple[int, int]:
        return self.model.in_dim, self.window * self.model.out_dim

    def _fit_normalizers(self, x: Tensor, y: Tensor) -> None:
        self.model.fit_sequence_normalizers(x, y)

    def _loss(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) MSE of the normalised residuals over windows x (A, B, in), y (A, B, W ds)."""
        model = self.model
        out = model.sequence_forward(x, self.window, members)
        target = model.out_norm.normalize(model.sequence_targets(x, y))
        return (out - target).square().mean((1, 2, 3))

    def _score(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) the training loss of each member on validation windows x (N, in), y (N, W ds)."""
        return chunked_loss_score(self.model, self._loss, x, y, members, _CHUNK_ROWS)
