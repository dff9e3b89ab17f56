"""Model training: batched ensemble trainer with early stopping and resumable state."""

from trajmbrl.training.trainer import History, ModelTrainer, TrainConfig

__all__ = ["History", "ModelTrainer", "TrainConfig"]
