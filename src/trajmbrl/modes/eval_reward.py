"""eval.task=reward (paper 5.5): predict each held-out controller's return, rank controllers.

On a common-start test set (N controllers from each initial state, ``env.common_start``) it also
ranks the controllers within every start for every trained model seed
(``reward/common_start.csv``; :mod:`trajmbrl.evaluation.reward_ranking`)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from trajmbrl.artifacts.layout import CHECKPOINT
from trajmbrl.data.common_start import start_groups
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import diverged, normalised_mse
from trajmbrl.evaluation.returns import returns, true_returns
from trajmbrl.evaluation.reward import reward_prediction
from trajmbrl.evaluation.stats import row_label
from trajmbrl.modes.artifacts import (
    data_dims,
    eval_fingerprint,
    is_current,
    layout,
    load_env_dataset,
    model_checkpoint,
    read_result,
    write_result,
)
from trajmbrl.modes.console import command, common_start_outputs, reward_outputs
from trajmbrl.modes.prediction import (
    eval_protocols,
    predict_states,
    protocols_fingerprint,
    reward_fingerprint,
    task_reward,
)
from trajmbrl.modes.settings import device, eval_size, model_keys

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """True vs predicted returns on the test split: the selected ``models``, GP, direct NN."""
    data = load_env_dataset(cfg)
    train, test = data.train(), data.test()
    horizon = eval_size(cfg, "horizon", test.horizon)  # conf/eval/reward.yaml: all
    if horizon > test.horizon:
        raise TrajmbrlError(f"eval.horizon={horizon} exceeds the test length {test.horizon}")
    run_dir = layout(cfg).run_dir
    keys = model_keys(cfg)
    models = {k: model_checkpoint(cfg, k, data_dims(test)) for k in keys}
    out, dataset = layout(cfg).reward_csv(), data.meta.get("sha256")
    fingerprint = eval_fingerprint(
        cfg,
        horizon,
        models={k: meta["checkpoint_sha256"] for k, (_, meta) in models.items()},
        **protocols_fingerprint(cfg, eval_protocols(cfg)),
        **reward_fingerprint(cfg),
    )
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite), expect={"dataset": dataset}):
        log.info("Reward predictions %s are up to date.", out)
        return
    dev = device(cfg)
    predicted = {}
    for key, (model, _) in models.items():
        model.to(dev)
        for source, pred in predict_states(model, test, horizon, cfg).items():
            predicted[key if source == "direct" else row_label(key, source)] = pred
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    true = test.states[:, 1 : horizon + 1]
    flags = {
        k: diverged(normalised_mse(true, p[:, :horizon], lo, hi)) for k, p in predicted.items()
    }  # the horizon tables' divergence rule
    _, frame = reward_prediction(
        test,
        train,
        predicted,
        reward_fn=task_reward(cfg, train),
        seed=int(cfg.seed),
        horizon=horizon,
        diverged=flags,
    )
    write_result(out, frame, fingerprint, overwrite=bool(cfg.overwrite), dataset=dataset)
    reward_outputs(cfg, frame, run_dir)
    common = common_start(cfg, data, horizon, keys)
    if common is not None:
        common_start_outputs(cfg, common, run_dir)


def common_start_csv(cfg: DictConfig) -> Path:
    """``<run_dir>/reward/common_start.csv``: per seed, method and test trajectory."""
    return layout(cfg).reward_csv().parent / "common_start.csv"  # plot.COMMON_START


def trained_seeds(cfg: DictConfig, keys: list[str]) -> list[int]:
    """The model seeds trained for every key of ``keys`` (this run's variant), ascending."""
    found = {
        key: {
            int(p.parent.name.removeprefix("seed="))
            for p in (Path(cfg.paths.models_dir) / key / str(cfg.train.variant)).glob(
                f"seed=*/{CHECKPOINT}"
            )
        }
        for key in keys
    }
    seeds = sorted(set.intersection(*found.values())) if found else []
    if not seeds:
        raise TrajmbrlError(
            f"No model seed is trained for every one of {keys}\n"
            f"  Train them with: {command(cfg, 'train', multirun=True)}"
        )
    partial = sorted(set.union(*found.values()) - set(seeds))
    if partial:
        log.info("Seeds %s are not trained for every model; ranking seeds %s", partial, seeds)
    return seeds


def common_start(
    cfg: DictConfig, data: TrajectoryData, horizon: int, keys: list[str]
) -> pd.DataFrame | None:
    """Within-start ranking rows of every trained seed of ``keys`` and the GP baselines, when
    every test initial state has >= 2 controllers (else None: an ordinary test set)."""
    from trajmbrl.evaluation.reward_ranking import direct_return_baselines

    train, test = data.train(), data.test()
    groups = start_groups(test.states[:, 0])
    if test.num == 0 or np.bincount(groups).min() < 2:
        return None
    seeds = trained_seeds(cfg, keys)
    work = copy.deepcopy(cfg)
    checkpoints: dict[str, Any] = {}
    for seed in seeds:
        work.seed = seed
        for key in keys:
            checkpoints[f"{key}/seed={seed}"] = model_checkpoint(work, key, data_dims(test))
    out, dataset = common_start_csv(cfg), data.meta.get("sha256")
    fingerprint = eval_fingerprint(
        cfg,
        horizon,
        common_start=True,
        models={k: meta["checkpoint_sha256"] for k, (_, meta) in checkpoints.items()},
        **protocols_fingerprint(cfg, eval_protocols(cfg)),
        **reward_fingerprint(cfg),
    )
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite), expect={"dataset": dataset}):
        log.info("Common-start rankings %s are up to date.", out)
        frame: pd.DataFrame = read_result(cfg, out, f"Rank them again: {command(cfg, 'eval')}")
        return frame
    reward_fn = task_reward(cfg, train)
    true = true_returns(test, horizon, reward_fn)
    train_returns = true_returns(train, horizon, reward_fn)
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    truth = test.states[:, 1 : horizon + 1]
    dev, parts = device(cfg), []

    def rows(seed: int, method: str, pred: np.ndarray, bad: np.ndarray) -> None:
        parts.append(
            pd.DataFrame(
                {
                    "seed": seed,
                    "method": method,
                    "start": groups,
                    "traj": np.arange(test.num),
                    "true_return": true,
                    "predicted_return": pred,
                    "diverged": bad | ~np.isfinite(pred),
                }
            )
        )

    for seed in seeds:
        work.seed = seed
        for key in keys:
            model, _ = checkpoints[f"{key}/seed={seed}"]
            model.to(dev)
            for source, states in predict_states(model, test, horizon, work).items():
                label = key if source == "direct" else row_label(key, source)
                flags = diverged(normalised_mse(truth, states[:, :horizon], lo, hi))
                with np.errstate(over="ignore", invalid="ignore"):
                    rows(seed, label, returns(states[:, :horizon], reward_fn), flags)
        for name, pred in direct_return_baselines(train, train_returns, test, seed).items():
            rows(seed, name, pred, np.zeros(test.num, dtype=bool))
    frame = pd.concat(parts, ignore_index=True)
    write_result(out, frame, fingerprint, overwrite=bool(cfg.overwrite), dataset=dataset)
    log.info(
        "Ranked %d controllers from each of %d common starts, seeds %s -> %s",
        int(np.bincount(groups).min()),
        int(groups.max()) + 1,
        seeds,
        out,
    )
    return frame
