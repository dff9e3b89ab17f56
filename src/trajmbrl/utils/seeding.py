"""One place that seeds Python, NumPy and torch, and derives child seeds."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's RNGs (library code uses explicit generators)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def child_seeds(seed: int, n: int, *, stream: int = 0) -> np.ndarray:
    """``n`` independent 63-bit seeds derived from ``(seed, stream)`` with NumPy's SeedSequence.

    :returns: (n,) int64
    """
    ss = np.random.SeedSequence([int(seed), int(stream)])
    return ss.generate_state(n, dtype=np.uint64).astype(np.int64) & np.int64(2**62 - 1)
