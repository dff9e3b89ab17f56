"""mode=tune: equal-budget Optuna tuning of the selected keys (src/trajmbrl/tuning.py).

Per key: ``tune.trials`` seeded-TPE trials over ``tune.space.<family>``, each trained like
``mode=train`` would (the run's ``train.*`` budget and sampling) on the fit part of the training
split and scored on its held-out validation trajectories. Writes
``<run_dir>/tuning/<key>/trials.csv`` (every trial) and ``preset.yaml`` (the chosen settings, with
the study's summary); ``tune.promote=true`` also writes the preset where ``tune.preset=tuned``
reads it (:func:`preset_path`).
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from omegaconf import DictConfig

from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.artifacts import layout, load_env_dataset, provenance
from trajmbrl.modes.prediction import sampler_for
from trajmbrl.modes.settings import model_keys, model_settings, preset_path, to_dict, typed
from trajmbrl.tuning import TUNABLE, TuneSettings, space_name, tune
from trajmbrl.utils.atomic import atomic_write_text

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Tune every selected key; write its trials and preset."""
    knobs = typed(TuneSettings, cfg.tune)
    keys = model_keys(cfg)
    settings = {k: model_settings(cfg, k) for k in keys}
    spaces = to_dict(cfg.tune.space)
    for key in keys:
        if space_name(settings[key]) not in spaces:
            raise TrajmbrlError(
                f"tune.space has no search space for family {space_name(settings[key])} "
                f"(key {key}); declare tune.space.{space_name(settings[key])}"
            )
    data = load_env_dataset(cfg)
    sampler = sampler_for(cfg, [knobs.protocol])
    sampling = {k: cfg.train[k] for k in ("num_traj", "t_range", "keep_rate", "max_pairs")}
    trainer = {k: cfg.train[k] for k in ("patience", "val_fraction", "steps", "precision")}
    for key in keys:
        fixed = {k: settings[key][k] for k in TUNABLE if k in settings[key]}
        result = tune(
            key,
            data,
            spaces[space_name(settings[key])],
            knobs,
            sampler=sampler,
            sampling=sampling,
            fixed={**fixed, **trainer},
        )
        out = layout(cfg).run_dir / "tuning" / key
        atomic_write_text(out / "trials.csv", result.trials.to_csv(index=False))
        text = _preset_text(cfg, key, knobs, result.best, result.best_value)
        atomic_write_text(out / "preset.yaml", text)
        log.info("%s: best validation nMSE %.4g with %s", key, result.best_value, result.best)
        print(f"{key}: best validation nMSE {result.best_value:.4g} with {result.best}")
        print(f"  trials: {out / 'trials.csv'}; preset: {out / 'preset.yaml'}")
        if cfg.tune.promote:
            dest = preset_path(cfg, key, "tuned")
            atomic_write_text(dest, text)
            print(f"  promoted to {dest} (train / eval with tune.preset=tuned)")
        else:
            dest = preset_path(cfg, key, "tuned")
            print(f"  promote it: the same command with tune.promote=true ({dest})")


def _preset_text(
    cfg: DictConfig, key: str, knobs: TuneSettings, best: dict[str, Any], value: float
) -> str:
    """The preset YAML: the chosen settings, headed by how they were chosen."""
    commit = provenance().get("git_commit") or "unknown"
    head = [
        f"# Tuned preset of {key} on {cfg.env.name} / {cfg.env.data_tag} (trajmbrl mode=tune):",
        f"# {knobs.trials} seeded-TPE trials (seed {knobs.seed}) over tune.space."
        f"{space_name(model_settings(cfg, key))}; objective: validation nMSE on "
        f"{knobs.val_fraction:g} of the training split of {cfg.data.tag} "
        f"(protocol {knobs.protocol}),",
        f"# best {value:.6g}; commit {str(commit)[:12]}; the study: "
        f"{layout(cfg).run_dir / 'tuning' / key / 'trials.csv'}",
    ]
    body = yaml.safe_dump({k: best[k] for k in sorted(best)}, sort_keys=True)
    return "\n".join(head) + "\n" + body
