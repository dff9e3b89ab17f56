"""The modes. Only this package (and cli.py) reads Hydra's DictConfig."""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf


def _or_all(value: object) -> str:
    return "all" if value is None else str(value)


def _keys(models: object) -> str:
    """``d-t`` for the selected ``models`` node (names Hydra's run directory)."""
    return "-".join(str(k) for k in models) if isinstance(models, DictConfig) else str(models)


def _prefix(value: object) -> str:
    """``toy_`` for the scale name ``toy``, ``""`` for none (prefixes data tags)."""
    return "" if value is None else f"{value}_"


def _suffix(value: object) -> str:
    """``_tuned`` for the preset ``tuned``, ``""`` for none (suffixes ``train.variant``)."""
    return "" if value is None else f"_{value}"


def _root(value: object) -> str:
    """``paths.root`` as given; refused when empty (``TRAJMBRL_ROOT=''``: the file-system root)."""
    if str(value).strip() == "":
        from trajmbrl.errors import TrajmbrlError

        raise TrajmbrlError(
            "config key paths.root must not be empty (is TRAJMBRL_ROOT set but empty?)"
        )
    return str(value)


#: longest sweep sub-directory name kept as it is (file systems allow 255 bytes)
DIRNAME_MAX = 120


def _dirname(overrides: object) -> str:
    """A sweep job's sub-directory: Hydra's override string, or (when longer than
    :data:`DIRNAME_MAX`, e.g. ten overrides of a control study) its start and a hash of the
    whole, so the name stays unique and below the file system's limit."""
    import hashlib

    text = str(overrides)
    if len(text) <= DIRNAME_MAX:
        return text
    return f"{text[: DIRNAME_MAX - 15]}...{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _slug(value: object) -> str:
    """A Gymnasium id as a file name (``env.data_tag`` of envs=gym)."""
    from trajmbrl.envs.gym import slug

    return slug(str(value))


def register_resolvers() -> None:
    """Register the config resolvers the YAML files use, and ``model_base`` (idempotent)."""
    if not OmegaConf.has_resolver("trajmbrl.or_all"):
        OmegaConf.register_new_resolver("trajmbrl.or_all", _or_all)
    if not OmegaConf.has_resolver("trajmbrl.keys"):
        OmegaConf.register_new_resolver("trajmbrl.keys", _keys)
    if not OmegaConf.has_resolver("trajmbrl.prefix"):
        OmegaConf.register_new_resolver("trajmbrl.prefix", _prefix)
    if not OmegaConf.has_resolver("trajmbrl.suffix"):
        OmegaConf.register_new_resolver("trajmbrl.suffix", _suffix)
    if not OmegaConf.has_resolver("trajmbrl.root"):
        OmegaConf.register_new_resolver("trajmbrl.root", _root)
    if not OmegaConf.has_resolver("trajmbrl.dirname"):
        OmegaConf.register_new_resolver("trajmbrl.dirname", _dirname)
    if not OmegaConf.has_resolver("trajmbrl.slug"):
        OmegaConf.register_new_resolver("trajmbrl.slug", _slug)
    register_model_base()


def register_model_base() -> None:
    """``model_base``: the settings every ``conf/models/<key>.yaml`` starts from, taken from the
    library's defaults (:func:`trajmbrl.configs.base_settings`) so they are written once. A plain
    node, not a typed structured config: modes/schema.py checks it with one-line messages."""
    from hydra.core.config_store import ConfigStore

    from trajmbrl.configs import base_settings

    ConfigStore.instance().store(name="model_base", node=base_settings())


def _eval_task(cfg: DictConfig) -> str:
    from trajmbrl.modes.schema import EVAL_TASKS

    return EVAL_TASKS[str(cfg.eval.task)]  # the schema checked it


def load_env_system(cfg: DictConfig) -> None:
    """Import and register the SystemSpec named by ``env.system`` (conf/envs/<name>.yaml), so
    every mode finds the system by ``env.name`` (the spec's name and id must match the YAML's)."""
    if str(cfg.env.name) == "gym":
        from trajmbrl.modes.prediction import register_gym_system

        register_gym_system(cfg)
        return
    path = cfg.env.get("system")
    if path is None:
        return
    from trajmbrl.envs.spec import load_system
    from trajmbrl.errors import TrajmbrlError

    spec = load_system(str(path))
    if spec.name != str(cfg.env.name):
        raise TrajmbrlError(
            f"env.system={path} defines system {spec.name!r}, but env.name={cfg.env.name}"
        )
    if cfg.env.get("id", spec.gym_id) != spec.gym_id:
        raise TrajmbrlError(
            f"env.id={cfg.env.id} is not the Gymnasium id of system {spec.name!r} "
            f"({spec.gym_id}, env.system={path})"
        )


def dry_run_summary(cfg: DictConfig, module: str) -> str:
    """What ``dry_run=true`` prints: the mode that would run and the paths it would use (the
    config has been checked; no artifact is read or written)."""
    models = ",".join(str(k) for k in cfg.models) if isinstance(cfg.models, DictConfig) else ""
    return (
        f"dry run: config valid; mode={cfg.mode.name} (trajmbrl.modes.{module}) "
        f"envs={cfg.env.name} models=[{models}] would use dataset {cfg.paths.dataset} and "
        f"run dir {cfg.paths.run_dir}; no dataset, model or result was read or written"
    )


def _lazy(module: str | Callable[[DictConfig], str]) -> Callable[[DictConfig], None]:
    """Import a mode module (named, or chosen from the config) only when it runs (keeps
    `trajmbrl --help` fast)."""

    def run(cfg: DictConfig) -> None:
        import importlib

        from trajmbrl.errors import ArgumentError, TrajmbrlError
        from trajmbrl.modes.schema import cli_message, validate

        validate(cfg)  # before anything is read, written or deleted
        load_env_system(cfg)
        name = module if isinstance(module, str) else module(cfg)
        if cfg.get("dry_run"):
            print(dry_run_summary(cfg, name))
            return
        try:
            importlib.import_module(f"trajmbrl.modes.{name}").run(cfg)
        except ArgumentError as exc:  # name the config keys, not the library's arguments
            raise TrajmbrlError(cli_message(exc)) from exc

    return run


MODES: dict[str, Callable[[DictConfig], None]] = {
    "collect": _lazy("collect"),
    "train": _lazy("train"),
    "eval": _lazy(_eval_task),
    "plot": _lazy("plot"),
    "control": _lazy("control"),
    "leaderboard": _lazy("leaderboard"),
    "tune": _lazy("tune"),
}
