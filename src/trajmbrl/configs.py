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
#: ``e`` keys are ensembles of 5 (family, probabilistic, ensemble_size); the later families
#: (issue 24): tr / tre residual trajectory models, dk / dke one-step models trained with a
#: k-step loss (their own settings in :data:`KEY_SETTINGS`), sq / sqe sequence models (a GRU
#: from s_0 and theta to s_1..s_H in one pass)
KEYS: dict[str, tuple[str, bool, int]] = {
    "d": ("one_step", False, 1),
    "de": ("one_step", False, 5),
    "p": ("one_step", True, 1),
    "pe": ("one_step", True, 5),
    "t": ("trajectory", False, 1),
    "te": ("trajectory", False, 5),
    "tp": ("trajectory", True, 1),
    "tpe": ("trajectory", True, 5),
    "tr": ("trajectory", False, 1),
    "tre": ("trajectory", False, 5),
    "dk": ("one_step", False, 1),
    "dke": ("one_step", False, 5),
    "sq": ("sequence", False, 1),
    "sqe": ("sequence", False, 5),
}

#: the settings of the later families every key has, at their neutral values (the paper's
#: keys' own; ModelSpec's LATER fields): ``target`` of trajectory keys, ``unroll*`` of one-step
#: keys. A resolved key leaves them out while neutral, so the paper's keys resolve as before.
LATER: dict[str, Any] = {
    "target": "absolute",
    "unroll": 1,
    "unroll_discount": 1.0,
    "unroll_actions": "logged",
    "window": 50,
}

#: the family each LATER setting belongs to (``model.<name>`` skips keys of the other family)
LATER_FAMILY: dict[str, str] = {
    "target": "trajectory",
    "unroll": "one_step",
    "unroll_discount": "one_step",
    "unroll_actions": "one_step",
    "window": "sequence",
}

#: what the later keys set on top of :data:`BASE` (the same lines as their YAML)
KEY_SETTINGS: dict[str, dict[str, Any]] = {
    "tr": {"target": "residual"},
    "tre": {"target": "residual"},
    "dk": {"unroll": 5},
    "dke": {"unroll": 5},
    "sq": {},
    "sqe": {},
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
    """The built-in model keys (d de dk dke p pe sq sqe t te tp tpe tr tre)."""
    return sorted(KEYS)


def paper_keys() -> list[str]:
    """The paper's model keys (d de p pe t te tp tpe), which the paper's experiments select."""
    return sorted(k for k in KEYS if k not in KEY_SETTINGS)


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
    meaning = dict(zip(IDENTITY, KEYS[key], strict=True))
    return {"key": key, **meaning, **base_settings(), **KEY_SETTINGS.get(key, {})}


def resolve_model(key: str, node: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings of model ``key``: its composed node with the non-null ``model.*`` overrides.

    :param node: the composed ``models.<key>`` node (the YAML file plus ``models.<key>.*``);
        for a key that is not built in, the node defines what it means.
    :param overrides: ``model.*``, applied to every selected key (null = keep the key's value).
    :raises TrajmbrlError: an override names a setting a model key does not have;
        :class:`ArgumentError` when it contradicts what the key means (family, probabilistic,
        ensemble or not).

    The :data:`LATER` settings: an override of another family's one is skipped (``model.unroll``
    applies to the one-step keys of ``models=[d,t]``); at their neutral value they are left out
    of the result.
    """
    base = model_config(key) if key in KEYS else {"key": key, **node}
    family = node.get("family", base.get("family"))
    given = {
        k: v
        for k, v in overrides.items()
        if v is not None and not (k in LATER and LATER_FAMILY[k] != family)
    }
    merged = {**node, **given}
    known = set(base) | {k for k in LATER if LATER_FAMILY[k] == family}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise TrajmbrlError(f"{unknown[0]} is not a model setting; known: {sorted(known)}")
    for name in IDENTITY:
        value, meant = merged.get(name), base.get(name)
        if not _same_meaning(name, value, meant):
            raise ArgumentError(
                f"{{ModelSpec.{name}}}={value} contradicts {{resolve_model.key}}={key} "
                f"({name}={meant}); pick the key that means it: {_keys_with(name, value)}"
            )
    return {k: v for k, v in merged.items() if not (k in LATER and v == LATER[k])}


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
