"""mode=eval: long-horizon prediction error of trained models on the held-out test split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from trajmbrl.artifacts.status import Status, csv_status
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.envs.spec import find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.diagnostics import (
    DiagnosticSettings,
    per_dimension_errors,
    prediction_sample,
)
from trajmbrl.evaluation.horizon import BASELINES, ROLLOUT_BASELINES, baseline_predictions
from trajmbrl.evaluation.metrics import diverged, normalised_mse, tidy_errors
from trajmbrl.evaluation.oracle import has_simulator
from trajmbrl.evaluation.uncertainty import gaussian_scores
from trajmbrl.modes.artifacts import (
    data_dims,
    eval_fingerprint,
    is_current,
    layout,
    load_env_dataset,
    model_checkpoint,
    write_hashed_csv,
)
from trajmbrl.modes.prediction import eval_protocols, forecasts, sampler_for
from trajmbrl.modes.settings import device, eval_size, model_keys, typed
from trajmbrl.utils.atomic import config_hash
from trajmbrl.utils.format import fmt_columns, fmt_number
from trajmbrl.utils.hashed_csv import read_hashed_csv
from trajmbrl.utils.locks import artifact_lock

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Evaluate the selected ``models`` and ``eval.baselines``; tidy CSVs."""
    data = load_env_dataset(cfg)
    test = data.test()
    if test.num == 0:
        raise TrajmbrlError(f"Dataset {cfg.paths.dataset} has no test trajectories")
    n = eval_size(cfg, "num_traj", test.num)  # conf/eval/horizon.yaml: all
    if n < test.num or cfg.eval.num_traj is not None:
        test = test.subset(np.arange(min(n, test.num)))
    horizon = eval_size(cfg, "horizon", int(test.lengths.max()))
    if horizon > test.horizon:
        raise TrajmbrlError(
            f"eval.horizon={horizon} is longer than the test trajectories ({test.horizon} steps)"
        )
    protocols = eval_protocols(cfg)
    frames = []
    # one evaluator per (key, variant, seed): a run with other eval settings that finished
    # first is found by the cache check under the lock and refused, never overwritten
    for key in model_keys(cfg):
        with artifact_lock(_lock(cfg, key, int(cfg.seed)), f"metrics of {key}"):
            frames.append(evaluate_model(cfg, key, data, test, horizon, protocols))
    for key in eval_baselines(cfg):
        with artifact_lock(_lock(cfg, key, 0), f"metrics of {key}"):
            frames.append(evaluate_baseline(cfg, key, data, test, horizon, protocols))
    from trajmbrl.evaluation.metrics import median_table

    table = median_table(
        pd.concat(frames, ignore_index=True), list(cfg.plot.horizons), by=("model", "action_source")
    )
    print(fmt_columns(table.reset_index(), shares=["diverged"]).to_string(index=False))


def eval_baselines(cfg: DictConfig) -> list[str]:
    """``eval.baselines``: a list of keys, or ``all`` = every baseline that applies here
    (``oracle`` only on simulated envs; a skipped one is logged with its reason)."""
    value = cfg.eval.baselines
    one = isinstance(value, str) and value != "all"  # eval.baselines=hmean: one key, not letters
    keys = list(BASELINES) if value == "all" else [value] if one else list(value or [])
    unknown = [k for k in keys if k not in BASELINES]
    if unknown:
        raise TrajmbrlError(f"eval.baselines accepts {', '.join(BASELINES)} or all, got {unknown}")
    if "oracle" in keys and not has_simulator(str(cfg.env.name)):
        reason = f"oracle needs a simulator; {cfg.env.name} is logged data"
        if value != "all":
            raise TrajmbrlError(f"eval.baselines: {reason} (remove oracle)")
        log.info("Skipping baseline %s.", reason)
        keys.remove("oracle")
    return keys


def evaluate_model(
    cfg: DictConfig,
    key: str,
    data: TrajectoryData,
    test: TrajectoryData,
    horizon: int,
    protocols: list[str],
) -> pd.DataFrame:
    """Predict the test split with the trained model ``key`` under every protocol; write and
    return its tidy rows (one CSV per protocol; finished ones are read back, not recomputed)."""
    model, meta = model_checkpoint(cfg, key, data_dims(test))
    model.to(device(cfg))
    propagation = str(cfg.eval.propagation)
    suffix = "" if propagation == "mean" else f"-{propagation}"
    sources = ["direct"] if model.spec.family != "one_step" else [f"{p}{suffix}" for p in protocols]
    fingerprint = eval_fingerprint(
        cfg, horizon, model=meta["checkpoint_sha256"], dataset=data.meta.get("sha256")
    )
    sample = sample_size(cfg)
    cached = {s: _cached(cfg, key, s, fingerprint, int(cfg.seed), sample) for s in sources}
    todo = [s.removesuffix(suffix) for s in sources if cached[s] is None]
    if todo or cfg.eval.render:
        run = [p for p in todo if p in protocols] or protocols[:1]  # "direct" is no protocol
        preds = forecasts(model, test, horizon, cfg, protocols=run)
        if cfg.eval.render:
            render_video(cfg, key, test, next(iter(preds.values())).mean)
        for source, forecast in preds.items():
            if cached.get(source) is None:
                pred, var = forecast.moments()
                cached[source] = score_and_write(
                    cfg,
                    key,
                    source,
                    fingerprint,
                    data,
                    test,
                    pred,
                    var,
                    seed=int(cfg.seed),
                    sample=sample,
                )
    return pd.concat([cached[s] for s in sources], ignore_index=True)


def evaluate_baseline(
    cfg: DictConfig,
    key: str,
    data: TrajectoryData,
    test: TrajectoryData,
    horizon: int,
    protocols: list[str],
) -> pd.DataFrame:
    """Score baseline ``key`` (see evaluation/horizon.py), fitted on the training split. It
    does not depend on the training seed: written once, with seed 0."""
    fingerprint = config_hash(
        {
            "num_traj": cfg.eval.num_traj,
            "horizon": horizon,
            "baseline": key,
            "dataset": data.meta.get("sha256"),
        }
    )
    sources = protocols if key in ROLLOUT_BASELINES else ["direct"]
    cached = {s: _cached(cfg, key, s, fingerprint, 0, 0) for s in sources}
    todo = [s for s in sources if cached[s] is None]
    if todo:
        lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
        preds = baseline_predictions(
            key,
            data.train(),
            test,
            horizon,
            protocols=todo,
            sampler=sampler_for(cfg, todo),
            simulator=cfg.env.name,
            state_range=(lo, hi),
        )
        for source, (pred, _) in preds.items():
            cached[source] = score_and_write(
                cfg, key, source, fingerprint, data, test, pred, None, seed=0
            )
    return pd.concat([cached[s] for s in sources], ignore_index=True)


def score_and_write(
    cfg: DictConfig,
    key: str,
    source: str,
    fingerprint: str,
    data: TrajectoryData,
    test: TrajectoryData,
    pred: np.ndarray,
    var: np.ndarray | None,
    *,
    seed: int,
    sample: int = 0,
) -> pd.DataFrame:
    """Normalised MSE (and uncertainty scores) of (N, H, ds) predictions -> tidy CSV, with
    the per-dimension errors and (``sample`` > 0) the first ``sample`` test trajectories'
    predicted and true states beside it (diagnostics/, same fingerprint)."""
    horizon = pred.shape[1]
    true = test.states[:, 1 : horizon + 1]
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    mse = normalised_mse(true, pred, lo, hi)
    keys = {
        "env": cfg.env.name,
        "data": cfg.data.tag,
        "model": key,
        "variant": str(cfg.train.variant),
        "seed": seed,
        "action_source": source,
    }
    parts = [tidy_errors(mse, **keys)]
    if var is not None:
        for name, values in gaussian_scores(true, pred, var, lo, hi).items():
            parts.append(tidy_errors(values, **keys).assign(metric=name))
    frame = pd.concat(parts, ignore_index=True)
    out = metrics_path(cfg, key, source, seed)
    write_hashed_csv(out, frame, fingerprint, dataset=data.meta.get("sha256"))
    write_diagnostics(cfg, key, source, fingerprint, data, test, pred, seed=seed, sample=sample)
    final = np.nanmedian(np.where(np.isinf(mse[:, -1]), np.nan, mse[:, -1]))
    log.info(
        "%s (%s): median normalised MSE at h=%d: %s; diverged %.0f%% -> %s",
        key,
        source,
        horizon,
        fmt_number(final),
        100 * diverged(mse).mean(),
        out,
    )
    return frame


def sample_size(cfg: DictConfig) -> int:
    """``eval.sample_traj``: test trajectories whose predictions are stored (checked as
    :class:`DiagnosticSettings`)."""
    return int(typed(DiagnosticSettings, cfg.eval).sample_traj)


def write_diagnostics(
    cfg: DictConfig,
    key: str,
    source: str,
    fingerprint: str,
    data: TrajectoryData,
    test: TrajectoryData,
    pred: np.ndarray,
    *,
    seed: int,
    sample: int,
) -> None:
    """diagnostics/per_dim__<name>.csv (every dimension's error per horizon band) and, when
    ``sample`` > 0, diagnostics/sample__<name>.csv (predicted and true states of the first
    ``sample`` test trajectories), hashed with the metrics CSV's fingerprint."""
    horizon = pred.shape[1]
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    names = data.meta.get("state_names")
    variant, dataset = str(cfg.train.variant), data.meta.get("sha256")
    files = layout(cfg)
    keys = {
        "env": cfg.env.name,
        "data": cfg.data.tag,
        "model": key,
        "variant": variant,
        "seed": seed,
        "action_source": source,
    }

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([pd.DataFrame(keys, index=frame.index), frame], axis=1)

    per_dim = per_dimension_errors(test.states[:, 1 : horizon + 1], pred, lo, hi, names)
    path = files.diagnostics_csv("per_dim", key, variant, seed, source)
    write_hashed_csv(path, keyed(per_dim), fingerprint, dataset=dataset)
    path = files.diagnostics_csv("sample", key, variant, seed, source)
    if sample > 0:
        frame = prediction_sample(test.states[:, : horizon + 1], pred, sample, names)
        write_hashed_csv(path, keyed(frame), fingerprint, dataset=dataset, sample_traj=sample)
    else:
        path.unlink(missing_ok=True)


def _diagnostics_current(
    cfg: DictConfig, key: str, source: str, fingerprint: str, seed: int, sample: int
) -> bool:
    """Whether the diagnostics of one metrics CSV were written with it (and ``sample``)."""
    files, variant = layout(cfg), str(cfg.train.variant)
    per_dim = files.diagnostics_csv("per_dim", key, variant, seed, source)
    if csv_status(per_dim, fingerprint).status is not Status.CURRENT:
        return False
    path = files.diagnostics_csv("sample", key, variant, seed, source)
    if sample == 0:
        return not path.exists()
    check = csv_status(path, fingerprint, {"sample_traj": sample})
    return check.status is Status.CURRENT


def _lock(cfg: DictConfig, key: str, seed: int) -> Path:
    """The lock of every metrics CSV of (``key``, ``train.variant``, ``seed``)."""
    return layout(cfg).metrics_lock(key, str(cfg.train.variant), seed)


def _cached(
    cfg: DictConfig, key: str, source: str, fingerprint: str, seed: int, sample: int
) -> pd.DataFrame | None:
    """The existing metrics of this evaluation if they were made with the same config (and
    their diagnostics are there: a run of an earlier version computes them once)."""
    out = metrics_path(cfg, key, source, seed)
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite)):
        if not _diagnostics_current(cfg, key, source, fingerprint, seed, sample):
            log.info("Metrics %s are up to date; computing their diagnostics.", out)
            return None
        log.info("Metrics %s are up to date; skipping %s (%s).", out, key, source)
        return read_hashed_csv(out)
    return None


def render_video(cfg: DictConfig, key: str, test: TrajectoryData, pred: np.ndarray) -> None:
    """Write a true-vs-predicted video of the first test trajectory (systems whose spec has a
    ``render``: reacher)."""
    spec = find_system(str(cfg.env.name))
    render_comparison = None if spec is None else spec.render_function()
    if render_comparison is None:
        raise TrajmbrlError(f"eval.render=true needs a MuJoCo env (reacher), not {cfg.env.name}")

    horizon = pred.shape[1]
    true = test.states[0, : horizon + 1]
    full = np.concatenate([true[:1], pred[0]], axis=0)
    path = layout(cfg).video(key)
    written = render_comparison(true, full, path, title=key)
    log.info("Video of test trajectory 0 (true vs %s): %s", key, written)


def metrics_path(cfg: DictConfig, key: str, source: str, seed: int | None = None) -> Path:
    """Where the tidy CSV of one (model, variant, seed, action source) goes."""
    seed = int(cfg.seed) if seed is None else seed
    return layout(cfg).metrics_csv(key, str(cfg.train.variant), seed, source)
