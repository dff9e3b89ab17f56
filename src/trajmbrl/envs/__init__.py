"""Simulated systems of the paper as registered Gymnasium environments.

Importing this package registers the ids below (idempotently).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from trajmbrl.errors import TrajmbrlError

ENV_IDS = {
    "trajmbrl/Cartpole-v0": "trajmbrl.envs.cartpole:CartpoleEnv",
    "trajmbrl/Reacher3D-v0": "trajmbrl.envs.reacher:Reacher3DEnv",
    "trajmbrl/Crazyflie-v0": "trajmbrl.envs.crazyflie:CrazyflieEnv",
}


def state_option(options: dict[str, Any] | None, dim: int) -> np.ndarray | None:
    """The ``reset(options={"state": ...})`` start state as a (dim,) copy, or None if absent."""
    if options is None or "state" not in options:
        return None
    state = np.array(options["state"], dtype=np.float64).reshape(-1)
    if state.shape != (dim,):
        raise TrajmbrlError(f"reset option 'state' must have {dim} entries, got {state.shape}")
    return state


def register_envs() -> None:
    """Register every trajmbrl environment with Gymnasium (no-op when already registered)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=True)


register_envs()
