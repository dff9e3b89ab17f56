"""Where the YAML configs live, and the model keys: what each built-in key means (no Hydra, no
YAML read at run time).

A key's meaning (family, probabilistic, ensemble or not) is :data:`KEYS`; every other setting
starts from :data:`BASE`, the defaults of ``ModelSpec`` (architecture) and ``TrainConfig``
(budget). ``conf/models/<key>.yaml`` repeats the four lines that define the key
on top of the same defaults (registered with Hydra as ``model_base`` by the modes); a key that
only has a YAML (a user's own) is defined by its composed node (see :func:`resolve_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trajmbrl.errors import ArgumentError, TrajmbrlError

#: What a model key means; a config that changes one of these for a key is rejected.
IDENTITY = ("family", "probabilistic", "ensemble_size")

#: the built-in keys: one-step d / p and trajectory t / tp, deterministic or Gaussian; the
#: ``e`` keys are ensembles of 5 (family, probabilistic, ensemble_size)
KEYS: dict[str, tuple[str, bool, int]] = {
    "d": ("one_step", False, 1),
    "de": ("one_step", False, 5),
    "p": ("one_step", True, 1),
    "pe": ("one_step", True, 5),
    "t": ("trajectory", False, 1),
    "te": ("trajectory", False, 5),
    "tp": ("trajectory", True, 1),
    "tpe": ("trajectory", True, 5),
}

#: the settings every key starts from (the paper's: 3 hidden ReLU layers of 250, 40 epochs, batch
#: 256, Adam 1e-3); ModelSpec and TrainConfig take their defaults from here
BASE: dict[str, Any] = {
    "hidden": 250,
    "layers": 3,
    "epochs": 40,
    "batch_size": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
}


def conf_dir() -> Path:
    """The config directory: `conf/` at the repository root (editable install) or packaged."""
    repo = Path(__file__).resolve().parents[2] / "conf"
    return repo if (repo / "config.yaml").exists() else Path(__file__).resolve().parent / "conf"


def model_keys() -> list[str]:
    """The built-in model keys (d de p pe t te tp tpe)."""
    return sorted(KEYS)


def base_settings() -> dict[str, Any]:
    """The defaults a model key starts from: hidden, layers, epochs, batch_size, lr,
    weight_decay (:data:`BASE`)."""
    return dict(BASE)


def model_config(key: str) -> dict[str, Any]:
    """Everything built-in model ``key`` means and starts from (family, probabilistic,
    ensemble_size, hidden, ...).

    :raises TrajmbrlError: ``key`` is not a built-in key.
    """
    if key not in KEYS:
        raise TrajmbrlError(f"unknown model key {key!r}; choose one of {model_keys()}")
    return {"key": key, **dict(zip(IDENTITY, KEYS[key], strict=True)), **base_settings()}


def resolve_model(key: str, node: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings of model ``key``: its composed node with the non-null ``model.*`` overrides.

    :param node: the composed ``models.<key>`` node (the YAML file plus ``models.<key>.*``);
        for a key that is not built in, the node defines what it means.
    :param overrides: ``model.*``, applied to every selected key (null = keep the key's value).
    :raises TrajmbrlError: an override names a setting a model key does not have;
        :class:`ArgumentError` when it contradicts what the key means (family, probabilistic,
        ensemble or not).
    """
    base = model_config(key) if key in KEYS else {"key": key, **node}
    merged = {**node, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - set(base))
    if unknown:
        raise TrajmbrlError(f"{unknown[0]} is not a model setting; known: {sorted(base)}")
    for name in IDENTITY:
        value, meant = merged.get(name), base.get(name)
        if not _same_meaning(name, value, meant):
            raise ArgumentError(
                f"{{ModelSpec.{name}}}={value} contradicts {{resolve_model.key}}={key} "
                f"({name}={meant}); pick the key that means it: {_keys_with(name, value)}"
            )
    return merged


def _same_meaning(name: str, value: Any, meant: Any) -> bool:
    """Ensemble sizes agree when both are ensembles or both single; the rest must be equal."""
    if name == "ensemble_size":
        return (
            isinstance(value, int)
            and isinstance(meant, int)
            and value >= 1
            and (value > 1) == (meant > 1)
        )
    return bool(value == meant)


def _keys_with(name: str, value: Any) -> str:
    """The model keys whose ``name`` setting means ``value`` (for error messages)."""
    keys = [k for k in model_keys() if _same_meaning(name, value, model_config(k)[name])]
    return "{resolve_model.key}=" + ",".join(keys) if keys else "none"
