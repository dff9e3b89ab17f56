"""Simulated systems of the paper as registered Gymnasium environments.

Importing this package registers the ids below (idempotently).
"""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = {
    "trajmbrl/Cartpole-v0": "trajmbrl.envs.cartpole:CartpoleEnv",
    "trajmbrl/Reacher3D-v0": "trajmbrl.envs.reacher:Reacher3DEnv",
    "trajmbrl/Crazyflie-v0": "trajmbrl.envs.crazyflie:CrazyflieEnv",
}


def register_envs() -> None:
    """Register every trajmbrl environment with Gymnasium (no-op when already registered)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=True)


register_envs()
