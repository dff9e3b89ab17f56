"""Data efficiency on the reacher (paper section 5.4): per-trajectory scores and grid aggregation.

The grid is ``num_traj x t_range x copy`` for a one-step (``d``) and a trajectory (``t``) model.
Every model / grid cell is scored on the *same* test trajectories
(:func:`select_eval_trajectories`, drawn without replacement; fixes spec 8.23) over their
first ``H`` steps (``eval_t_range = 100`` in the paper) with three scores
(:func:`efficiency_scores`): ``mse`` (lower is better), ``cosine`` and ``gaussian`` (higher is
better, at most 1). :func:`aggregate_grid` averages over the evaluated trajectories, then takes
the median (and inter-quartile range) over the seeded copies, as the original did.

Units: like the original (spec 6.5) the scores default to RAW state units. Passing
``state_min/state_max`` (the dataset manifest's training-state range, as in
:func:`trajmbrl.evaluation.metrics.normalised_mse`) scores range-normalised states instead.
Raw is the default because the paper's Fig. for 5.4 was computed that way and its two
constants, the Gaussian kernel scale 5 and the MSE cap 100, were chosen for raw reacher
states; in normalised units the same constants mean something else. Use the normalised variant
for comparisons across environments, and label it as such.

No-model and linear baselines per cell (:func:`cell_baseline_predictions`, issue 21): ``zero``
(s_0), ``hmean`` (the mean of s_h over the cell's own training trajectories, i.e. its
``num_traj`` trajectories of copy ``seed`` cut to its ``t_range``: exactly what the cell's
models saw), ``lin`` and ``lint`` (least squares on the same data). Beyond the cell's
``t_range`` (the evaluation predicts 100 steps) ``hmean`` repeats the mean at ``h = t_range``
and ``lint`` applies its ``h = t_range`` map: the last horizon the cell's data reaches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.data.pairs import parse_variant, select_training
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import ArgumentError, TrajmbrlError

#: the three scores, in plotting order
SCORES = ("mse", "cosine", "gaussian")
#: per-trajectory MSE is capped here before averaging (the original capped its maps at 100)
MSE_CAP = 100.0
#: the original's Gaussian similarity exp(-(GAUSSIAN_SCALE * (s - s_hat))^2)
GAUSSIAN_SCALE = 5.0
#: columns :func:`aggregate_grid` needs
GRID_COLUMNS = ("model", "num_traj", "t_range", "seed", "traj", "metric", "value")
#: the paper's grid (spec 1.3): num_traj 1, 3, ..., 19 and t_range 10, 20, ..., 100; 5 copies
PAPER_NUM_TRAJ = tuple(range(1, 20, 2))
PAPER_T_RANGE = tuple(range(10, 101, 10))
PAPER_COPIES = 5
#: evaluated test trajectories and prediction steps per model in the paper
PAPER_EVAL_NUM_TRAJ = 10
PAPER_EVAL_T_RANGE = 100
#: baselines scored per grid cell, each fitted on the cell's own training data
CELL_BASELINES = ("zero", "hmean", "lin", "lint")


def _unit_series(x: np.ndarray) -> np.ndarray:
    """L2-normalise each time series along axis 1 without overflow; zero-norm series -> 0.

    :param x: (N, H, ds) finite values
    :returns: (N, H, ds)
    """
    scale = np.abs(x).max(axis=1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    y = x / safe
    norm = np.sqrt((y * y).sum(axis=1, keepdims=True))
    return np.where(norm > 0, y / np.where(norm > 0, norm, 1.0), 0.0)


def _checked_pair(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float arrays of one shape (N, H, ds), N, H, ds >= 1, ``true`` finite."""
    true = np.asarray(true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if true.ndim != 3 or true.shape != pred.shape or 0 in true.shape:
        raise TrajmbrlError(
            f"efficiency scores need true and pred of one shape (N, H, ds) with N, H, ds >= 1; "
            f"got {true.shape} and {pred.shape}"
        )
    if not np.isfinite(true).all():
        raise ArgumentError(
            "the ground truth has missing/non-finite states inside the evaluation window; "
            "evaluate fewer steps ({efficiency_scores.horizon}) or longer test trajectories"
        )
    return true, pred


def _range_normalised(
    true: np.ndarray, pred: np.ndarray, state_min: np.ndarray, state_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(s - min) / (max - min)`` of true and pred (N, H, ds); a zero span divides by 1."""
    lo = np.asarray(state_min, dtype=float)
    hi = np.asarray(state_max, dtype=float)
    if lo.shape != (true.shape[2],) or hi.shape != lo.shape:
        raise TrajmbrlError(
            f"state_min/state_max must have shape ({true.shape[2]},), got {lo.shape} and {hi.shape}"
        )
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    true = (true - lo) / span
    with np.errstate(over="ignore", invalid="ignore"):
        pred = (pred - lo) / span
    return true, pred


def efficiency_scores(
    true: np.ndarray,
    pred: np.ndarray,
    state_min: np.ndarray | None = None,
    state_max: np.ndarray | None = None,
    *,
    gaussian_scale: float = GAUSSIAN_SCALE,
) -> dict[str, np.ndarray]:
    """The three section-5.4 scores per evaluated trajectory over all ``H`` given steps.

    * ``mse``: mean over time and dims of the squared error;
    * ``cosine``: per dim, cosine similarity of the true and predicted time series (each
      L2-normalised over time), averaged over dims; a zero-norm series scores 0;
    * ``gaussian``: mean over time and dims of ``exp(-(gaussian_scale * (s - s_hat))^2)``.

    A trajectory with any non-finite prediction (a diverged roll-out) scores ``mse = inf``,
    ``cosine = 0``, ``gaussian = 0``.

    :param true: (N, H, ds) ground truth, finite (slice the test states to the window first)
    :param pred: (N, H, ds) predictions; may hold NaN/inf
    :param state_min: (ds,) optional; with ``state_max`` scores ``(s - min) / (max - min)``
        instead of raw units (default: raw, as the original)
    :param state_max: (ds,) optional, see ``state_min``
    :returns: ``{"mse", "cosine", "gaussian"}`` -> (N,) float arrays
    """
    true, pred = _checked_pair(true, pred)
    if (state_min is None) != (state_max is None):
        raise TrajmbrlError("pass both state_min and state_max (normalised scores) or neither")
    if state_min is not None and state_max is not None:
        true, pred = _range_normalised(true, pred, state_min, state_max)
    finite = np.isfinite(pred)
    bad = ~finite.all(axis=(1, 2))
    safe = np.where(finite, pred, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        err = safe - true
        sq = err * err
        mse = sq.mean(axis=(1, 2))
        gauss = np.exp(-(gaussian_scale**2) * sq).mean(axis=(1, 2))
    cos = (_unit_series(true) * _unit_series(safe)).sum(axis=1).mean(axis=1)
    cos = np.clip(np.nan_to_num(cos, nan=0.0), -1.0, 1.0)
    return {
        "mse": np.where(bad | ~np.isfinite(mse), np.inf, mse),
        "cosine": np.where(bad, 0.0, cos),
        "gaussian": np.where(bad, 0.0, np.nan_to_num(gauss, nan=0.0)),
    }


def select_eval_trajectories(num_test: int, k: int, seed: int) -> np.ndarray:
    """``k`` distinct test-trajectory indices, seeded; use the same set for every model and cell.

    :returns: (k,) int64, sorted ascending
    """
    if k < 1:
        raise ArgumentError(
            f"{{select_eval_trajectories.k}} must be >= 1 for the efficiency evaluation, got {k}"
        )
    if k > num_test:
        raise ArgumentError(
            f"{{select_eval_trajectories.k}}={k} but the dataset has only {num_test} test "
            "trajectories (they are drawn without replacement)"
        )
    rng = np.random.default_rng([int(seed), 54])
    return np.sort(rng.choice(num_test, size=k, replace=False)).astype(np.int64)


def tidy_scores(scores: dict[str, np.ndarray], traj: np.ndarray, **keys: object) -> pd.DataFrame:
    """One row per (trajectory, score) with the given key columns first.

    :param scores: output of :func:`efficiency_scores`, each (N,)
    :param traj: (N,) test-trajectory indices (from :func:`select_eval_trajectories`)
    :returns: columns ``*keys, traj, metric, value``
    """
    traj = np.asarray(traj)
    parts = []
    for metric, values in scores.items():
        values = np.asarray(values, dtype=float)
        if values.shape != traj.shape:
            raise TrajmbrlError(f"score {metric!r} has shape {values.shape}, traj {traj.shape}")
        parts.append(pd.DataFrame({"traj": traj, "metric": metric, "value": values}))
    frame = pd.concat(parts, ignore_index=True)
    for col, val in reversed(list(keys.items())):
        frame.insert(0, col, val)
    return frame


def grid_cell(variant: str) -> tuple[int, int]:
    """``"n=3_t=20"`` -> ``(3, 20)``; a variant without explicit sizes is not a grid cell."""
    num_traj, t_range = parse_variant(variant)
    if num_traj is None or t_range is None:
        raise ArgumentError(
            f"model variant {variant!r} is not a data-efficiency grid cell "
            "'n=<num_traj>_t=<t_range>' (train with explicit {Sampling.num_traj} and "
            "{Sampling.t_range})"
        )
    return num_traj, t_range


def cell_training_data(
    train: TrajectoryData, num_traj: int, t_range: int, seed: int
) -> TrajectoryData:
    """The training trajectories of grid cell ``(num_traj, t_range)``, copy ``seed``: the seeded
    subset a model of that cell is trained on (:func:`trajmbrl.data.pairs.select_training`),
    each cut to its first ``t_range`` steps. States (num_traj, t_range + 1, ds)."""
    return select_training(train, num_traj=num_traj, t_range=t_range, seed=seed)[0]


def cell_baseline_predictions(
    key: str,
    train: TrajectoryData,
    test: TrajectoryData,
    horizon: int,
    cell: tuple[int, int, int],
    *,
    protocols: tuple[str, ...] | list[str] = ("logged",),
    sampler: object | None = None,
) -> dict[str, np.ndarray]:
    """Predicted states of baseline ``key`` fitted on one cell's training data.

    :param train: the dataset's TRAIN split (the cell's subset is drawn from it)
    :param test: the evaluated test trajectories
    :param cell: ``(num_traj, t_range, seed)``, the seed being the copy
    :param protocols: ``lin`` only: ``logged`` and/or ``controller`` roll-outs
    :returns: action source (``direct``, or the protocol for ``lin``) -> (N, horizon, ds)
    """
    import torch

    from trajmbrl.evaluation.horizon import baseline_predictions
    from trajmbrl.models.baselines import HorizonMean, LinearTrajectoryModel

    if key not in CELL_BASELINES:
        raise ArgumentError(
            f"{{cell_baseline_predictions.key}} must be one of {', '.join(CELL_BASELINES)} "
            f"(baselines fitted on a grid cell's data), got {key!r}"
        )
    num_traj, t_range, seed = cell
    data = cell_training_data(train, num_traj, t_range, seed)
    s0 = torch.as_tensor(test.states[:, 0], dtype=torch.float64)
    hs = torch.arange(1, horizon + 1)
    states = torch.as_tensor(data.states, dtype=torch.float64)
    if key == "hmean":  # fitted here: the many rank-deficient small cells are not logged
        hmean = HorizonMean()
        hmean.fit(states)
        return {"direct": hmean.query(s0, hs).numpy()}
    if key == "lint":
        lint = LinearTrajectoryModel()
        lint.fit(states, torch.as_tensor(data.params))
        theta = torch.as_tensor(test.params, dtype=torch.float64)
        return {"direct": lint.query(s0, hs, theta).numpy()}
    with np.errstate(over="ignore", invalid="ignore"):
        preds = baseline_predictions(
            key,
            data,
            test,
            horizon,
            protocols=list(protocols),
            sampler=sampler,  # type: ignore[arg-type]
        )
    return {source: mean for source, (mean, _) in preds.items()}


def aggregate_grid(frame: pd.DataFrame, *, mse_cap: float | None = MSE_CAP) -> pd.DataFrame:
    """Mean over evaluated trajectories, then median over copies, per grid cell and score.

    Per-trajectory ``mse`` is first capped at ``mse_cap`` (inf/NaN -> cap), so one diverged
    trajectory adds ``cap / k`` to its copy's mean instead of making it infinite (the original
    capped the averaged map values at 100 instead; both keep every map value <= 100).
    NaN cosine/gaussian values count as 0. ``mse_cap=None`` keeps inf (then quantiles may be
    inf or NaN).

    :param frame: tidy rows with columns ``model, num_traj, t_range, seed (= copy), traj,
        metric, value``; one experiment (no duplicate rows per key)
    :returns: one row per ``(model, num_traj, t_range, metric)`` with ``value`` (median over
        copies), ``q25``, ``q75``, ``iqr`` (= q75 - q25, over copies), ``n_copies``,
        ``n_traj`` (evaluated trajectories per copy, minimum)
    """
    missing = [c for c in GRID_COLUMNS if c not in frame.columns]
    if missing:
        raise TrajmbrlError(f"efficiency frame lacks columns {missing} (has {list(frame.columns)})")
    if frame.empty:
        raise TrajmbrlError("efficiency frame is empty: no scores to aggregate")
    keys = ["model", "num_traj", "t_range", "seed", "traj", "metric"]
    dup = frame.duplicated(subset=keys)
    if dup.any():
        first = frame.loc[dup, keys].iloc[0].to_dict()
        raise TrajmbrlError(
            f"{int(dup.sum())} duplicate efficiency rows (e.g. {first}); the frame mixes runs "
            "(filter to one env/dataset/experiment first)"
        )
    value = frame["value"].astype(float).to_numpy()
    is_mse = (frame["metric"] == "mse").to_numpy()
    if mse_cap is not None:
        value = np.where(is_mse, np.minimum(np.nan_to_num(value, nan=np.inf), mse_cap), value)
    value = np.where(~is_mse & np.isnan(value), 0.0, value)
    cell = ["model", "num_traj", "t_range", "metric"]
    data = frame[[*cell, "seed", "traj"]].assign(value=value)
    with np.errstate(invalid="ignore"):
        per_copy = data.groupby([*cell, "seed"], sort=True).agg(
            value=("value", "mean"), n_traj=("traj", "nunique")
        )
        grouped = per_copy.groupby(level=cell, sort=True)
        out = pd.DataFrame(
            {
                "value": grouped["value"].median(),
                "q25": grouped["value"].quantile(0.25),
                "q75": grouped["value"].quantile(0.75),
                "n_copies": grouped["value"].size(),
                "n_traj": grouped["n_traj"].min(),
            }
        )
    out["iqr"] = out["q75"] - out["q25"]
    out = out[["value", "q25", "q75", "iqr", "n_copies", "n_traj"]]
    return out.reset_index()
