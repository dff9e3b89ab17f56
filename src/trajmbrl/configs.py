"""Where the YAML configs live, and the model keys they define (no Hydra needed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from trajmbrl.errors import TrajmbrlError

#: What a model key means; a config that changes one of these for a key is rejected.
IDENTITY = ("family", "probabilistic", "ensemble_size")


def conf_dir() -> Path:
    """The config directory: `conf/` at the repository root (editable install) or packaged."""
    repo = Path(__file__).resolve().parents[2] / "conf"
    return repo if (repo / "config.yaml").exists() else Path(__file__).resolve().parent / "conf"


def model_keys() -> list[str]:
    """The model keys, one per ``conf/models/<key>.yaml`` (d de p pe t te tp tpe)."""
    return sorted(p.stem for p in (conf_dir() / "models").glob("*.yaml"))


@cache
def _model_file(key: str) -> tuple[tuple[str, Any], ...]:
    path = conf_dir() / "models" / f"{key}.yaml"
    if not path.exists():
        raise TrajmbrlError(f"unknown model key {key!r}; choose one of {model_keys()}")
    with open(path) as fh:
        return tuple(yaml.safe_load(fh).items())


def model_config(key: str) -> dict[str, Any]:
    """Everything ``conf/models/<key>.yaml`` says (family, probabilistic, ensemble_size, ...)."""
    return dict(_model_file(key))


def resolve_model(key: str, node: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings of model ``key``: its composed node with the non-null ``model.*`` overrides.

    :param node: the composed ``models.<key>`` node (the YAML file plus ``models.<key>.*``).
    :param overrides: ``model.*``, applied to every selected key (null = keep the key's value).
    :raises TrajmbrlError: an override contradicts what the key means (family, probabilistic,
        ensemble or not), or names a setting the model files do not have.
    """
    base = model_config(key)
    merged = {**node, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - set(base))
    if unknown:
        raise TrajmbrlError(f"model.{unknown[0]} is not a model setting; known: {sorted(base)}")
    if merged.get("key") != key:
        raise TrajmbrlError(f"models.{key}.key must stay {key!r}, got {merged.get('key')!r}")
    for name in IDENTITY:
        value, meant = merged[name], base[name]
        if not _same_meaning(name, value, meant):
            raise TrajmbrlError(
                f"model.{name}={value} contradicts models={key} ({name}={meant}); "
                f"pick the key that means it: {_keys_with(name, value)}"
            )
    return merged


def _same_meaning(name: str, value: Any, meant: Any) -> bool:
    """Ensemble sizes agree when both are ensembles or both single; the rest must be equal."""
    if name == "ensemble_size":
        return isinstance(value, int) and value >= 1 and (value > 1) == (meant > 1)
    return bool(value == meant)


def _keys_with(name: str, value: Any) -> str:
    """The model keys whose ``name`` setting means ``value`` (for error messages)."""
    keys = [k for k in model_keys() if _same_meaning(name, value, model_config(k)[name])]
    return "models=" + ",".join(keys) if keys else "none"
