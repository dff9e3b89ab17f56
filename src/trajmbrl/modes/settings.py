"""Reading the composed config in the modes: model selection, typed values, device, progress."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig, OmegaConf

from trajmbrl.configs import conf_dir, resolve_model
from trajmbrl.configs import model_keys as registry_keys
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.utils.progress import show_progress

T = TypeVar("T")


def build(node: DictConfig) -> Any:
    """``hydra.utils.instantiate`` that lets a TrajmbrlError from the target through unwrapped
    (Hydra wraps every exception in InstantiationException, which would hide our message)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, TrajmbrlError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def check_required(cfg: DictConfig, keys: Any) -> None:
    """Raise one clear error naming every required key that is unset (null or empty)."""
    missing = [k for k in keys or [] if OmegaConf.select(cfg, k) in (None, "", [])]
    if missing:
        raise TrajmbrlError(
            f"{cfg.env.name} needs {', '.join(missing)}: set "
            + " ".join(f"{k}=..." for k in missing)
        )


def model_keys(cfg: DictConfig) -> list[str]:
    """The selected model keys (``models=t`` or ``models=[d,t]``), in the order given."""
    keys = [str(k) for k in cfg.get("models") or {}]
    if not keys:
        raise TrajmbrlError(
            "models= selects no model: pass one key (models=t) or a list "
            f"(models=[d,t]) of {registry_keys()}"
        )
    return keys


def models_override(keys: list[str]) -> str:
    """The command-line override that selects ``keys``: ``models=t`` or ``models=[d,t]``."""
    return f"models={keys[0]}" if len(keys) == 1 else f"models=[{','.join(keys)}]"


def model_settings(cfg: DictConfig, key: str) -> dict[str, Any]:
    """Everything model ``key`` means: ``conf/models/<key>.yaml`` plus the ``model.*`` and
    ``models.<key>.*`` overrides (an override that contradicts the key is rejected), then the
    settings of the tuned preset ``tune.preset`` (modes/tune.py) when one is selected."""
    node = to_dict(cfg.models[key])
    if node.get("key") != key:
        raise TrajmbrlError(f"models.{key}.key must stay {key!r}, got {node.get('key')!r}")
    try:
        merged = resolve_model(key, node, to_dict(cfg.get("model") or {}))
    except ArgumentError as exc:
        from trajmbrl.modes.schema import cli_message

        raise TrajmbrlError(cli_message(exc)) from None
    if cfg.get("tune") is not None and cfg.tune.get("preset") is not None:  # tune.preset=tuned
        merged.update(load_preset(cfg, key))
    return merged


def preset_path(cfg: DictConfig, key: str, preset: str) -> Path:
    """``<presets_dir or conf/>/<preset>/<env>/[<scale>_]<data_tag>/<key>.yaml``: a tuned
    preset of one system (a scale's presets, e.g. toy_stable, never mix with full-size ones)."""
    base = Path(cfg.tune.presets_dir) if cfg.tune.presets_dir else conf_dir()
    prefix = "" if cfg.scale_name is None else f"{cfg.scale_name}_"
    system = f"{prefix}{cfg.env.data_tag}"
    return base / preset / str(cfg.env.name) / system / f"{key}.yaml"


def load_preset(cfg: DictConfig, key: str) -> dict[str, Any]:
    """The settings of ``tune.preset`` for ``key`` ({} without a preset); a missing file names
    the command that writes it."""
    if cfg.tune.preset is None:
        return {}
    path = preset_path(cfg, key, str(cfg.tune.preset))
    if not path.exists():
        raise TrajmbrlError(
            f"tune.preset={cfg.tune.preset}: no preset {path} for {key}; write it with: trajmbrl "
            f"mode=tune envs={cfg.env.name} models={key} tune.promote=true"
        )
    import yaml

    from trajmbrl.tuning import TUNABLE

    values = yaml.safe_load(path.read_text()) or {}
    bad = sorted(set(values) - set(TUNABLE)) if isinstance(values, dict) else ["<not a mapping>"]
    if bad:
        raise TrajmbrlError(f"{path}: {bad} are not tunable settings ({', '.join(TUNABLE)})")
    return dict(values)


def typed(cls: type[T], node: DictConfig, **given: Any) -> T:
    """The library settings dataclass ``cls`` from the keys of ``node`` named like its fields
    (``given`` wins); the dataclass checks the values and names its fields in errors."""
    values = to_dict(node)
    names = {f.name for f in fields(cls)} - set(given)  # type: ignore[arg-type]
    return cls(**{k: values[k] for k in names if k in values}, **given)


def to_dict(cfg: DictConfig | Any) -> Any:
    """Resolved plain-Python copy of a config node."""
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def device(cfg: DictConfig) -> torch.device:
    """`device=cpu|cuda|auto` as a torch device."""
    name = str(cfg.device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrajmbrlError("device=cuda but no CUDA device is available (use device=auto or cpu)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise TrajmbrlError(f"device must be cpu, cuda or auto, got {name!r}")
    return torch.device(name)


def positive(cfg: DictConfig, key: str, *, allow_none: bool = True, minimum: int = 1) -> Any:
    """Read an integer config value that must be >= ``minimum``; error names the key."""
    value = OmegaConf.select(cfg, key)
    if value is None and allow_none:
        return None
    return positive_int(value, key, minimum=minimum)


def positive_int(value: Any, key: str, *, minimum: int = 1) -> int:
    """``value`` when it is an integer >= ``minimum``; otherwise an error naming ``key``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TrajmbrlError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def eval_size(cfg: DictConfig, name: str, available: int) -> int:
    """``eval.<name>`` (num_traj or horizon) when set; else the task's ``eval.up_to.<name>``
    (conf/eval/<task>.yaml) but at most ``available``; both null: ``available``."""
    value = positive(cfg, f"eval.{name}")
    if value is not None:
        return int(value)
    cap = positive(cfg, f"eval.up_to.{name}")
    return available if cap is None else min(int(cap), available)


def progress(cfg: DictConfig) -> bool:
    """Show progress bars: ``progress=true|false``, or (null) only on an interactive terminal."""
    return show_progress(cfg.progress)
