"""Batched ensembles of MLPs: one module holding ``E`` members as ``(E, in, out)`` weights."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: Member products smaller than this many multiply-adds are not split (call overhead).
_SPLIT_MIN_MACS = 1 << 20


def balanced_baddbmm(bias: Tensor, x: Tensor, weight: Tensor) -> Tensor:
    """``torch.baddbmm(bias, x, weight)`` with the work divided evenly over the threads.

    :param bias: (E, 1, out); :param x: (E, B, in); :param weight: (E, in, out).
    """
    e, threads = x.shape[0], torch.get_num_threads()
    rest = e % threads if e > threads else 0
    if rest == 0 or x.shape[1] * x.shape[2] * weight.shape[2] < _SPLIT_MIN_MACS:
        return torch.baddbmm(bias, x, weight)
    sizes = [e - rest] + [1] * rest
    xs, ws, bs = x.split(sizes), weight.split(sizes), bias.split(sizes)
    parts = [torch.baddbmm(bs[0], xs[0], ws[0])]
    parts += [
        torch.addmm(b[0], xi[0], w[0]).unsqueeze(0) for b, xi, w in zip(bs[1:], xs[1:], ws[1:])
    ]
    return torch.cat(parts)


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied in one ``torch.baddbmm``.

    Parameters: ``weight`` (E, in, out), ``bias`` (E, 1, out). Each member is initialised like
    ``nn.Linear`` (Kaiming-uniform weight, uniform bias with bound ``1/sqrt(in)``), drawn
    independently from ``generator``. Note the weight is stored transposed w.r.t. ``nn.Linear``:
    member ``e`` equals ``nn.Linear`` with ``.weight = weight[e].T`` and ``.bias = bias[e, 0]``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        ensemble: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.ensemble = int(in_dim), int(out_dim), int(ensemble)
        self.weight = nn.Parameter(torch.empty(self.ensemble, self.in_dim, self.out_dim))
        self.bias = nn.Parameter(torch.empty(self.ensemble, 1, self.out_dim))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialise every member like ``nn.Linear`` (``U(-1/sqrt(in), 1/sqrt(in))``)."""
        # nn.Linear: kaiming_uniform_(a=sqrt(5)) -> bound = 1/sqrt(fan_in); bias same bound.
        bound = 1.0 / math.sqrt(self.in_dim) if self.in_dim > 0 else 0.0
        w = torch.rand(self.weight.shape, generator=generator, dtype=torch.float32)
        b = torch.rand(self.bias.shape, generator=generator, dtype=torch.float32)
        self.weight.copy_(w.mul_(2 * bound).sub_(bound))
        self.bias.copy_(b.mul_(2 * bound).sub_(bound))

    def forward(self, x: Tensor, members: Tensor | None = None) -> Tensor:
        """:param x: (E, B, in), or (A, B, in) for the A member indices ``members`` -> (., B, out).

        A member subset only computes those members (stopped members cost nothing).
        """
        if members is None:
            return balanced_baddbmm(self.bias, x, self.weight)
        return balanced_baddbmm(self.bias[members], x, self.weight[members])

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, ensemble={self.ensemble}"


class EnsembleMLP(nn.Module):
    """``E`` MLPs ``in -> [hidden, ReLU] x layers -> out`` evaluated as one batched network.

    With ``probabilistic=True`` the last layer has ``2 * out`` units: the first half is the mean,
    the second half the raw log-variance, soft-bounded as in PETS::

        lv = max_logvar - softplus(max_logvar - lv)
        lv = min_logvar + softplus(lv - min_logvar)

    Learnable parts: every ``EnsembleLinear`` weight and bias, and (probabilistic only) the
    per-member, per-output bounds ``max_logvar`` (E, 1, out), init 0.5, and ``min_logvar``
    (E, 1, out), init -10, all in normalised output units. Because the bounds are learned,
    :meth:`bound_penalty` (``0.01 * (sum max - sum min)`` per member) must be added to the loss;
    :meth:`trajmbrl.models.dynamics.DynamicsModel.loss` does so. Every parameter has the member
    index as its leading dimension, so members are fully independent (per-member restore works).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden: int = 250,
        layers: int = 3,
        ensemble: int = 1,
        probabilistic: bool = False,
        generator: torch.Generator | None = None,
        max_logvar_init: float = 0.5,
        min_logvar_init: float = -10.0,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1 or ensemble < 1:
            raise ValueError("EnsembleMLP needs layers >= 1, hidden >= 1, ensemble >= 1")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.ensemble, self.probabilistic = int(ensemble), bool(probabilistic)
        dims = [self.in_dim] + [int(hidden)] * int(layers)
        self.hidden = nn.ModuleList(
            EnsembleLinear(a, b, ensemble=self.ensemble, generator=generator)
            for a, b in zip(dims[:-1], dims[1:])
        )
        head_out = 2 * self.out_dim if self.probabilistic else self.out_dim
        self.head = EnsembleLinear(dims[-1], head_out, ensemble=self.ensemble, generator=generator)
        if self.probabilistic:
            shape = (self.ensemble, 1, self.out_dim)
            self.max_logvar = nn.Parameter(torch.full(shape, float(max_logvar_init)))
            self.min_logvar = nn.Parameter(torch.full(shape, float(min_logvar_init)))
        else:
            self.register_parameter("max_logvar", None)
            self.register_parameter("min_logvar", None)

    def forward(self, x: Tensor, members: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """:param x: (E, B, in) normalised, or (A, B, in) for the member indices ``members``.

        :returns: mean (., B, out) and bounded log-variance (., B, out) or None, normalised
            units, float32 also under bf16 autocast.
        """
        h = x
        for layer in self.hidden:
            h = torch.relu_(layer(h, members))  # in place: baddbmm backward needs no output
        out = self.head(h, members).float()
        if not self.probabilistic:
            return out, None
        hi: Tensor = self.max_logvar
        lo: Tensor = self.min_logvar
        if members is not None:
            hi, lo = hi[members], lo[members]
        mean, lv = out[..., : self.out_dim], out[..., self.out_dim :]
        lv = hi - F.softplus(hi - lv)
        lv = lo + F.softplus(lv - lo)
        return mean, lv

    def bound_penalty(self, members: Tensor | None = None) -> Tensor:
        """:returns: (E,) (or (A,) for ``members``) ``0.01 * (sum max - sum min)`` log-variance
        bounds per member, or zeros."""
        if self.max_logvar is None or self.min_logvar is None:
            n = self.ensemble if members is None else members.shape[0]
            return self.head.bias.new_zeros(n)
        pen = 0.01 * (self.max_logvar.sum((1, 2)) - self.min_logvar.sum((1, 2)))
        return pen if members is None else pen[members]
