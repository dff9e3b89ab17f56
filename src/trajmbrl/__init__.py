"""trajmbrl: trajectory-based dynamics models for model-based RL (Lambert et al., CDC 2021).

The public API (``docs/api.md``) is imported on first use, so ``import trajmbrl`` stays cheap;
importing it also registers every system with Gymnasium (``trajmbrl/Cartpole-v0``, ...), as
soon as Gymnasium itself is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

from trajmbrl._gym import register_on_gymnasium_import

__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    "TrajectoryData": "trajmbrl.data.storage",
    "load_dataset": "trajmbrl.data.storage",
    "save_dataset": "trajmbrl.data.storage",
    "dataset_from_arrays": "trajmbrl.api",
    "training_samples": "trajmbrl.api",
    "train_model": "trajmbrl.api",
    "train_on_dataset": "trajmbrl.api",
    "load_model": "trajmbrl.api",
    "save_checkpoint": "trajmbrl.models.checkpoint",
    "load_checkpoint": "trajmbrl.models.checkpoint",
    "Prediction": "trajmbrl.api",
    "predict": "trajmbrl.api",
    "rollout": "trajmbrl.api",
    "score": "trajmbrl.api",
    "DynamicsModel": "trajmbrl.models.dynamics",
    "ModelSpec": "trajmbrl.models.dynamics",
    "model_keys": "trajmbrl.configs",
    "model_config": "trajmbrl.configs",
    "TrajmbrlError": "trajmbrl.errors",
    "benchmark": "trajmbrl.bench",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'trajmbrl' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


register_on_gymnasium_import()
