"""mode=eval: long-horizon prediction error of trained models on the held-out test split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from trajmbrl.data.pairs import one_step_samples
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import diverged, normalised_mse, tidy_errors
from trajmbrl.evaluation.rollout import (
    predict_one_step_model,
    predict_trajectory_members,
    predict_trajectory_model,
)
from trajmbrl.evaluation.uncertainty import gaussian_scores, mixture_moments
from trajmbrl.modes.common import (
    build,
    data_dims,
    device,
    eval_fingerprint,
    is_current,
    load_env_dataset,
    model_checkpoint,
    model_keys,
    positive,
    write_hashed_csv,
)

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Dispatch on ``eval.task``: horizon (5.2/5.3), efficiency (5.4) or reward (5.5)."""
    task = str(cfg.eval.task)
    if task == "horizon":
        run_horizon(cfg)
    elif task == "efficiency":
        from trajmbrl.modes import eval_efficiency

        eval_efficiency.run(cfg)
    elif task == "reward":
        from trajmbrl.modes import eval_reward

        eval_reward.run(cfg)
    else:
        raise TrajmbrlError(f"eval.task must be horizon, efficiency or reward, got {task!r}")


def run_horizon(cfg: DictConfig) -> None:
    """Evaluate the selected ``models`` and ``eval.baselines``; tidy CSVs."""
    data = load_env_dataset(cfg)
    test = data.test()
    if test.num == 0:
        raise TrajmbrlError(f"Dataset {cfg.paths.dataset} has no test trajectories")
    n = positive(cfg, "eval.num_traj")
    if n is not None:
        test = test.subset(np.arange(min(n, test.num)))
    horizon = positive(cfg, "eval.horizon") or int(test.lengths.max())
    if horizon > test.horizon:
        raise TrajmbrlError(
            f"eval.horizon={horizon} is longer than the test trajectories ({test.horizon} steps)"
        )
    frames = [evaluate_model(cfg, key, data, test, horizon) for key in model_keys(cfg)]
    frames += [evaluate_baseline(cfg, key, data, test, horizon) for key in cfg.eval.baselines]
    from trajmbrl.plotting.tables import median_table

    table = median_table(pd.concat(frames, ignore_index=True), list(cfg.plot.horizons))
    print(table.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def evaluate_model(
    cfg: DictConfig, key: str, data: TrajectoryData, test: TrajectoryData, horizon: int
) -> pd.DataFrame:
    """Predict the test split with the trained model ``key``; write and return its tidy rows."""
    model, meta = model_checkpoint(cfg, key, data_dims(test))
    model.to(device(cfg))
    source = "direct"
    if model.spec.family == "one_step":
        source = str(cfg.eval.action_source)
        if cfg.eval.propagation != "mean":
            source += f"-{cfg.eval.propagation}"
    fingerprint = eval_fingerprint(cfg, horizon, model=meta.get("config_hash"),
                                   dataset=data.meta.get("sha256"))
    cached = _cached(cfg, key, source, fingerprint)
    if cached is not None and not cfg.eval.render:
        return cached
    pred, var = predict_distribution(model, test, horizon, cfg)
    if cfg.eval.render:
        render_video(cfg, key, test, pred)
    if cached is not None:
        return cached
    return score_and_write(cfg, key, source, fingerprint, data, test, pred, var)


def evaluate_baseline(
    cfg: DictConfig, key: str, data: TrajectoryData, test: TrajectoryData, horizon: int
) -> pd.DataFrame:
    """``lin``: least-squares one-step model fitted on the training split, rolled out with the
    logged actions; ``zero``: predicts the initial state at every horizon."""
    from trajmbrl.models.baselines import LinearModel, ZeroModel

    fingerprint = eval_fingerprint(cfg, horizon, baseline=key, dataset=data.meta.get("sha256"))
    source = "logged" if key == "lin" else "direct"
    cached = _cached(cfg, key, source, fingerprint)
    if cached is not None:
        return cached
    s0 = torch.as_tensor(test.states[:, 0], dtype=torch.float64)
    if key == "zero":
        pred = ZeroModel(test.state_dim).query(s0, torch.arange(1, horizon + 1)).numpy()
    elif key == "lin":
        x, y, _ = one_step_samples(data.train())
        lin = LinearModel(test.state_dim, test.action_dim)
        lin.fit(torch.as_tensor(x), torch.as_tensor(y))
        state, out = s0, []
        acts = torch.as_tensor(test.actions, dtype=torch.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(horizon):
                state = lin.step(state, acts[:, t])
                out.append(state)
        pred = torch.stack(out, dim=1).numpy()
    else:
        raise TrajmbrlError(f"eval.baselines accepts lin and zero, got {key!r}")
    return score_and_write(cfg, key, source, fingerprint, data, test, pred, None)


def score_and_write(
    cfg: DictConfig,
    key: str,
    source: str,
    fingerprint: str,
    data: TrajectoryData,
    test: TrajectoryData,
    pred: np.ndarray,
    var: np.ndarray | None,
) -> pd.DataFrame:
    """Normalised MSE (and uncertainty scores) of (N, H, ds) predictions -> tidy CSV."""
    horizon = pred.shape[1]
    true = test.states[:, 1 : horizon + 1]
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    mse = normalised_mse(true, pred, lo, hi)
    keys = {"env": cfg.env.name, "data": cfg.data.tag, "model": key,
            "variant": str(cfg.train.variant), "seed": int(cfg.seed), "action_source": source}
    parts = [tidy_errors(mse, **keys)]
    if var is not None:
        for name, values in gaussian_scores(true, pred, var, lo, hi).items():
            parts.append(tidy_errors(values, **keys).assign(metric=name))
    frame = pd.concat(parts, ignore_index=True)
    out = metrics_path(cfg, key, source)
    write_hashed_csv(out, frame, fingerprint)
    final = np.nanmedian(np.where(np.isinf(mse[:, -1]), np.nan, mse[:, -1]))
    log.info("%s: median normalised MSE at h=%d: %.4g; diverged %.0f%% -> %s",
             key, horizon, final, 100 * diverged(mse).mean(), out)
    return frame


def _cached(cfg: DictConfig, key: str, source: str, fingerprint: str) -> pd.DataFrame | None:
    """The existing metrics of this evaluation if they were made with the same config."""
    out = metrics_path(cfg, key, source)
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite)):
        log.info("Metrics %s are up to date; skipping %s.", out, key)
        return pd.read_csv(out, comment="#")
    return None


def predict(model: Any, test: TrajectoryData, horizon: int, cfg: DictConfig) -> np.ndarray:
    """Predicted states (N, H, ds) from each test trajectory's initial state (mean path)."""
    return predict_distribution(model, test, horizon, cfg, moments=False)[0]


def predict_distribution(
    model: Any, test: TrajectoryData, horizon: int, cfg: DictConfig, *, moments: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictive mean (N, H, ds) and, when there is one, variance (N, H, ds).

    Trajectory models: member mixture (ensembles and/or Gaussian heads). One-step models: the
    ``eval.propagation`` roll-out; with ts1/tsinf, ``eval.particles`` particles per trajectory
    give the mean and variance.
    """
    s0 = test.states[:, 0]
    if model.spec.family == "trajectory":
        if not moments:
            return predict_trajectory_model(model, s0, test.params, horizon), None
        means, variances = predict_trajectory_members(model, s0, test.params, horizon)
        if means.shape[0] == 1 and variances is None:
            return means[0], None
        return mixture_moments(means, variances, axis=0)
    propagation = str(cfg.eval.propagation)
    particles = positive(cfg, "eval.particles", allow_none=False) if propagation != "mean" else 1
    sampler = None
    if cfg.eval.action_source == "controller":
        if "sampler" not in cfg.env:
            raise TrajmbrlError(
                f"eval.action_source=controller needs a controller; env {cfg.env.name} has none"
            )
        sampler = build(cfg.env.sampler)
    pred = predict_one_step_model(
        model, s0, test.actions, horizon,
        action_source=str(cfg.eval.action_source), sampler=sampler, params=test.params,
        propagation=propagation, particles=particles, seed=int(cfg.seed),
    )
    if particles == 1:
        return pred, None
    return mixture_moments(pred, None, axis=1)


def render_video(cfg: DictConfig, key: str, test: TrajectoryData, pred: np.ndarray) -> None:
    """Write a true-vs-predicted video of the first test trajectory (reacher only)."""
    if cfg.env.name != "reacher":
        raise TrajmbrlError(f"eval.render=true needs a MuJoCo env (reacher), not {cfg.env.name}")
    from trajmbrl.envs.render import render_comparison

    horizon = pred.shape[1]
    true = test.states[0, : horizon + 1]
    full = np.concatenate([true[:1], pred[0]], axis=0)
    path = Path(cfg.paths.run_dir) / "videos" / f"{key}_test0.mp4"
    written = render_comparison(true, full, path, title=key)
    log.info("Video of test trajectory 0 (true vs %s): %s", key, written)


def metrics_path(cfg: DictConfig, key: str, source: str) -> Path:
    """Where the tidy CSV of one (model, variant, seed, action source) goes."""
    name = f"{key}__{cfg.train.variant}__seed={cfg.seed}__{source}.csv"
    return Path(cfg.paths.run_dir) / "metrics" / name

