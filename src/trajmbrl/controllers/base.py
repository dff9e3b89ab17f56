"""The controller contract shared by collection, closed-loop model roll-outs and importers.

A *controller* acts on a batch: it is built from ``params`` of shape (B, dp) (theta, exactly as
stored in the dataset) and maps observations (B, do) to actions (B, du). Stateful controllers
(PD with a previous error) keep per-row state, cleared by ``reset()``.

A *sampler* draws one controller's theta per trajectory from a NumPy generator and rebuilds
controllers from stored theta (for closed-loop roll-outs in a learned model).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Controller(Protocol):
    """A batch of controllers, one per row of ``params`` (B, dp)."""

    params: np.ndarray

    def reset(self) -> None:
        """Clear internal state (e.g. the PD's previous error) for every row."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, do) observations. :returns: (B, du) actions."""
        ...


@runtime_checkable
class ControllerSampler(Protocol):
    """Draws theta for new trajectories and rebuilds controllers from stored theta."""

    #: names of the entries of theta, e.g. ("K_x", "K_xdot", "K_theta", "K_thetadot")
    param_names: tuple[str, ...]

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        """Draw theta for one trajectory. :returns: (dp,)"""
        ...

    def build(self, params: np.ndarray) -> Controller:
        """A controller batch for ``params`` (B, dp)."""
        ...

    def describe(self) -> dict[str, object]:
        """JSON-serialisable facts for the manifest (gains, distributions, K*...)."""
        ...

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        """Keep a collected trajectory? :param states: (T + 1, ds) its states."""
        ...
