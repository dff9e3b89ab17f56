"""mode=control (issue 13): optimise controller parameters in a learned model, prove them on the
system; one tidy CSV per (method, model, seed), then the learning-curve figure and final table
redrawn from every CSV of the env."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from trajmbrl.configs import model_config, resolve_model
from trajmbrl.control.fit import ModelRecipe
from trajmbrl.control.loop import Budget, run_control
from trajmbrl.control.methods import METHODS, NEEDS_MODEL, Settings, method_model_key
from trajmbrl.control.mpc import CEMSettings
from trajmbrl.control.search import CMASettings
from trajmbrl.control.tasks import make_task
from trajmbrl.envs.spec import find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.artifacts import is_current, write_hashed_csv
from trajmbrl.modes.settings import model_keys, models_override, positive, to_dict, typed
from trajmbrl.training.trainer import TrainConfig
from trajmbrl.utils.atomic import atomic_write_text, config_hash
from trajmbrl.utils.threads import single_thread

log = logging.getLogger("trajmbrl")


def control_dir(cfg: DictConfig) -> Path:
    """``outputs/<experiment>/<env>/control`` (``toy_control`` at ``scale=toy``)."""
    name = f"{cfg.scale_name}_control" if cfg.get("scale_name") else "control"
    return Path(cfg.paths.output_dir) / str(cfg.experiment_name) / str(cfg.env.name) / name


def model_key(cfg: DictConfig, method: str) -> str | None:
    """The key ``method`` trains (None: no model), from the one selected ``models=`` key."""
    keys = model_keys(cfg)
    if len(keys) != 1 and method in NEEDS_MODEL:
        raise TrajmbrlError(
            f"mode=control uses one model key, got {models_override(keys)}; "
            "sweep them with -m models=te,t"
        )
    return method_model_key(method, keys[0])


def recipe(cfg: DictConfig, key: str) -> ModelRecipe:
    """Model ``key`` (its YAML + the ``model.*`` overrides) with its training settings."""
    node = cfg.models[key] if key in cfg.models else model_config(key)
    s = resolve_model(key, to_dict(node), to_dict(cfg.get("model") or {}))
    train = TrainConfig(
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        lr=float(s["lr"]),
        weight_decay=float(s["weight_decay"]),
        patience=positive(cfg, "train.patience", allow_none=False),
        val_fraction=float(cfg.train.val_fraction),
        # a single model trains on all its data; resampling only diversifies ensemble members
        resample=cfg.train.resample if int(s["ensemble_size"]) > 1 else "none",
        seed=int(cfg.seed),
    )
    return ModelRecipe(key, s, train, positive(cfg, "control.max_pairs"))


def settings(cfg: DictConfig, key: str | None) -> tuple[Settings, Budget]:
    """Plain settings and budget from the `control` node (checked by the schema and by the
    dataclasses themselves)."""
    c = cfg.control
    st = typed(
        Settings,
        c,
        cma=typed(CMASettings, c.cma),
        mpc=typed(CEMSettings, c.mpc),
        recipe=recipe(cfg, key) if key else None,
    )
    return st, typed(Budget, c)


def run(cfg: DictConfig) -> None:
    """Run ``control.method`` for ``seed`` (unless up to date), then redraw the report."""
    out = control_dir(cfg)
    if not cfg.control.report_only:
        method = str(cfg.control.method)
        if method not in METHODS:
            raise TrajmbrlError(
                f"control.method={method!r} is unknown; choose one of {', '.join(METHODS)}"
            )
        key = model_key(cfg, method)
        st, budget = settings(cfg, key)
        path = out / "runs" / f"{method}__{key or 'none'}__seed={cfg.seed}.csv"
        fingerprint = _fingerprint(cfg, st)
        if is_current(path, fingerprint, overwrite=bool(cfg.overwrite)):
            log.info("Control run %s is up to date.", path)
        else:
            task = make_task(str(cfg.env.name), control_horizon(cfg))
            with single_thread():  # tiny batches: one thread is 4-10x faster on a busy host
                frame = run_control(task, method, st, budget, int(cfg.seed))
            write_hashed_csv(path, frame, fingerprint)
            last = frame.iloc[-1]
            log.info(
                "%s seed %s: true score %.3f after %d episodes (predicted %.3f), %.1f s",
                method,
                cfg.seed,
                last.true_score,
                last.episodes,
                last.predicted_score,
                last.wall_clock,
            )
    if cfg.control.report or cfg.control.report_only:
        report(out, list(cfg.plot.formats))


def control_horizon(cfg: DictConfig) -> int | None:
    """Episode length: ``control.horizon``, else the env YAML's ``env.horizon`` (None: the
    system spec's)."""
    horizon = positive(cfg, "control.horizon")
    return horizon if horizon is not None else cfg.env.get("horizon")


def _fingerprint(cfg: DictConfig, st: Settings) -> str:
    """Hash of everything that changes a run's numbers (not the report switches)."""
    control = {k: v for k, v in to_dict(cfg.control).items() if k not in ("report", "report_only")}
    spec = find_system(str(cfg.env.name))
    horizon = control_horizon(cfg)
    if control["horizon"] is None and spec is not None and horizon not in (None, spec.horizon):
        control["horizon"] = horizon  # env.horizon differs from the spec's default
    model: Any = None
    if st.recipe is not None:
        model = {"settings": st.recipe.settings, "train": st.recipe.train.to_dict()}
    return config_hash(
        {"control": control, "model": model, "seed": int(cfg.seed), "env": str(cfg.env.name)}
    )


def read_runs(out: Path) -> pd.DataFrame:
    """Every run CSV under ``out/runs`` concatenated (empty frame when none)."""
    paths = sorted((out / "runs").glob("*.csv"))
    if not paths:
        return pd.DataFrame()
    return pd.concat(
        [
            pd.read_csv(p, skiprows=1, keep_default_na=False, na_values=["", "NaN", "nan"])
            for p in paths
        ],
        ignore_index=True,
    )


def report(out: Path, formats: list[str]) -> None:
    """Learning-curve figure and final table of every run CSV under ``out``."""
    from trajmbrl.plotting.control import learning_curves
    from trajmbrl.reports.control import final_table

    frame = read_runs(out)
    if frame.empty:
        raise TrajmbrlError(f"No control runs under {out / 'runs'}; run mode=control first")
    frame["model"] = frame["model"].fillna("").astype(str)
    table = final_table(frame)
    atomic_write_text(out / "tables" / "control.csv", table.to_csv(index=False))
    env = str(frame["env"].iloc[0])
    paths = learning_curves(
        frame,
        out / "figures" / "learning_curve",
        formats=formats,
        title=f"{env}: true score vs system episodes (median over seeds)",
    )
    print(f"\nControl on {env} (last round of each seed; scores in [0, 1] except reacher):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nTable: " + str(out / "tables" / "control.csv"))
    print("Figure: " + ", ".join(str(p) for p in paths))
