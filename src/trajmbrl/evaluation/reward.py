"""Section 5.5: predict the task return of a controller, from model roll-outs or directly.

The return of a trajectory is ``R = sum_{t=1..H} r(s_t)``: the known reset state ``s_0`` is
left out, and the *same* index range ``s_1..s_H`` is used for the true states
(``states[:, 1:H+1]``) and for the predictions (``pred[:, 0:H]``, whose index ``k`` is ``s_{k+1}``,
see :mod:`trajmbrl.evaluation.rollout`).

Divergence follows the rule of the horizon tables: a prediction is *diverged* when its roll-out
diverged (normalised MSE above the threshold or non-finite at any step, flags passed in by the
caller) or its predicted return is not finite. Non-finite predictions are kept, never dropped: their
error is infinite (MSE and MAE at the ceiling) and they rank as the worst controller in the rank
statistics; nothing here raises on them.

Direct baselines map ``(s_0, theta)`` to ``R`` and are fitted on the TRAIN split only (the
original fitted and tested on the training split, spec section 8 flaw 22).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from threadpoolctl import threadpool_limits

from trajmbrl.data.storage import TEST, TRAIN, TrajectoryData
from trajmbrl.envs.cartpole import cartpole_reward
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.training.trainer import ModelTrainer, TrainConfig

#: r(states (..., ds)) -> (...) per-state reward
RewardFn = Callable[[np.ndarray], np.ndarray]
#: a fitted direct baseline: (M, in) -> (M,)
Predictor = Callable[[np.ndarray], np.ndarray]

#: model state of the reacher (obs[Reacher3DEnv.STATE_INDICES], 18 dims): fingertip - goal
REACHER_TIP_MINUS_GOAL = slice(15, 18)
#: crazyflie observation (9 dims): sim ``[vx vy vz roll pitch yaw p q r]``; the hardware log has
#: ``[wx wy wz pitch roll yaw ...]`` (degrees) - dims 3, 4 are roll and pitch either way.
CRAZYFLIE_ROLL_PITCH = (3, 4)


def _check_dim(state: np.ndarray, ds: int, env: str) -> np.ndarray:
    state = np.asarray(state, dtype=np.float64)
    if state.shape[-1] != ds:
        raise TrajmbrlError(f"the {env} reward expects {ds}-dim states, got shape {state.shape}")
    return state


def cartpole_return_reward(state: np.ndarray) -> np.ndarray:
    """``-(x^2 + theta^2) / 200`` on ``[x, x_dot, theta, theta_dot]``. (..., 4) -> (...)"""
    return cartpole_reward(_check_dim(state, 4, "cartpole"))


def reacher_return_reward(state: np.ndarray) -> np.ndarray:
    """``-||fingertip - goal||`` from model-state dims 15:18 (control cost dropped).

    The original divided by 500; the scale changes MSE but no rank statistic. (..., 18) -> (...)
    """
    state = _check_dim(state, 18, "reacher")
    return -np.linalg.norm(state[..., REACHER_TIP_MINUS_GOAL], axis=-1)


def crazyflie_return_reward(state: np.ndarray) -> np.ndarray:
    """``-(roll^2 + pitch^2)`` on observation dims 3 and 4. (..., 9) -> (...)"""
    state = _check_dim(state, 9, "crazyflie")
    i, j = CRAZYFLIE_ROLL_PITCH
    return -(state[..., i] ** 2 + state[..., j] ** 2)


#: env name -> per-state reward used for section 5.5
REWARDS: dict[str, RewardFn] = {
    "cartpole": cartpole_return_reward,
    "reacher": reacher_return_reward,
    "crazyflie": crazyflie_return_reward,
}


def reward_for(env: str) -> RewardFn:
    """The registered reward of ``env`` (raises TrajmbrlError naming ``env.name``)."""
    if env not in REWARDS:
        raise TrajmbrlError(
            f"env.name={env!r} has no section-5.5 reward; choose one of {sorted(REWARDS)}"
        )
    return REWARDS[env]


# ---------------------------------------------------------------------- returns
def returns(states: np.ndarray, reward_fn: RewardFn = cartpole_return_reward) -> np.ndarray:
    """Sum of per-state rewards over the time axis.

    :param states: (N, H, ds), e.g. predictions ``s_1..s_H`` or ``data.states[:, 1:H+1]``.
    :returns: (N,) returns; non-finite states give a non-finite return (never raises).
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 3:
        raise TrajmbrlError(f"states for returns must be (N, H, ds), got shape {states.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        r = np.asarray(reward_fn(states), dtype=np.float64)
        if r.shape != states.shape[:2]:
            raise TrajmbrlError(
                f"reward_fn must map (N, H, ds) states to (N, H), got {r.shape} for "
                f"{states.shape}"
            )
        return r.sum(axis=1)


def true_returns(
    data: TrajectoryData, horizon: int, reward_fn: RewardFn = cartpole_return_reward
) -> np.ndarray:
    """Returns over the logged ``s_1..s_H`` (``states[:, 1:H+1]``). :returns: (N,)"""
    if not 1 <= horizon <= data.horizon:
        raise TrajmbrlError(f"eval.horizon={horizon} must lie in [1, {data.horizon}]")
    short = int((data.lengths < horizon).sum())
    if short:
        raise TrajmbrlError(
            f"eval.horizon={horizon} exceeds the length of {short} trajectories (shortest "
            f"{int(data.lengths.min())}); lower eval.horizon"
        )
    return returns(data.states[:, 1 : horizon + 1], reward_fn)


def baseline_inputs(data: TrajectoryData) -> np.ndarray:
    """Direct-baseline features ``[s_0, theta]``. :returns: (N, ds + dp)"""
    return np.concatenate([data.states[:, 0], data.params], axis=1).astype(np.float64)


# ---------------------------------------------------------------------- direct baselines
@contextmanager
def _single_thread() -> Iterator[None]:
    """One BLAS/OpenMP and one torch thread: the baselines' matrices are tiny (~100 rows), where
    extra threads only add synchronisation (measured 15-20x slower on a loaded 2-core host)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


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
        with _single_thread():
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
        kernel=kernel, normalize_y=False, n_restarts_optimizer=int(n_restarts),
        random_state=int(seed),
    )
    with warnings.catch_warnings(record=True) as caught, _single_thread():
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
    spec = ModelSpec(key="direct_nn", family="one_step", state_dim=1, action_dim=in_dim - 1,
                     param_dim=0, hidden=int(hidden), layers=int(layers))
    model = DynamicsModel(spec, seed=int(seed))
    cfg = TrainConfig(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr),
                      patience=int(patience), min_rel_improvement=1e-3,
                      val_fraction=float(val_fraction), resample="none", seed=int(seed))
    with _single_thread():
        ModelTrainer(model, cfg, progress=False).fit(
            torch.as_tensor(x, dtype=torch.float32),
            torch.as_tensor(y[:, None], dtype=torch.float32),
        )
    return DirectNNPredictor(model, in_dim)


# ---------------------------------------------------------------------- tables
def reward_frame(
    true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    traj: np.ndarray | None = None,
    diverged: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Tidy per-trajectory rows ``traj, method, true_return, predicted_return, diverged``.

    :param true: (N,); :param predictions: method -> (N,); :param traj: (N,) ids (default 0..N-1).
    :param diverged: method -> (N,) bool, roll-outs that diverged by the horizon rule
        (:func:`trajmbrl.evaluation.metrics.diverged`); non-finite returns are always diverged.
    """
    true = np.asarray(true, dtype=np.float64)
    if true.ndim != 1:
        raise TrajmbrlError(f"true returns must be (N,), got shape {true.shape}")
    ids = np.arange(true.shape[0]) if traj is None else np.asarray(traj)
    flags = dict(diverged or {})
    parts = []
    for method, pred in predictions.items():
        pred = np.asarray(pred, dtype=np.float64)
        if pred.shape != true.shape:
            raise TrajmbrlError(
                f"predicted returns of '{method}' have shape {pred.shape}, expected {true.shape}"
            )
        bad = ~np.isfinite(pred) | np.asarray(flags.get(method, False), dtype=bool)
        parts.append(pd.DataFrame({
            "traj": ids, "method": method, "true_return": true, "predicted_return": pred,
            "diverged": bad,
        }))
    if not parts:
        return pd.DataFrame(columns=["traj", "method", "true_return", "predicted_return",
                                     "diverged"])
    return pd.concat(parts, ignore_index=True)


def _rank_stat(fn: Callable[..., object], a: np.ndarray, b: np.ndarray) -> float:
    """Spearman/Kendall statistic, NaN when undefined (n < 2 or a constant side)."""
    if a.shape[0] < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(fn(a, b).statistic)  # type: ignore[attr-defined]


def worst_last(pred: np.ndarray) -> np.ndarray:
    """Predicted returns with every non-finite one below all finite ones (tied): the rank of a
    blown-up roll-out is the worst controller's. (N,) -> (N,)"""
    ok = np.isfinite(pred)
    if ok.all() or not ok.any():
        return np.where(ok, pred, 0.0)
    lo, hi = pred[ok].min(), pred[ok].max()
    return np.where(ok, pred, lo - (hi - lo) - 1.0)


def reward_table(
    true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    diverged: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per-method accuracy of predicted returns (one row per method, in input order).

    Columns: ``method, n, n_diverged, share_diverged, mse, median_se, mae, bias, spearman,
    kendall`` over every trajectory: a non-finite prediction has an infinite error and ranks as
    the worst controller (the horizon tables' rule; see the module docstring).

    :param true: (N,) true returns (finite); :param predictions: method -> (N,);
    :param diverged: method -> (N,) roll-out divergence flags (see :func:`reward_frame`).
    """
    frame = reward_frame(true, predictions, diverged=diverged)
    rows = []
    for method in predictions:
        g = frame[frame["method"] == method]
        t, p = g["true_return"].to_numpy(), g["predicted_return"].to_numpy()
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.where(np.isfinite(p), p - t, np.inf)
        n, bad = int(len(g)), int(g["diverged"].sum())
        rows.append({
            "method": method,
            "n": n,
            "n_diverged": bad,
            "share_diverged": bad / n if n else math.nan,
            "mse": float(np.mean(err**2)) if n else math.nan,
            "median_se": float(np.median(err**2)) if n else math.nan,
            "mae": float(np.mean(np.abs(err))) if n else math.nan,
            "bias": float(np.mean(p - t)) if n and np.isfinite(p).all() else math.nan,
            "spearman": _rank_stat(stats.spearmanr, t, worst_last(p)),
            "kendall": _rank_stat(stats.kendalltau, t, worst_last(p)),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- one call for eval
def reward_prediction(
    test: TrajectoryData,
    train: TrajectoryData,
    predicted: Mapping[str, np.ndarray],
    *,
    reward_fn: RewardFn = cartpole_return_reward,
    seed: int = 0,
    horizon: int | None = None,
    baselines: tuple[str, ...] = ("gp", "nn"),
    nn_epochs: int = 500,
    diverged: Mapping[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Section 5.5 end to end: true returns of ``test``, model-based and direct predictions.

    :param test: the TEST split (every ``split == 1``); :param train: the TRAIN split (``== 0``),
        used only to fit the direct baselines ``[s_0, theta] -> R``.
    :param predicted: method -> (N_test, H', ds) predicted ``s_1..s_H'`` (rows as in ``test``).
    :param horizon: H (default: the shortest predicted horizon, else ``test.horizon``); returns
        sum ``s_1..s_H`` for truth, predictions and baseline targets alike.
    :param baselines: subset of ``("gp", "nn")``.
    :param diverged: method -> (N_test,) roll-out divergence flags (horizon rule).
    :returns: (table from :func:`reward_table`, tidy frame from :func:`reward_frame`).
    """
    if test.num and not np.all(test.split == TEST):
        raise TrajmbrlError("reward prediction must be evaluated on the test split (split == 1)")
    if not np.all(train.split == TRAIN):
        raise TrajmbrlError("reward baselines must be fitted on the train split (split == 0)")
    unknown = sorted(set(baselines) - {"gp", "nn"})
    if unknown:
        raise TrajmbrlError(f"unknown reward baselines {unknown}; choose from ['gp', 'nn']")
    for name, arr in predicted.items():
        if np.ndim(arr) != 3 or np.shape(arr)[0] != test.num:
            raise TrajmbrlError(f"predicted states of '{name}' must be ({test.num}, H, ds), got "
                                f"{np.shape(arr)}")
    if horizon is None:
        horizon = min([np.shape(a)[1] for a in predicted.values()], default=test.horizon)
    short = [k for k, a in predicted.items() if np.shape(a)[1] < horizon]
    if short:
        raise TrajmbrlError(f"eval.horizon={horizon} exceeds the predictions of {short}")
    true = true_returns(test, horizon, reward_fn)
    preds = {k: returns(np.asarray(a)[:, :horizon], reward_fn) for k, a in predicted.items()}
    if baselines:
        x_train, y_train = baseline_inputs(train), true_returns(train, horizon, reward_fn)
        x_test = baseline_inputs(test)
        if "gp" in baselines:
            preds["gp"] = fit_gp(x_train, y_train, seed)(x_test)
        if "nn" in baselines:
            preds["nn"] = fit_direct_nn(x_train, y_train, seed, epochs=nn_epochs)(x_test)
    return (reward_table(true, preds, diverged=diverged),
            reward_frame(true, preds, diverged=diverged))
