"""mode=collect: roll out the env's controllers (or import logs) into a dataset file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
from omegaconf import DictConfig

from trajmbrl.artifacts.status import Status, dataset_status
from trajmbrl.controllers.declared import is_declared
from trajmbrl.data.collect import collect
from trajmbrl.data.storage import TrajectoryData, save_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.artifacts import claimed, layout, provenance
from trajmbrl.modes.settings import build, check_required, positive, to_dict, typed
from trajmbrl.utils.atomic import config_hash, sha256_file

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Collect (or import) the dataset at ``paths.dataset`` unless an identical one exists."""
    check_required(cfg, cfg.env.get("required"))
    files = layout(cfg)
    npz, js = files.dataset_files()
    fingerprint = _fingerprint(cfg)

    def done() -> bool:
        return not cfg.overwrite and _up_to_date(npz, js, fingerprint)

    with claimed(files.dataset_lock(), f"dataset {npz}", done) as finished:  # one writer
        if not finished:
            _collect(cfg, fingerprint)


def _fingerprint(cfg: DictConfig) -> str:
    """What makes a dataset the same: the env config, the data seed, an imported file's hash."""
    env_cfg = to_dict(cfg.env)
    importer = env_cfg.get("importer", {})
    # keys added later (a declared controller, a reward column) enter the hash only when set,
    # so logs imported before them keep their fingerprint
    if "controller" in importer and not is_declared(importer["controller"]):
        del importer["controller"]
    if importer.get("columns", {}).get("reward", 0) is None:
        del importer["columns"]["reward"]
    source = importer.get("path")
    return config_hash(
        {
            "env": env_cfg,
            "data_seed": cfg.data.seed,
            # imported logs: a changed source file is new data
            "source_sha256": sha256_file(source) if source and Path(source).is_file() else None,
        }
    )


def _collect(cfg: DictConfig, fingerprint: str) -> None:
    npz, js = layout(cfg).dataset_files()
    orphan = npz.exists() and not js.exists()  # a collect killed between its two writes
    if orphan:
        log.info("Dataset %s has no manifest (interrupted collect); collecting it again.", npz)
    if "importer" in cfg.env:
        data, extra = build(cfg.env.importer)
    else:
        data, extra = _simulate(cfg)
    manifest: dict[str, Any] = {
        "env": cfg.env.name,
        "data_tag": cfg.data.tag,
        "data_seed": cfg.data.seed,
        "data_mode": cfg.env.get("data_mode"),
        "config_hash": fingerprint,
        "config": to_dict(cfg),
        **extra,
        **provenance(),
    }
    path = save_dataset(data, npz, manifest, overwrite=bool(cfg.overwrite) or orphan)
    _log_written(path, data, extra.get("collect_report"))


def _up_to_date(npz: Path, js: Path, fingerprint: str) -> bool:
    """True when the existing dataset is intact and from this config (nothing to do), False
    when there is none (or only an interrupted write); otherwise raise, as it must not be
    replaced silently (edited or another config)."""
    check = dataset_status(npz, js, fingerprint)
    if check.done:
        log.info("Dataset %s already collected with this config; nothing to do.", npz)
        return True
    if check.status is Status.MISSING:
        return False
    if check.status is Status.DAMAGED:
        raise TrajmbrlError(
            f"Dataset {npz} does not match its manifest (interrupted or edited).\n"
            "  Pass overwrite=true to collect it again."
        )
    raise TrajmbrlError(
        f"Dataset {npz} exists but was collected with a different config.\n"
        "  Pass overwrite=true to replace it, or data.tag=<name> to write a new one."
    )


def _log_written(path: Path, data: TrajectoryData, report: dict[str, Any] | None) -> None:
    """Log the written dataset's size and, for simulated data, the collection report."""
    log.info(
        "Wrote %s: %d train + %d test trajectories x %d steps (state %d, action %d, theta %d)",
        path,
        manifest_count(data.split, 0),
        manifest_count(data.split, 1),
        data.horizon,
        data.state_dim,
        data.action_dim,
        data.param_dim,
    )
    if report:
        log.info(
            "Accepted %d, rejected %d (acceptance %.1f%%), %.0f env steps/s",
            report["accepted"],
            report["rejected"],
            100 * report["acceptance_rate"],
            report["steps_per_second"] or 0.0,
        )
        if report.get("diverged_share") is not None:
            log.info(
                "Diverged (left the safe region, incl. rejected attempts): %.1f%% of %d rollouts",
                100 * report["diverged_share"],
                report["accepted"] + report["rejected"],
            )


def _simulate(cfg: DictConfig) -> tuple[Any, dict[str, Any]]:
    """Roll out the configured controller sampler in the configured gymnasium env."""
    num_train = positive(cfg, "env.num_train", allow_none=False, minimum=0)
    num_test = positive(cfg, "env.num_test", allow_none=False, minimum=0)
    if cfg.env.get("common_start") is not None:
        num_test = 0  # the test split comes from common starts (_common_start)
    horizon = positive(cfg, "env.horizon", allow_none=False)
    sampler = build(cfg.env.sampler)
    env_kwargs = dict(to_dict(cfg.env.kwargs) or {})
    env_kwargs.update(getattr(sampler, "env_overrides", lambda: {})())
    indices = to_dict(cfg.env.state_indices)
    data, report = collect(
        cfg.env.id,
        sampler,
        num_train=num_train,
        num_test=num_test,
        horizon=horizon,
        seed=int(cfg.data.seed),
        env_kwargs=env_kwargs,
        state_indices=indices,
        progress=cfg.progress,
    )
    env = gym.make(cfg.env.id, **env_kwargs).unwrapped
    state_names = list(getattr(env, "state_names", []))
    if indices is not None and state_names:
        state_names = [state_names[i] for i in indices]
    extra = {
        "env_id": cfg.env.id,
        "env_kwargs": env_kwargs,
        "state_names": state_names,
        "action_names": list(getattr(env, "action_names", [])),
        "param_names": list(sampler.param_names),
        "controller": sampler.describe(),
        "collect_report": report.to_dict(),
    }
    env.close()
    if cfg.env.get("common_start") is not None:  # 5.5: the test split from common starts
        data, extra["common_start"] = _common_start(cfg, data, sampler, env_kwargs, indices)
    return data, extra


def _common_start(
    cfg: DictConfig, data: Any, sampler: Any, env_kwargs: dict[str, Any], indices: Any
) -> tuple[Any, dict[str, Any]]:
    """Replace the test split by ``env.common_start.controllers`` controllers run from each of
    ``env.common_start.states`` initial states (:mod:`trajmbrl.data.common_start`)."""
    from trajmbrl.data.common_start import CommonStart, collect_common_start, concat

    unknown = sorted(set(cfg.env.common_start) - {"states", "controllers"})
    if unknown:
        raise TrajmbrlError(
            f"unknown key env.common_start.{unknown[0]}; env.common_start takes states and "
            "controllers"
        )
    shape = typed(CommonStart, cfg.env.common_start)
    test, report = collect_common_start(
        cfg.env.id,
        sampler,
        shape,
        horizon=positive(cfg, "env.horizon", allow_none=False),
        seed=int(cfg.data.seed),
        env_kwargs=env_kwargs,
        state_indices=indices,
        progress=cfg.progress,
    )
    log.info(
        "Common-start test set: %d controllers from each of %d initial states (%d rejected)",
        shape.controllers,
        shape.states,
        report["rejected"],
    )
    return concat(data.train(), test), report


def manifest_count(split: Any, value: int) -> int:
    return int((split == value).sum())
