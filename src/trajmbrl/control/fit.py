"""(Re)fit a dynamics model on the system episodes gathered so far, with the project's trainer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from trajmbrl.configs import model_config, model_keys
from trajmbrl.data.pairs import Sampling, training_samples
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.training.fit import fit
from trajmbrl.training.trainer import TrainConfig


def key_like(key: str, *, family: str | None = None, probabilistic: bool | None = None) -> str:
    """The model key of ``family`` / ``probabilistic`` (None = as ``key``) that is an ensemble
    exactly when ``key`` is: ``key_like("te", family="one_step") == "de"``,
    ``key_like("te", family="one_step", probabilistic=True) == "pe"``."""
    base = model_config(key)
    want = {
        "family": family or base["family"],
        "probabilistic": base["probabilistic"] if probabilistic is None else probabilistic,
        "ensemble": base["ensemble_size"] > 1,
    }
    for k in model_keys():
        c = model_config(k)
        if (c["family"], c["probabilistic"], c["ensemble_size"] > 1) == tuple(want.values()):
            return k
    raise TrajmbrlError(f"no model key has {want}; see conf/models/")


@dataclass(frozen=True)
class ModelRecipe:
    """A model key's settings (``conf/models/<key>.yaml`` + overrides) and training config."""

    key: str
    settings: dict[str, Any]
    train: TrainConfig
    #: trajectory models: pairs sampled per fit (None = all)
    max_pairs: int | None = 20000

    @property
    def family(self) -> str:
        return str(self.settings["family"])


def fit_model(recipe: ModelRecipe, data: TrajectoryData, seed: int) -> DynamicsModel:
    """Train a fresh model of ``recipe`` on every trajectory of ``data`` (seeded), through the
    one sampling and fitting path (:func:`trajmbrl.data.pairs.training_samples`,
    :func:`trajmbrl.training.fit.fit`).

    One-step models use all transitions; trajectory models ``(s_i, h, theta) -> s_{i+h}`` pairs
    over the full length, at most ``recipe.max_pairs``. Samples of diverged episodes are
    dropped; the validation split and resampling draw single samples (``split=sample``: the
    episodes are short segments).
    """
    s = recipe.settings
    spec = ModelSpec.for_key(
        recipe.key,
        state_dim=data.state_dim,
        action_dim=data.action_dim,
        param_dim=data.param_dim,
        ensemble_size=s["ensemble_size"],
        hidden=s["hidden"],
        layers=s["layers"],
    )
    sampling = Sampling(keep_rate=None, max_pairs=recipe.max_pairs, drop_nonfinite=True)
    x, y, report = training_samples(data, spec.family, sampling, seed, unroll=spec.unroll)
    model, _ = fit(spec, x, y, replace(recipe.train, seed=seed, split="sample"), groups=report.traj)
    return model
