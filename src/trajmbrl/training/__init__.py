"""Batched ensemble training (Adam, early stopping per member, resumable state)."""

from trajmbrl.training.config import History, TrainConfig
from trajmbrl.training.trainer import ModelTrainer

__all__ = ["History", "ModelTrainer", "TrainConfig"]
