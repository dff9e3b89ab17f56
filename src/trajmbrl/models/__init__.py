"""Dynamics models (one-step and trajectory-based), ensembles, checkpoints and baselines."""

from trajmbrl.models.baselines import LinearModel, ZeroModel
from trajmbrl.models.checkpoint import load_checkpoint, save_checkpoint
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.models.ensemble import EnsembleLinear, EnsembleMLP
from trajmbrl.models.normalizer import Normalizer

__all__ = [
    "DynamicsModel",
    "EnsembleLinear",
    "EnsembleMLP",
    "LinearModel",
    "ModelSpec",
    "Normalizer",
    "ZeroModel",
    "load_checkpoint",
    "save_checkpoint",
]
