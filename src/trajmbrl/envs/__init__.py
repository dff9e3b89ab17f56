"""Simulated systems of the paper as registered Gymnasium environments.

Each system is one module with its env and its :class:`~trajmbrl.envs.spec.SystemSpec`
(``SPEC``); importing this package registers every known spec's Gymnasium id (idempotently).
"""

from __future__ import annotations

from typing import Any

import gymnasium  # noqa: F401  (registration below needs it loaded)
import numpy as np

from trajmbrl.errors import TrajmbrlError


def state_option(options: dict[str, Any] | None, dim: int) -> np.ndarray | None:
    """The ``reset(options={"state": ...})`` start state as a (dim,) copy, or None if absent."""
    if options is None or "state" not in options:
        return None
    state = np.array(options["state"], dtype=np.float64).reshape(-1)
    if state.shape != (dim,):
        raise TrajmbrlError(f"reset option 'state' must have {dim} entries, got {state.shape}")
    return state


def register_envs() -> None:
    """Register every known system's env with Gymnasium (no-op when already registered)."""
    from trajmbrl.envs.spec import all_systems

    for spec in all_systems():
        spec.register_gym()


register_envs()
