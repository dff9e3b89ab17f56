"""A toy linear closed loop with a known solution: s_{t+1} = A s_t + B u_t, u_t = -theta . s_t."""

from __future__ import annotations

import numpy as np

from trajmbrl.data.storage import TrajectoryData

A = np.array([[1.0, 0.1], [0.0, 1.0]])
B = np.array([[0.0], [0.1]])


def closed_loop(theta: np.ndarray) -> np.ndarray:
    """A - B theta: the exact one-step map of the closed loop. (2, 2)"""
    return A - B @ theta[None, :]


def toy_dataset(n: int = 6, horizon: int = 12, seed: int = 0, test: int = 2) -> TrajectoryData:
    """n trajectories of the toy loop, the last ``test`` of them in the test split."""
    rng = np.random.default_rng(seed)
    states = np.zeros((n, horizon + 1, 2))
    actions = np.zeros((n, horizon, 1))
    params = rng.uniform(0.5, 2.0, size=(n, 2))
    states[:, 0] = rng.uniform(-1, 1, size=(n, 2))
    for t in range(horizon):
        u = -(params * states[:, t]).sum(axis=1, keepdims=True)
        actions[:, t] = u
        states[:, t + 1] = states[:, t] @ A.T + u @ B.T
    split = np.zeros(n, dtype=np.int8)
    split[n - test :] = 1
    return TrajectoryData(
        states=states,
        actions=actions,
        params=params,
        rewards=np.zeros((n, horizon)),
        lengths=np.full(n, horizon, dtype=np.int64),
        seeds=np.arange(n, dtype=np.int64),
        split=split,
    )


class ToyController:
    """The toy loop's controller ``u = -theta . s`` for a batch of theta (B, 2)."""

    def __init__(self, params: np.ndarray) -> None:
        self.params = np.asarray(params, dtype=np.float64)

    def reset(self) -> None:
        """Stateless."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, 2). :returns: (B, 1)."""
        return -(self.params * obs).sum(axis=1, keepdims=True)


class ToySampler:
    """Rebuilds the toy controllers from stored theta (the closed-loop protocol's input)."""

    param_names = ("k0", "k1")

    def build(self, params: np.ndarray) -> ToyController:
        return ToyController(params)


def toy_step(state, action):
    """The toy's exact one-step map on torch tensors: (R, 2), (R, 1) -> (R, 2)."""
    import torch

    return state @ torch.as_tensor(A.T) + action @ torch.as_tensor(B.T)
