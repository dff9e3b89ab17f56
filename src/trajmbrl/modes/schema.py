"""The typed config schema: every key of every group, its type and its allowed range.

ADDING A CONFIG KEY: put its default in the YAML (conf/...) and add ONE line to the group's
dataclass below, e.g. ``precision: str = key(choices=("fp32", "bf16"))`` in ``Train`` or
``allow_outliers: bool = key()`` in ``Logs``. A key that is in the YAML but not here is rejected
as unknown (so are misspelt keys and ``+group.key=...`` additions). The YAML keeps the defaults;
this module only holds types and ranges. Types: int, float (an int is accepted), bool, str,
``X | None``, ``list[X]``, ``dict[str, Any]``, ``Any`` (not checked) and a nested dataclass.
``key(optional=True)`` marks a key that some configs leave out (e.g. ``logs`` outside envs=logs).
An env gets the dataclass registered in ``ENVS`` under its name. Groups with ``Any`` (``local``)
are not checked.

:func:`validate` runs before every mode (modes/__init__.py), before anything is read or deleted.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trajmbrl.errors import TrajmbrlError


def key(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None, choices: tuple[Any, ...] | None = None,
        optional: bool = False) -> Any:
    """A schema field: bounds apply to numbers (and to each element of a list of numbers)."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "optional": optional}
    return field(default=MISSING, metadata=meta)


@dataclass
class Paths:
    root: str = key()
    data_dir: str = key()
    output_dir: str = key()
    dataset: str = key()
    run_dir: str = key()
    models_dir: str = key()


@dataclass
class Data:
    tag: str = key()
    seed: int = key(ge=0)


@dataclass
class Train:
    num_traj: int | None = key(ge=1)
    t_range: int | None = key(ge=1)
    keep_rate: float | None = key(gt=0, le=1)
    max_pairs: int | None = key(ge=1)
    val_fraction: float = key(ge=0, lt=1)
    patience: int | None = key(ge=1)
    split: str = key(choices=("trajectory", "sample"))
    steps: int | None = key(ge=1)
    precision: str = key(choices=("fp32", "bf16"))
    tensorboard: bool = key()
    resample: str = key(choices=("bootstrap", "kfold", "none"))
    elites: int | None = key(ge=1)
    variant: str = key()


@dataclass
class Grid:
    batched: bool = key()
    num_traj: list[int] = key(ge=1)
    t_range: list[int] = key(ge=1)
    seeds: list[int] = key(ge=0)
    chunk: int = key(ge=1)


@dataclass
class Eval:
    task: str = key(choices=("horizon", "efficiency", "reward"))
    baselines: list[str] | str = key()  # a list of keys, or `all`
    num_traj: int | None = key(ge=1)
    horizon: int | None = key(ge=1)
    protocols: list[str] = key(choices=("logged", "controller"))
    propagation: str = key(choices=("mean", "ts1", "tsinf"))
    particles: int = key(ge=1)
    render: bool = key()


@dataclass
class Plot:
    horizons: list[int] = key(ge=1)
    rows: list[str] | None = key()
    formats: list[str] = key()


@dataclass
class Model:
    """One model key (``models.<key>``, conf/models/<key>.yaml)."""

    family: str = key(choices=("one_step", "trajectory"))
    probabilistic: bool = key()
    ensemble_size: int = key(ge=1)
    hidden: int = key(ge=1)
    layers: int = key(ge=1)
    epochs: int = key(ge=1)
    batch_size: int = key(ge=1)
    lr: float = key(gt=0)
    weight_decay: float = key(ge=0)
    key: str = key()  # last: the field name shadows key() in this class body


@dataclass
class ModelOverrides:
    """``model.*``: applied to every selected key; null keeps the key's own value."""

    family: str | None = key(choices=("one_step", "trajectory"))
    probabilistic: bool | None = key()
    ensemble_size: int | None = key(ge=1)
    hidden: int | None = key(ge=1)
    layers: int | None = key(ge=1)
    epochs: int | None = key(ge=1)
    batch_size: int | None = key(ge=1)
    lr: float | None = key(gt=0)
    weight_decay: float | None = key(ge=0)


@dataclass
class Mode:
    name: str = key()


@dataclass
class SimEnv:
    """A simulated env: a gymnasium id and a controller sampler (``_target_`` node)."""

    name: str = key()
    id: str = key()
    kwargs: dict[str, Any] = key()
    horizon: int = key(ge=1)
    num_train: int = key(ge=0)
    num_test: int = key(ge=0)
    data_tag: str = key()
    state_indices: list[int] | None = key(ge=0)
    sampler: dict[str, Any] = key()


@dataclass
class CartpoleEnv(SimEnv):
    data_mode: str = key(choices=("stable", "unstable", "periodic"))


@dataclass
class ImportedEnv:
    """An env read from files by an importer (``_target_`` node)."""

    name: str = key()
    data_tag: str = key()
    importer: dict[str, Any] = key()
    required: list[str] = key(optional=True)
    # set for every env by scale=toy and experiment files; importers do not use them
    horizon: int = key(ge=1, optional=True)
    num_train: int = key(ge=0, optional=True)
    num_test: int = key(ge=0, optional=True)


@dataclass
class Logs:
    path: str | None = key()
    name: str = key()
    state: list[str] = key()
    action: list[str] = key()
    theta: list[str] = key()
    episode: str | None = key()
    time: str | None = key()
    test_fraction: float = key(gt=0, lt=1)
    seed: int = key(ge=0)
    min_length: int = key(ge=2)
    allow_outliers: bool = key()


@dataclass
class ControlCMA:
    popsize: int = key(ge=2)
    iterations: int = key(ge=1)
    sigma: float = key(gt=0, le=1)


@dataclass
class ControlMPC:
    horizon: int = key(ge=1)
    population: int = key(ge=1)
    elites: int = key(ge=1)
    iterations: int = key(ge=1)
    particles: int = key(ge=1)
    alpha: float = key(ge=0, lt=1)


@dataclass
class Control:
    """mode=control (conf/control/default.yaml; methods checked by the mode)."""

    method: str = key()
    random_episodes: int = key(ge=3)
    chosen_episodes: int = key(ge=2)
    rounds: int = key(ge=1)
    eval_episodes: int = key(ge=1)
    curve_episodes: int | None = key(ge=1)
    init_states: int = key(ge=1)
    horizon: int | None = key(ge=2)
    kappa: float = key(ge=0)
    explore_std: float = key(ge=0)
    replan_every: int | None = key(ge=1)
    bo_sampler: str = key(choices=("gp", "tpe"))
    max_pairs: int | None = key(ge=1)
    report: bool = key()
    report_only: bool = key()
    cma: ControlCMA = key()
    mpc: ControlMPC = key()


ENVS: dict[str, type] = {"cartpole": CartpoleEnv, "reacher": SimEnv, "crazyflie": SimEnv,
                         "crazyflie_hw": ImportedEnv, "logs": ImportedEnv}


@dataclass
class Config:
    seed: int = key(ge=0)
    device: str = key()
    overwrite: bool = key()
    progress: bool | None = key()
    experiment_name: str = key()
    scale_name: str | None = key()
    paths: Paths = key()
    data: Data = key()
    train: Train = key()
    grid: Grid = key()
    eval: Eval = key()
    plot: Plot = key()
    model: ModelOverrides = key()
    models: dict[str, Model] = key()  # the selected keys (models=t or models=[d,t])
    mode: Mode = key()
    env: Any = key()  # checked against ENVS[env.name]
    logs: Logs = key(optional=True)  # envs=logs only
    local: Any = key(optional=True)  # site settings (conf/local/default.yaml)
    control: Control = key()


def validate(cfg: DictConfig) -> None:
    """Check the composed config against :class:`Config`.

    :raises TrajmbrlError: one line per problem, each naming the key (e.g. ``seed``).
    """
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        msg = str(exc).splitlines()[0]
        raise TrajmbrlError(f"config: {msg} (key {getattr(exc, 'full_key', '?')})") from None
    errors = _check_node(Config, plain, "")
    env = plain.get("env") if isinstance(plain, dict) else None
    if isinstance(env, dict):
        schema = ENVS.get(str(env.get("name")), SimEnv if "id" in env else ImportedEnv)
        errors += _check_node(schema, env, "env.")
    if errors:
        raise TrajmbrlError("\n".join(errors))


def _check_node(schema: type, node: Any, prefix: str) -> list[str]:
    """Problems of ``node`` (a plain dict) against the dataclass ``schema``."""
    if not isinstance(node, dict):
        return [f"config key {prefix.rstrip('.') or '<root>'} must be a group of keys, "
                f"got {node!r}"]
    hints = typing.get_type_hints(schema)
    known = {f.name: f for f in fields(schema)}
    errors = []
    for name in node:
        if name not in known:
            errors.append(_unknown(f"{prefix}{name}", schema, prefix))
    for name, spec in known.items():
        full = f"{prefix}{name}"
        if name not in node:
            if not spec.metadata.get("optional"):
                errors.append(f"config key {full} is missing (it has no default in conf/)")
            continue
        tp = hints[name]
        if tp is Any:
            continue
        if is_dataclass(tp):
            errors += _check_node(tp, node[name], f"{full}.")
            continue
        item = typing.get_args(tp)[-1] if typing.get_origin(tp) is dict else None
        if is_dataclass(item) and isinstance(node[name], dict):
            for sub, value in node[name].items():
                errors += _check_node(item, value, f"{full}.{sub}.")
            continue
        problem = _check_value(tp, node[name], spec.metadata)
        if problem:
            errors.append(f"config key {full} {problem}, got {node[name]!r}")
    return errors


def _unknown(full: str, schema: type, prefix: str) -> str:
    """'unknown config key' naming the closest known key (same leaf name in any group first)."""
    leaf = full.rsplit(".", 1)[-1]
    known = _all_keys(Config, "") + [k for s in set(ENVS.values()) for k in _all_keys(s, "env.")]
    by_leaf: dict[str, str] = {}
    for k in known:  # the first group that has the name wins (model.epochs over models.*)
        by_leaf.setdefault(k.rsplit(".", 1)[-1], k)
    close = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)
    if close and by_leaf[close[0]] == full:
        hint = " (not a key of this env)"
    elif close:
        hint = f" (did you mean {by_leaf[close[0]]}?)"
    else:
        near = difflib.get_close_matches(full, [f"{prefix}{f.name}" for f in fields(schema)],
                                         n=1, cutoff=0.8)
        hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown config key {full}{hint}; the known keys are listed in modes/schema.py"


def _all_keys(schema: type, prefix: str) -> list[str]:
    hints = typing.get_type_hints(schema)
    out = []
    for f in fields(schema):
        tp = hints[f.name]
        item = typing.get_args(tp)[-1] if typing.get_origin(tp) is dict else None
        if is_dataclass(item):
            out += _all_keys(item, f"{prefix}{f.name}.<key>.")
        elif is_dataclass(tp):
            out += _all_keys(tp, f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _describe(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) is list:
        return f"a list of {_describe(typing.get_args(tp)[0]).split(' ', 1)[-1]}s"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return names.get(tp, str(tp))


def _check_value(tp: Any, value: Any, meta: Any) -> str | None:
    """Why ``value`` does not fit the type ``tp`` and the bounds in ``meta`` (None if it does)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_check_value(a, value, meta) for a in args if a is not type(None)]
        if None in problems:
            return None
        return " or ".join([problems[0], *(p.removeprefix("must be ") for p in problems[1:])])
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            return f"must be {_describe(tp)} (e.g. [a, b])"
        for item in value:
            problem = _check_value(args[0], item, meta)
            if problem:
                return f"must be {_describe(tp)}, each {problem.removeprefix('must be ')}"
        return None
    if typing.get_origin(tp) is dict:
        return None if isinstance(value, dict) else f"must be {_describe(tp)}"
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str | int) and not isinstance(value, bool),
    }[tp]
    if not ok:
        return f"must be {_describe(tp)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}"
    if tp in (int, float) and not _in_bounds(value, meta):
        return f"must be {_describe(tp)}{_bounds(meta)}"
    return None


def _in_bounds(value: float, meta: Any) -> bool:
    return not ((meta.get("ge") is not None and value < meta["ge"])
                or (meta.get("gt") is not None and value <= meta["gt"])
                or (meta.get("le") is not None and value > meta["le"])
                or (meta.get("lt") is not None and value >= meta["lt"])
                or value != value)  # NaN


def _bounds(meta: Any) -> str:
    ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
    parts = [f"{sym} {meta[k]}" for k, sym in ops if meta.get(k) is not None]
    return f" {' and '.join(parts)}" if parts else ""
