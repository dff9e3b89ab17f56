"""Per-dimension standardisation kept inside a model (fitted once, saved with the weights)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trajmbrl.errors import TrajmbrlError


class Normalizer(nn.Module):
    """``(x - mean) / std`` per dimension, with buffers ``mean`` (d,) and ``std`` (d,).

    Dimensions whose standard deviation is below ``eps`` (constant inputs, MBRL-Lib issue #110)
    get ``std = 1`` so they are only centred, never divided by ~0. Before :meth:`fit` it is the
    identity.
    Works on any leading shape: ``x`` (..., d).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = int(dim)
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("std", torch.ones(self.dim))

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Fit mean and (population) std on raw data.

        :param x: (N, d) raw values, N >= 1, all finite.
        """
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise TrajmbrlError(
                f"normaliser expects data of shape (N, {self.dim}), got {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise TrajmbrlError("cannot fit a normaliser on an empty training set")
        xd = x.detach().to(torch.float64)
        if not bool(torch.isfinite(xd).all()):
            raise TrajmbrlError(
                "training data contains NaN or inf values; clean the dataset (NaN padding of "
                "variable-length logs must be dropped before training)"
            )
        mean = xd.mean(0)
        std = xd.std(0, correction=0)
        std = torch.where(std < self.eps, torch.ones_like(std), std)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.std.copy_(std.to(self.std.dtype))

    def normalize(self, x: Tensor) -> Tensor:
        """:param x: (..., d) raw -> (..., d) normalised."""
        return (x - self.mean) / self.std

    def denormalize(self, x: Tensor) -> Tensor:
        """:param x: (..., d) normalised -> (..., d) raw."""
        return x * self.std + self.mean

    def denormalize_var(self, var: Tensor) -> Tensor:
        """:param var: (..., d) variance in normalised units -> (..., d) variance in raw units."""
        return var * self.std.square()

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
