"""One thread for tiny tensor work (small least squares, step-by-step roll-outs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


@contextmanager
def single_thread() -> Iterator[None]:
    """One BLAS/OpenMP and one torch thread: on tiny matrices (~100 rows) extra threads only
    add synchronisation (measured 15-25x slower on a loaded 2-core host)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
