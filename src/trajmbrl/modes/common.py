"""Helpers shared by the modes: config conversion, provenance, paths and user hints."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from trajmbrl.configs import model_keys as registry_keys
from trajmbrl.configs import resolve_model
from trajmbrl.data.storage import TrajectoryData, load_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils import hashed_csv
from trajmbrl.utils.atomic import config_hash
from trajmbrl.utils.progress import show_progress

log = logging.getLogger("trajmbrl")

PACKAGES = ("trajmbrl", "torch", "numpy", "scipy", "gymnasium", "mujoco", "hydra-core", "pandas")


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
    ``models.<key>.*`` overrides; an override that contradicts the key is rejected."""
    return resolve_model(key, to_dict(cfg.models[key]), to_dict(cfg.get("model") or {}))


def model_dir(cfg: DictConfig, key: str) -> Path:
    """``<run_dir>/models/<key>/<variant>/seed=<seed>``: where model ``key`` of this run lives."""
    return Path(cfg.paths.models_dir) / key / str(cfg.train.variant) / f"seed={cfg.seed}"


def to_dict(cfg: DictConfig | Any) -> Any:
    """Resolved plain-Python copy of a config node."""
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def provenance() -> dict[str, Any]:
    """Package versions, the git commit (when run from a checkout) and the torch thread count
    (it sets the floating-point summation order, so bit-identical re-runs need the same)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    commit = None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"versions": versions, "git_commit": commit, "torch_threads": torch.get_num_threads()}


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


#: Overrides a suggested command never repeats (it sets the mode; overwrite would change what
#: the command does; hydra.* belongs to the launch, not to the run).
NOT_REPEATED = ("mode", "overwrite", "hydra")


def command(cfg: DictConfig, mode: str, *extra: str, multirun: bool = False) -> str:
    """The trajmbrl command that runs ``mode`` on this run's dataset, variant and seed.

    Inside a Hydra run it repeats the user's own overrides (``logs.*``, ``data.*``, ``seed``,
    ``train.num_traj``, ``experiment``, ``scale``, ``paths.root``, ...); ``extra`` (e.g.
    ``models=t``) replaces the user's value of the same key.
    """
    typed = user_overrides()
    if typed is None:  # called outside a Hydra run: rebuild the selection from the config
        typed = _selection(cfg)
    words = [f"mode={mode}", f"envs={cfg.env.name}", *extra]
    return reproduce(typed, words, multirun=multirun)


def reproduce(typed: list[str], words: list[str], *, multirun: bool = False) -> str:
    """``trajmbrl [-m] <words> <typed>``, shell-quoted: the user's overrides ``typed`` minus
    :data:`NOT_REPEATED` and the keys ``words`` set (with their sub-keys: ``models.t.*`` goes
    when ``words`` select other models)."""
    import shlex

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    dropped = (*NOT_REPEATED, *(key(w) for w in words))
    kept = [
        o
        for o in typed
        if not any(key(o) == d or key(o).startswith((f"{d}.", f"{d}/")) for d in dropped)
    ]
    order = [*words[:2], *kept, *words[2:]]  # mode, envs, the user's overrides, the extras
    return " ".join(["trajmbrl", *(["-m"] if multirun else []), *map(shlex.quote, order)])


def user_overrides() -> list[str] | None:
    """The overrides of this Hydra job (the command line, one sweep value each), or None."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return [str(o) for o in HydraConfig.get().overrides.task]


def _selection(cfg: DictConfig) -> list[str]:
    """Overrides that select this run's data, variant and seed, read back from ``cfg``."""
    parts = []
    if cfg.experiment_name != "default":
        parts.append(f"experiment={cfg.experiment_name}")
    if cfg.get("scale_name"):
        parts.append(f"scale={cfg.scale_name}")
    if "data_mode" in cfg.env and cfg.env.data_mode != "stable":
        parts.append(f"env.data_mode={cfg.env.data_mode}")
    values = {
        "seed": cfg.seed,
        "data.seed": cfg.data.seed,
        "train.num_traj": cfg.train.num_traj,
        "train.t_range": cfg.train.t_range,
    }
    parts += [f"{k}={v}" for k, v in values.items() if v not in (None, 0)]
    return parts


def collect_command(cfg: DictConfig) -> str:
    """The command that creates the dataset this run needs."""
    return command(cfg, "collect")


def model_checkpoint(cfg: DictConfig, key: str, meta_expect: dict[str, Any]) -> Any:
    """Load the trained model ``key`` of this run (variant, seed) checked against the data.

    :param meta_expect: what the checkpoint must match (``data_dims``: dimensions and the
        dataset's sha256); its key, family and ``train.variant`` are checked too.
    :returns: (model, meta); a missing or mismatching checkpoint names the command that
        (re)trains it. ``meta["checkpoint_sha256"]`` keys every result computed from it.
    """
    from trajmbrl.models.checkpoint import CheckpointMismatch, load_checkpoint

    path = model_dir(cfg, key) / "model.pt"
    train = command(cfg, "train", f"models={key}")
    if not path.exists():
        raise TrajmbrlError(f"No trained model {path}\n  Train it with: {train}")
    expect = {
        **meta_expect,
        "key": key,
        "family": model_settings(cfg, key)["family"],
        "variant": str(cfg.train.variant),
    }
    try:
        return load_checkpoint(path, expect=expect)
    except CheckpointMismatch as exc:
        raise TrajmbrlError(f"{exc}\n  Retrain it with: {train} overwrite=true") from None


def data_dims(data: TrajectoryData) -> dict[str, Any]:
    """What a checkpoint must match to be evaluated on ``data``: its dimensions and sha256."""
    return {
        "state_dim": data.state_dim,
        "action_dim": data.action_dim,
        "param_dim": data.param_dim,
        "dataset_sha256": data.meta.get("sha256"),
    }


def current_dataset_sha256(cfg: DictConfig) -> str | None:
    """The sha256 in this run's dataset manifest (None when the dataset is not here: results
    can be plotted from their CSVs alone)."""
    from trajmbrl.data.storage import dataset_paths

    try:
        return json.loads(dataset_paths(cfg.paths.dataset)[1].read_text()).get("sha256")
    except (OSError, ValueError):
        return None


def load_env_dataset(cfg: DictConfig) -> TrajectoryData:
    """Load the dataset selected by `envs` / `data.tag`, with a hint naming the collect command."""
    return load_dataset(cfg.paths.dataset, hint=collect_command(cfg))


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


def write_hashed_csv(path: Path, frame: Any, fingerprint: str, **extra: Any) -> None:
    """Write a tidy CSV atomically under a header with ``fingerprint``, its row count and
    content hash (utils/hashed_csv.py); ``extra`` (e.g. ``dataset=<sha256>``) is recorded too."""
    hashed_csv.write_hashed_csv(
        path, frame, fingerprint, **{k: str(v) for k, v in extra.items() if v is not None}
    )


def is_current(path: Path, fingerprint: str, *, overwrite: bool) -> bool:
    """True when ``path`` was written with ``fingerprint`` and is intact (row count and content
    hash); False when absent, ``overwrite``, or damaged (then it is recomputed, with a warning).

    :raises TrajmbrlError: ``path`` holds results of another config (never silently replaced).
    """
    if overwrite or not path.exists():
        return False
    if hashed_csv.read_header(path).get("config_hash") == fingerprint:
        problem = hashed_csv.integrity_problem(path)
        if problem is None:
            return True
        log.warning("%s is not trusted (%s); computing it again.", path, problem)
        return False
    raise TrajmbrlError(
        f"{path} holds results of a different evaluation config.\n"
        "  Pass overwrite=true to replace them, or experiment_name=<name> to keep both."
    )


def eval_fingerprint(cfg: DictConfig, horizon: int, **extra: Any) -> str:
    """Hash of the settings that change evaluation results (not which models are listed)."""
    keys = ("task", "num_traj", "propagation", "particles")
    if str(cfg.train.get("precision", "fp32")) != "fp32":  # fp32 keeps the earlier hashes
        extra = {**extra, "precision": str(cfg.train.precision)}
    return config_hash({"eval": {k: cfg.eval.get(k) for k in keys}, "horizon": horizon, **extra})


def progress(cfg: DictConfig) -> bool:
    """Show progress bars: ``progress=true|false``, or (null) only on an interactive terminal."""
    return show_progress(cfg.progress)


# ---------------------------------------------------------------- shared by eval and plot
def eval_protocols(cfg: DictConfig) -> list[str]:
    """``eval.protocols`` this env supports: ``controller`` needs the env's controller."""
    from trajmbrl.evaluation.rollout import PROTOCOLS

    protocols = list(cfg.eval.protocols)
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise TrajmbrlError(
            f"eval.protocols must be a non-empty subset of {list(PROTOCOLS)}, got {protocols}"
        )
    if "controller" in protocols and "sampler" not in cfg.env:
        if protocols == ["controller"]:
            raise TrajmbrlError(
                f"eval.protocols=[controller] needs a controller; env "
                f"{cfg.env.name} (logged data) has none: use [logged]"
            )
        log.info(
            "%s has no controller (logged data): one-step models are rolled out with the "
            "logged actions only.",
            cfg.env.name,
        )
        protocols.remove("controller")
    return protocols


def sampler_for(cfg: DictConfig, protocols: list[str]) -> Any:
    """The env's controller sampler when a closed-loop protocol is among ``protocols``."""
    return build(cfg.env.sampler) if "controller" in protocols else None


def predict_states(
    model: Any, test: TrajectoryData, horizon: int, cfg: DictConfig
) -> dict[str, np.ndarray]:
    """Predicted states (N, H, ds) from each test trajectory's initial state (mean path) per
    protocol: ``direct`` for trajectory models, each of ``eval.protocols`` for one-step models;
    products in ``train.precision``."""
    from trajmbrl.evaluation.horizon import model_predictions
    from trajmbrl.training.precision import matmul_precision

    protocols = eval_protocols(cfg)
    with matmul_precision(str(cfg.train.precision), device(cfg)):
        preds = model_predictions(
            model,
            test,
            horizon,
            protocols=protocols,
            sampler=sampler_for(cfg, protocols),
            propagation=str(cfg.eval.propagation),
            particles=positive(cfg, "eval.particles", allow_none=False),
            seed=int(cfg.seed),
        )
    return {protocol: mean for protocol, (mean, _) in preds.items()}


def efficiency_csv(cfg: DictConfig) -> Path:
    """Where the 5.4 grid's tidy scores go (written by eval, read by plot)."""
    return Path(cfg.paths.run_dir) / "efficiency" / "scores.csv"


def reward_outputs(cfg: DictConfig, frame: Any, run_dir: Path) -> None:
    """5.5 table and sorted-returns figure from the per-trajectory ``frame``; printed."""
    from trajmbrl.plotting.reward import reward_report
    from trajmbrl.plotting.tables import fmt_value

    table, paths = reward_report(frame, run_dir, list(cfg.plot.formats))
    print(
        f"\nPredicted returns of {frame['traj'].nunique()} held-out controllers ({cfg.env.name}):"
    )
    shown = table.assign(**{c: table[c].map(fmt_value) for c in ("mse", "median_se", "mae")})
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nFigure: " + ", ".join(str(p) for p in paths))
