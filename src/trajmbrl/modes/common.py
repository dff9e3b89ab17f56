"""Helpers shared by the modes: config conversion, provenance, paths and user hints."""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from trajmbrl.data.storage import TrajectoryData, load_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_write_text

log = logging.getLogger("trajmbrl")

PACKAGES = ("trajmbrl", "torch", "numpy", "scipy", "gymnasium", "mujoco", "hydra-core", "pandas")


def to_dict(cfg: DictConfig | Any) -> Any:
    """Resolved plain-Python copy of a config node."""
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def provenance() -> dict[str, Any]:
    """Package versions and the git commit (when run from a checkout)."""
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
    return {"versions": versions, "git_commit": commit}


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


def collect_command(cfg: DictConfig) -> str:
    """The command that creates the dataset this run needs."""
    parts = [f"trajmbrl mode=collect envs={cfg.env.name}"]
    if cfg.experiment_name != "default":
        parts.append(f"experiment={cfg.experiment_name}")
    if "data_mode" in cfg.env and cfg.env.data_mode != "stable":
        parts.append(f"env.data_mode={cfg.env.data_mode}")
    return " ".join(parts)


def load_env_dataset(cfg: DictConfig) -> TrajectoryData:
    """Load the dataset selected by `envs` / `data.tag`, with a hint naming the collect command."""
    return load_dataset(cfg.paths.dataset, hint=collect_command(cfg))


def positive(cfg: DictConfig, key: str, *, allow_none: bool = True, minimum: int = 1) -> Any:
    """Read an integer config value that must be >= ``minimum``; error names the key."""
    value = OmegaConf.select(cfg, key)
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TrajmbrlError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def write_hashed_csv(path: Path, frame: Any, fingerprint: str) -> None:
    """Write a tidy CSV atomically, its first line ``# config_hash=<fingerprint>``."""
    atomic_write_text(path, f"# config_hash={fingerprint}\n" + frame.to_csv(index=False))


def is_current(path: Path, fingerprint: str, *, overwrite: bool) -> bool:
    """True when ``path`` exists, was written with ``fingerprint`` and overwrite is off."""
    if overwrite or not path.exists():
        return False
    with open(path) as fh:
        return fh.readline().strip() == f"# config_hash={fingerprint}"
