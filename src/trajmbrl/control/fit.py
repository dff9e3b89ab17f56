"""(Re)fit a dynamics model on the system episodes gathered so far, with the project's trainer."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from trajmbrl.data.pairs import one_step_samples, trajectory_pairs
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import MODEL_KEYS, DynamicsModel, ModelSpec
from trajmbrl.training.trainer import ModelTrainer, TrainConfig

#: the other family's key of the same shape (ensemble, Gaussian head)
COUNTERPART = {"d": "t", "de": "te", "p": "tp", "pe": "tpe", "t": "d", "te": "de", "tp": "p",
               "tpe": "pe"}


@dataclass(frozen=True)
class ModelRecipe:
    """A model key with its architecture and training settings (plain values)."""

    key: str
    hidden: int
    layers: int
    train: TrainConfig
    #: trajectory models: pairs sampled per fit (None = all)
    max_pairs: int | None = 20000
    ensemble_size: int | None = None

    @property
    def ensemble(self) -> bool:
        """More than one member (the key's default when ``ensemble_size`` is None)."""
        return (self.ensemble_size or MODEL_KEYS[self.key][2]) > 1

    @property
    def family(self) -> str:
        return MODEL_KEYS[self.key][0]

    def with_key(self, key: str) -> ModelRecipe:
        """The same recipe for another key (e.g. the one-step counterpart of ``te``)."""
        if key not in MODEL_KEYS:
            raise TrajmbrlError(f"unknown model key {key!r}; choose one of {sorted(MODEL_KEYS)}")
        size = self.ensemble_size if self.ensemble_size and MODEL_KEYS[key][2] > 1 else None
        return ModelRecipe(key, self.hidden, self.layers, self.train, self.max_pairs, size)

    def for_family(self, family: str) -> ModelRecipe:
        """This recipe if it is of ``family``, else its counterpart (``te`` <-> ``de``)."""
        return self if self.family == family else self.with_key(COUNTERPART[self.key])


def fit_model(recipe: ModelRecipe, data: TrajectoryData, seed: int) -> DynamicsModel:
    """Train a fresh model of ``recipe`` on every trajectory of ``data`` (seeded).

    One-step models use all transitions; trajectory models ``(s_i, h, theta) -> s_{i+h}`` pairs
    over the full length, at most ``recipe.max_pairs``.
    """
    if recipe.family == "one_step":
        x, y, _ = one_step_samples(data)
    else:
        x, y, _ = trajectory_pairs(data, t_range=data.horizon, keep_rate=None,
                                   max_pairs=recipe.max_pairs, seed=seed)
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    x, y = x[keep], y[keep]
    spec = ModelSpec.for_key(recipe.key, state_dim=data.state_dim, action_dim=data.action_dim,
                             param_dim=data.param_dim, ensemble_size=recipe.ensemble_size,
                             hidden=recipe.hidden, layers=recipe.layers)
    model = DynamicsModel(spec, seed=seed)
    ModelTrainer(model, replace(recipe.train, seed=seed), progress=False).fit(torch.as_tensor(x),
                                                          torch.as_tensor(y))
    model.eval()
    return model
