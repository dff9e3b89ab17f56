"""The typed config schema: every key of every group, its type and its allowed range.

A knob the library takes is declared ONCE, in the library's settings dataclass (type, range,
doc: ``TrainConfig``, ``Sampling``, ``PredictSettings``, ``ModelSpec``, ``Budget``,
``Settings``, ``CMASettings``, ``CEMSettings``); the groups here take those fields
(:func:`~trajmbrl.utils.schema_check.take`), so the CLI checks exactly what the library
checks, and a library error naming ``{TrainConfig.patience}`` is shown as ``train.patience``
(:func:`cli_names`). Its default is in the YAML (conf/...).

ADDING A CONFIG KEY: put its default in the YAML and either add a :func:`setting` field to the
library dataclass the key feeds plus its name in a ``take(...)`` below, or, for a CLI-only key,
one ``own("name", type, key(...))`` part (``allow_outliers: bool = key()`` in a static group such
as ``Logs``). A key that is in the YAML but not here is rejected as unknown (so are misspelt
keys and ``+group.key=...`` additions). Types: int, float (an int is accepted), bool, str,
``Literal[...]``, ``X | None``, ``list[X]``, ``dict[str, Any]``, ``Any`` (not checked) and a
nested dataclass. ``key(optional=True)`` marks a key that some configs leave out (e.g. ``logs``
outside envs=logs). An env gets the dataclass registered in ``ENVS`` under its name; any other
env with an ``id`` or a ``system`` (a SystemSpec's YAML, envs/spec.py) is a ``SimEnv``. Groups
with ``Any`` (``local``) are not checked.

:func:`validate` runs before every mode (modes/__init__.py), before anything is read or deleted.
The checking machinery (and :func:`key`) is in utils/schema_check.py.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from functools import cache
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from trajmbrl.artifacts.store import StoreSettings
from trajmbrl.control.loop import Budget
from trajmbrl.control.methods import Settings
from trajmbrl.control.mpc import CEMSettings
from trajmbrl.control.search import CMASettings
from trajmbrl.control.tuning import Tuning
from trajmbrl.data.pairs import Sampling
from trajmbrl.errors import ArgumentError, TrajmbrlError, wrapped_error
from trajmbrl.evaluation.diagnostics import DiagnosticSettings
from trajmbrl.evaluation.predict import PredictSettings
from trajmbrl.models.dynamics import ModelSpec
from trajmbrl.reports.benchmark import BenchmarkSettings
from trajmbrl.training.config import TrainConfig
from trajmbrl.tuning import TuneSettings
from trajmbrl.utils.limits import PLOT_FORMATS, SEED_MAX
from trajmbrl.utils.schema_check import all_keys, check_node, group, key, own, sources, take


@dataclass
class Paths:
    root: str = key()
    data_dir: str = key()
    output_dir: str = key()
    dataset: str = key()
    run_dir: str = key()
    models_dir: str = key()
    models_store: str = key()


@dataclass
class Data:
    tag: str = key()
    seed: int = key(ge=0, le=SEED_MAX)


Train = group(
    "Train",
    take(Sampling, "num_traj", "t_range", "keep_rate", "max_pairs"),
    take(TrainConfig, "val_fraction", "patience", "split", "steps", "precision"),
    own("tensorboard", bool, key()),
    take(TrainConfig, "resample", "elites"),
    own("variant", str, key()),
    take(StoreSettings, "reuse"),
)


@dataclass
class Grid:
    batched: bool = key()
    num_traj: list[int] = key(ge=1)
    t_range: list[int] = key(ge=1)
    seeds: list[int] = key(ge=0, le=SEED_MAX)
    chunk: int = key(ge=1)
    snapshots: list[int] = key(ge=1, optional=True)  # budgets/steps=<k>/ (issue 21)


#: the eval tasks, one config each (``eval=<task>``, conf/eval/<task>.yaml, which sets
#: ``eval.task`` and the task's defaults) -> the mode module that runs it
EVAL_TASKS = {"horizon": "evaluate", "efficiency": "eval_efficiency", "reward": "eval_reward"}


@dataclass
class EvalUpTo:
    """``eval.up_to``: the task's sizes where ``eval.num_traj`` / ``eval.horizon`` are null."""

    num_traj: int | None = key(ge=1)
    horizon: int | None = key(ge=1)


#: the eval tasks' shared keys; how models are rolled out is PredictSettings' (with
#: train.precision)
Eval = group(
    "Eval",
    own("task", str, key(choices=tuple(EVAL_TASKS))),  # set by eval=<task> (conf/eval/<task>.yaml)
    own("up_to", EvalUpTo, key()),
    own("baselines", list[str] | str, key()),  # a list of keys, or `all`
    own("num_traj", int | None, key(ge=1)),
    own("horizon", int | None, key(ge=1)),
    take(PredictSettings, "protocols", "propagation", "particles"),
    own("render", bool, key()),
    take(DiagnosticSettings, "sample_traj"),
)


@dataclass
class Plot:
    horizons: list[int] = key(ge=1)
    rows: list[str] | None = key()
    formats: list[str] = key(choices=PLOT_FORMATS)


#: what a model key sets: its architecture (ModelSpec) and its training budget (TrainConfig)
_MODEL = (
    ("family", "probabilistic", "ensemble_size", "hidden", "layers"),
    ("epochs", "batch_size", "lr", "weight_decay"),
)

#: the later families' settings (configs.LATER): a key's YAML has those of its family only
_LATER = ("target", "unroll", "unroll_discount", "unroll_actions", "window")


def _optional(parts: list[Any]) -> list[Any]:
    """``parts`` that a config may leave out (``key(optional=True)``)."""
    return [
        (n, tp, field(default=MISSING, metadata={**f.metadata, "optional": True}))
        for n, tp, f in parts
    ]


#: one model key (``models.<key>``, conf/models/<key>.yaml)
Model = group(
    "Model",
    take(ModelSpec, *_MODEL[0]),
    take(TrainConfig, *_MODEL[1]),
    own("key", str, key()),
    _optional(take(ModelSpec, *_LATER)),
)

#: ``model.*``: applied to every selected key; null keeps the key's own value (the later
#: families' settings apply to the keys of their family only)
ModelOverrides = group(
    "ModelOverrides",
    take(ModelSpec, *_MODEL[0], nullable=True),
    take(TrainConfig, *_MODEL[1], nullable=True),
    take(ModelSpec, *_LATER, nullable=True),
)


@dataclass
class Mode:
    name: str = key()


@dataclass
class Controller:
    """A declared controller (controllers/declared.py): ``logs.controller``, ``env.controller``."""

    family: str | None = key(choices=("linear", "pd"))
    theta: list[str] = key(optional=True)  # envs=gym: theta's names, and its box:
    theta_low: list[float] = key(optional=True)
    theta_high: list[float] = key(optional=True)
    theta_map: dict[str, Any] | None = key()
    position: Any = key()
    velocity: Any = key()
    action_low: list[float] | None = key()
    action_high: list[float] | None = key()
    _target_: str | None = key()
    kwargs: dict[str, Any] | None = key()


@dataclass
class SimEnv:
    """A simulated env: a gymnasium id and a controller sampler (``_target_`` node)."""

    name: str = key()
    system: str = key(optional=True)  # import path of the module that defines its SystemSpec
    id: str = key()
    kwargs: dict[str, Any] = key()
    horizon: int = key(ge=1)
    num_train: int = key(ge=0)
    num_test: int = key(ge=0)
    data_tag: str = key()
    state_indices: list[int] | None = key(ge=0)
    sampler: dict[str, Any] = key()
    # 5.5: the test split as env.common_start.controllers controllers from each of
    # env.common_start.states initial states (data/common_start.py CommonStart; null: off)
    common_start: dict[str, Any] | None = key(optional=True)


@dataclass
class CartpoleEnv(SimEnv):
    data_mode: str = key(choices=("stable", "unstable", "periodic"))


@dataclass
class GymEnv(SimEnv):
    """envs=gym: any Gymnasium env by its id (envs/gym.py), its controller and reward."""

    controller: Controller = key()
    reward: str = key()
    reward_weights: dict[str, Any] | None = key()


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
    reward: str | None = key()
    reward_fn: str | None = key()
    reward_weights: dict[str, Any] | None = key()
    controller: Controller = key()


ControlCMA = group("ControlCMA", take(CMASettings, "popsize", "iterations", "sigma"))
ControlMPC = group(
    "ControlMPC",
    take(CEMSettings, "horizon", "population", "elites", "iterations", "particles", "alpha"),
)

ControlTune = group("ControlTune", take(Tuning, "values", "hidden", "seeds"))

#: mode=control (conf/control/default.yaml; methods checked by the mode)
Control = group(
    "Control",
    own("method", str, key()),
    take(Budget, "random_episodes", "chosen_episodes", "rounds", "eval_episodes"),
    take(Budget, "curve_episodes", "init_states"),
    own("horizon", int | None, key(ge=2)),
    take(Settings, "kappa", "explore_std", "replan_every", "bo_sampler"),
    own("max_pairs", int | None, key(ge=1)),
    own("report", bool, key()),
    own("report_only", bool, key()),
    own("cma", ControlCMA, key()),
    own("mpc", ControlMPC, key()),
    own("tune", ControlTune, key()),
)


#: mode=leaderboard (conf/benchmark/default.yaml; the statistics are BenchmarkSettings')
Benchmark = group(
    "Benchmark",
    own("datasets", list[int], key(ge=0, le=SEED_MAX)),
    own("seeds", list[int], key(ge=0, le=SEED_MAX)),
    own("settings", list[str], key()),
    take(BenchmarkSettings, "replicates", "level", "alpha", "seed"),
)


#: mode=tune and tuned presets (conf/tune/default.yaml; the search space checked by the tuner)
Tune = group(
    "Tune",
    take(TuneSettings, "trials", "val_fraction", "seed", "protocol"),
    own("promote", bool, key()),
    own("preset", str | None, key()),
    own("presets_dir", str | None, key()),
    own("space", dict[str, Any], key()),
)


#: envs whose schema is not SimEnv (every SystemSpec's YAML is a SimEnv)
ENVS: dict[str, type] = {
    "cartpole": CartpoleEnv,
    "cartpole_heavy": CartpoleEnv,
    "crazyflie_hw": ImportedEnv,
    "logs": ImportedEnv,
    "gym": GymEnv,
}


Config = group(
    "Config",
    own("seed", int, key(ge=0, le=SEED_MAX)),
    own("device", str, key()),
    own("overwrite", bool, key()),
    own("progress", bool | None, key()),
    own("dry_run", bool, key()),
    own("experiment_name", str, key()),
    own("scale_name", str | None, key()),
    own("paths", Paths, key()),
    own("data", Data, key()),
    own("train", Train, key()),
    own("grid", Grid, key()),
    own("eval", Eval, key()),
    own("plot", Plot, key()),
    own("model", ModelOverrides, key()),
    own("models", dict[str, Model], key()),  # type: ignore[valid-type]  # models=t, [d,t]
    own("mode", Mode, key()),
    own("env", Any, key()),  # checked against ENVS[env.name]
    own("logs", Logs, key(optional=True)),  # envs=logs only
    own("local", Any, key(optional=True)),  # site settings (conf/local/default.yaml)
    own("control", Control, key()),
    own("benchmark", Benchmark, key()),
    own("tune", Tune, key()),
)

#: library arguments that are not fields of a settings dataclass -> their CLI key (the fields
#: map through the schema itself, see :func:`cli_names`)
ARGUMENTS = {
    "PredictSettings.precision": "train.precision",  # a field, but the key is TrainConfig's
    "CurveLog.tensorboard": "train.tensorboard",
    "baseline_predictions.key": "eval.baselines",
    "cell_baseline_predictions.key": "eval.baselines",
    "collect_common_start.horizon": "env.horizon",
    "CommonStart.states": "env.common_start.states",
    "CommonStart.controllers": "env.common_start.controllers",
    "closed_loop_rollout.protocols": "eval.protocols",
    "ModelEnv.propagation": "eval.propagation",
    "select_eval_trajectories.k": "eval.num_traj",
    "efficiency_scores.horizon": "eval.horizon",
    "true_returns.horizon": "eval.horizon",
    "reward_prediction.horizon": "eval.horizon",
    "make_task.horizon": "control.horizon",
    "resolve_model.key": "models",
    "make_method.name": "control.method",
    "BayesOpt.sampler": "control.bo_sampler",
    "tune.space": "tune.space",
    "LogColumns.state": "logs.state",
    "LogColumns.action": "logs.action",
    "episodes_from_table.allow_outliers": "logs.allow_outliers",
}


@cache
def cli_names() -> dict[str, str]:
    """Library argument (``Owner.name``) -> CLI key: the fields the schema takes from the
    settings dataclasses (e.g. ``TrainConfig.patience`` -> ``train.patience``), then
    :data:`ARGUMENTS`."""
    return {**sources(Config), **ARGUMENTS}


def cli_message(exc: ArgumentError) -> str:
    """The message of a library argument error as the CLI says it (naming config keys)."""
    return exc.named(cli_names())


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
        sim = "id" in env or "system" in env
        schema = ENVS.get(str(env.get("name")), SimEnv if sim else ImportedEnv)
        errors += check_node(schema, env, "env.", _known_keys)
    if errors:
        raise TrajmbrlError("\n".join(errors))


def _known_keys() -> list[str]:
    """Every known dotted key: the Config groups, then every env schema under ``env.``."""
    return all_keys(Config, "") + [k for s in set(ENVS.values()) for k in all_keys(s, "env.")]
