"""The roll-out engine of one-step predictors (learned models, ``lin`` or the true simulator).

A recursive roll-out batched over trajectories, particles and protocols (no Python loop over
them), with ``logged`` (replay the trajectory's actions, the paper's protocol) and/or
``controller`` (the trajectory's own controller acts on the *predicted* states: the closed loop
the data came from). Learned models reach it through :func:`trajmbrl.evaluation.predict.predict`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError, TrajmbrlError

if TYPE_CHECKING:
    from trajmbrl.controllers.base import ControllerSampler

ActionSource = Literal["logged", "controller"]
#: one-step roll-out protocols: replay the logged actions | the trajectory's controller in the loop
PROTOCOLS = ("logged", "controller")


def closed_loop_rollout(
    step: Callable[[Tensor, Tensor], Tensor],
    s0: Tensor,
    horizon: int,
    protocols: Sequence[str],
    *,
    actions: np.ndarray | None = None,
    sampler: ControllerSampler | None = None,
    params: np.ndarray | None = None,
) -> dict[str, Tensor]:
    """Roll ``step`` out from ``s0`` under every protocol at once (one batch, one loop over t).

    ``logged`` replays ``actions``; ``controller`` rebuilds each row's controller from
    ``params`` and lets it act on the *predicted* states (non-finite states are shown to it as
    0, so a diverged row stays diverged without raising).

    :param step: ``(states (R, ds), actions (R, du)) -> next states (R, ds)`` for any R.
    :param s0: (B, ds) start states (rows may be trajectories x particles).
    :param actions: (B, T >= H, du) logged actions; :param params: (B, dp) theta.
    :returns: {protocol: (B, H, ds)} predicted states s_1..s_H.
    """
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown or not protocols:
        raise ArgumentError(
            f"{{closed_loop_rollout.protocols}} must be a non-empty subset of {list(PROTOCOLS)}, "
            f"got {list(protocols)}"
        )
    b = s0.shape[0]
    state = s0.repeat(len(protocols), 1)  # protocol k owns rows k*B .. (k+1)*B - 1
    blocks: list[tuple[slice, Any]] = []
    for k, name in enumerate(protocols):
        rows = slice(k * b, (k + 1) * b)
        if name == "logged":
            if actions is None or actions.shape[1] < horizon:
                raise TrajmbrlError(f"the logged protocol needs {horizon} logged actions")
            blocks.append(
                (rows, torch.as_tensor(actions[:, :horizon], dtype=s0.dtype, device=s0.device))
            )
        else:
            if sampler is None or params is None:
                raise TrajmbrlError("the controller protocol needs the env's controller sampler")
            controller = sampler.build(np.asarray(params))
            controller.reset()
            blocks.append((rows, controller))
    out = torch.empty((state.shape[0], horizon, s0.shape[1]), dtype=s0.dtype, device=s0.device)
    for t in range(horizon):
        parts = []
        for rows, source in blocks:
            if isinstance(source, Tensor):
                parts.append(source[:, t])
            else:
                obs = np.nan_to_num(
                    state[rows].double().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0
                )
                parts.append(torch.as_tensor(source.act(obs), dtype=s0.dtype, device=s0.device))
        state = step(state, torch.cat(parts, 0))
        out[:, t] = state
    return {name: out[k * b : (k + 1) * b] for k, name in enumerate(protocols)}
