"""Direct return regressors for section 5.5: ``(s_0, theta) -> R`` by a GP or a small network.

Fitted on the TRAIN split only (the original fitted and tested on the training split, spec
section 8 flaw 22); non-finite rows are dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.training.config import TrainConfig
from trajmbrl.training.fit import fit
from trajmbrl.utils.threads import single_thread

#: a fitted direct baseline: (M, in) -> (M,)
Predictor = Callable[[np.ndarray], np.ndarray]


def baseline_inputs(data: TrajectoryData) -> np.ndarray:
    """Direct-baseline features ``[s_0, theta]``. :returns: (N, ds + dp)"""
    return np.concatenate([data.states[:, 0], data.params], axis=1).astype(np.float64)


def _check_xy(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise TrajmbrlError(f"{what} needs x (N, in) and y (N,), got {x.shape} and {y.shape}")
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y)
    if keep.sum() < 3:
        raise TrajmbrlError(f"{what} needs at least 3 finite training rows, got {int(keep.sum())}")
    return x[keep], y[keep]


def _check_query(x: np.ndarray, dim: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != dim:
        raise TrajmbrlError(f"{what} expects inputs (M, {dim}), got shape {x.shape}")
    return x


@dataclass
class GPPredictor:
    """A fitted GP on standardised inputs/targets; ``self(x (M, in)) -> (M,)`` posterior mean."""

    gp: GaussianProcessRegressor
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float
    fit_warnings: list[str] = field(default_factory=list)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_query(x, self.x_mean.shape[0], "the GP")
        with single_thread():
            z = self.gp.predict((x - self.x_mean) / self.x_std)
        return np.asarray(z, dtype=np.float64) * self.y_std + self.y_mean


def _standardise(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = v.mean(axis=0), v.std(axis=0)
    return mean, np.where(std < 1e-12, 1.0, std)


def fit_gp(x: np.ndarray, y: np.ndarray, seed: int, *, n_restarts: int = 2) -> GPPredictor:
    """GP regression ``x -> y`` with ``C * RBF(ARD) + White`` on standardised data.

    Hyper-parameters by marginal likelihood (L-BFGS, ``n_restarts`` seeded restarts);
    sklearn convergence warnings are kept in ``fit_warnings`` instead of being raised.

    :param x: (N, in); :param y: (N,); non-finite rows are dropped.
    """
    x, y = _check_xy(x, y, "fit_gp")
    x_mean, x_std = _standardise(x)
    y_mean, y_std = _standardise(y)
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
        length_scale=np.ones(x.shape[1]), length_scale_bounds=(1e-2, 1e3)
    ) + WhiteKernel(1e-2, (1e-6, 1e0))
    gp = GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=False,
        n_restarts_optimizer=int(n_restarts),
        random_state=int(seed),
    )
    with warnings.catch_warnings(record=True) as caught, single_thread():
        warnings.simplefilter("always", ConvergenceWarning)
        gp.fit((x - x_mean) / x_std, (y - float(y_mean)) / float(y_std))
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    for w in caught:  # re-emit anything that is not a convergence note
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return GPPredictor(gp, x_mean, x_std, float(y_mean), float(y_std), notes)


@dataclass
class DirectNNPredictor:
    """A fitted ``in -> 1`` MLP (normalised in/out); ``self(x (M, in)) -> (M,)``."""

    model: DynamicsModel
    in_dim: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_query(x, self.in_dim, "the direct NN")
        pred = self.model.predict(torch.as_tensor(x, dtype=torch.float32))
        return pred[:, 0].double().numpy()


def fit_direct_nn(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    epochs: int = 500,
    hidden: int = 64,
    layers: int = 2,
    lr: float = 3e-3,
    batch_size: int = 64,
    val_fraction: float = 0.2,
    patience: int = 50,
) -> DirectNNPredictor:
    """Direct regression ``x -> y`` with the project's model and trainer.

    A one-step :class:`ModelSpec` with ``state_dim=1`` (the target R) and ``action_dim=in-1``
    is exactly an ``in -> 1`` MLP with input/output :class:`Normalizer` s fitted on the training
    part, MSE in normalised units, a seeded validation split and early stopping (best weights
    restored). Only :meth:`DynamicsModel.predict` is used, never ``step``.

    :param x: (N, in); :param y: (N,); non-finite rows are dropped.
    """
    x, y = _check_xy(x, y, "fit_direct_nn")
    in_dim = x.shape[1]
    spec = ModelSpec(
        key="direct_nn",
        family="one_step",
        state_dim=1,
        action_dim=in_dim - 1,
        param_dim=0,
        hidden=int(hidden),
        layers=int(layers),
    )
    cfg = TrainConfig(
        epochs=int(epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        patience=int(patience),
        min_rel_improvement=1e-3,
        val_fraction=float(val_fraction),
        resample="none",
        seed=int(seed),
    )
    with single_thread():
        model, _ = fit(spec, x, y[:, None], cfg)
    return DirectNNPredictor(model, in_dim)
