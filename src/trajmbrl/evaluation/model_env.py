"""A learned one-step model as a batched environment (MBRL-Lib's ``ModelEnv`` vocabulary).

``reset(obs)`` starts a batch of B roll-outs (rows are trajectories or particles), ``step(action)``
advances all of them with the model. Propagation of ensembles / Gaussian heads:

- ``mean``: the mean over members of the predicted mean (deterministic; the paper's choice);
- ``ts1``: each row draws a random member at every step (trajectory sampling, TS-1);
- ``tsinf``: each row is pinned to member ``row % E`` for the whole roll-out (TS-inf); when E
  divides the batch, each member runs only its own rows.

With a Gaussian head, ``ts1`` / ``tsinf`` sample ``delta ~ N(mean, var)`` of the chosen member;
deterministic models use the member's mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError, TrajmbrlError

if TYPE_CHECKING:
    from trajmbrl.models.dynamics import DynamicsModel

Propagation = Literal["mean", "ts1", "tsinf"]
PROPAGATIONS = ("mean", "ts1", "tsinf")


class ModelEnv:
    """Roll a one-step :class:`DynamicsModel` forward on a batch of states.

    :param model: a one-step model (``d, de, p, pe``).
    :param propagation: ``mean`` | ``ts1`` | ``tsinf`` (see the module doc).
    :param seed: seeds the member draws and Gaussian samples; ``generator`` (if given) is used
        instead, so several roll-outs share one stream of draws.
    """

    def __init__(
        self,
        model: DynamicsModel,
        *,
        propagation: str = "mean",
        seed: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        if model.spec.family != "one_step":
            raise TrajmbrlError(f"ModelEnv needs a one-step model, got '{model.spec.key}'")
        if propagation not in PROPAGATIONS:
            raise ArgumentError(
                f"{{ModelEnv.propagation}} must be one of {', '.join(PROPAGATIONS)}, "
                f"got {propagation!r}"
            )
        self.model = model
        self.propagation = propagation
        self.device = next(model.parameters()).device
        self.generator = generator or torch.Generator(device=self.device).manual_seed(int(seed))
        self.state: Tensor | None = None
        self.members: Tensor | None = None

    def reset(self, obs: Tensor) -> Tensor:
        """Start roll-outs from ``obs`` (B, ds). :returns: the states (B, ds) as float32."""
        self.state = torch.as_tensor(obs, dtype=torch.float32, device=self.device).clone()
        e = self.model.ensemble_size
        self.members = torch.arange(self.state.shape[0], device=self.device) % e
        return self.state

    def step(self, action: Tensor) -> Tensor:
        """Advance every row by one step. :param action: (B, du). :returns: next states (B, ds)."""
        if self.state is None or self.members is None:
            raise TrajmbrlError("ModelEnv.step() called before reset()")
        act = torch.as_tensor(action, dtype=torch.float32, device=self.device)
        x = torch.cat([self.state, act], dim=-1)
        with torch.inference_mode():
            if self.propagation == "mean":
                delta = self.model.predict(x)
            elif self.propagation == "tsinf" and x.shape[0] % self.model.ensemble_size == 0:
                delta = self._pinned(x)
            else:
                mean, var = self.model.predict_members(x)  # (E, B, ds)
                rows = torch.arange(x.shape[0], device=self.device)
                if self.propagation == "ts1":
                    member = torch.randint(
                        0,
                        mean.shape[0],
                        (x.shape[0],),
                        generator=self.generator,
                        device=self.device,
                    )
                else:
                    member = self.members
                delta = mean[member, rows]
                if var is not None:
                    noise = torch.randn(delta.shape, generator=self.generator, device=self.device)
                    delta = delta + var[member, rows].clamp_min(0).sqrt() * noise
        self.state = self.state + delta
        return self.state

    def _pinned(self, x: Tensor) -> Tensor:
        """TS-inf when E divides B: member e runs only its own rows e, e + E, ... (an (E, B/E)
        batch, 1/E of the work of running every member on every row), the same deltas.

        :param x: (B, ds + du) raw. :returns: (B, ds) sampled deltas.
        """
        e, b = self.model.ensemble_size, x.shape[0]
        mean, var = self.model.predict_members(x.reshape(b // e, e, -1).transpose(0, 1))
        delta = mean.transpose(0, 1).reshape(b, -1)  # back to row order: row r = member r % E
        if var is not None:
            noise = torch.randn(delta.shape, generator=self.generator, device=self.device)
            delta = delta + var.transpose(0, 1).reshape(b, -1).clamp_min(0).sqrt() * noise
        return delta
