"""Seed derivation: independent child seeds from one recorded seed."""

from __future__ import annotations

import numpy as np


def child_seeds(seed: int, n: int, *, stream: int = 0) -> np.ndarray:
    """``n`` independent 63-bit seeds derived from ``(seed, stream)`` with NumPy's SeedSequence.

    :returns: (n,) int64
    """
    ss = np.random.SeedSequence([int(seed), int(stream)])
    return ss.generate_state(n, dtype=np.uint64).astype(np.int64) & np.int64(2**62 - 1)
