"""The sequence network of the ``sequence`` family (keys ``sq``, ``sqe``): a GRU that starts
from ``[s_0, theta]`` and emits s_1..s_H in one pass, ``E`` members batched in one module.

Per member: ``h_0 = tanh(W_0 x)``; every step ``h_t = GRUCell(x, h_{t-1})`` with the same
input ``x = [s_0, theta]`` (normalised; the closed loop's future actions are not inputs, the
controller is in theta) and the output ``head(h_t)``, the normalised residual
``(s_t - s_0) / sqrt(t)`` (the trajectory family's ``residual`` target). The weights of all
members are (E, in, out) tensors applied with ``baddbmm``, so a step is one batched product
for every trajectory and member; the time loop is the only sequential part. Past the trained
window the recurrent state simply rolls on (the network is defined for any number of steps).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trajmbrl.models.ensemble import EnsembleLinear


class EnsembleGRU(nn.Module):
    """``E`` GRUs ``in -> hidden -> out`` over ``steps`` steps from a constant input.

    Parameters all have a leading member dimension (the trainer relies on it).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden: int,
        ensemble: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.hidden = int(hidden)
        e, g = int(ensemble), generator
        self.init = EnsembleLinear(in_dim, hidden, ensemble=e, generator=g)
        self.inp = EnsembleLinear(in_dim, 3 * hidden, ensemble=e, generator=g)
        self.rec = EnsembleLinear(hidden, 3 * hidden, ensemble=e, generator=g)
        self.head = EnsembleLinear(hidden, out_dim, ensemble=e, generator=g)

    def forward(self, x: Tensor, steps: int, members: Tensor | None = None) -> Tensor:
        """:param x: (E, B, in) normalised ((A, B, in) for ``members``); :returns: (., B, steps,
        out) the normalised outputs of steps 1..steps."""
        h = torch.tanh(self.init(x, members))
        gi_r, gi_z, gi_n = self.inp(x, members).chunk(3, -1)  # constant input: computed once
        out = []
        for _ in range(steps):
            gh_r, gh_z, gh_n = self.rec(h, members).chunk(3, -1)
            r = torch.sigmoid(gi_r + gh_r)
            z = torch.sigmoid(gi_z + gh_z)
            n = torch.tanh(gi_n + r * gh_n)
            h = (1 - z) * n + z * h
            out.append(self.head(h, members))
        return torch.stack(out, -2)
