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
The checking machinery (and :func:`key`) is in utils/schema_check.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trajmbrl.errors import TrajmbrlError, wrapped_error
from trajmbrl.utils.limits import PLOT_FORMATS, SEED_MAX
from trajmbrl.utils.schema_check import all_keys, check_node, key


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
    seed: int = key(ge=0, le=SEED_MAX)


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
    seeds: list[int] = key(ge=0, le=SEED_MAX)
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
    formats: list[str] = key(choices=PLOT_FORMATS)


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
    seed: int = key(ge=0, le=SEED_MAX)
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


ENVS: dict[str, type] = {
    "cartpole": CartpoleEnv,
    "reacher": SimEnv,
    "crazyflie": SimEnv,
    "crazyflie_hw": ImportedEnv,
    "logs": ImportedEnv,
}


@dataclass
class Config:
    seed: int = key(ge=0, le=SEED_MAX)
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
        if (own := wrapped_error(exc)) is not None:  # a resolver's message (trajmbrl.root)
            raise own from None
        msg = str(exc).splitlines()[0]
        raise TrajmbrlError(f"config: {msg} (key {getattr(exc, 'full_key', '?')})") from None
    errors = check_node(Config, plain, "", _known_keys)
    env = plain.get("env") if isinstance(plain, dict) else None
    if isinstance(env, dict):
        schema = ENVS.get(str(env.get("name")), SimEnv if "id" in env else ImportedEnv)
        errors += check_node(schema, env, "env.", _known_keys)
    if errors:
        raise TrajmbrlError("\n".join(errors))


def _known_keys() -> list[str]:
    """Every known dotted key: the Config groups, then every env schema under ``env.``."""
    return all_keys(Config, "") + [k for s in set(ENVS.values()) for k in all_keys(s, "env.")]
