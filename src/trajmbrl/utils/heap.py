"""Keep freed memory in the process heap (glibc): training allocates the same few-MB
activations every step, and glibc's default trims the heap top and re-grows it (``brk``) about
once per step at E=5, so every step's fresh pages fault and are zeroed again (measured with
``strace -e brk``: 57 heap resizes in a 40-step E=5 epoch, 3 with this setting; about 5 % of the
epoch's CPU time, scripts/bench_train.py). Process-wide, once, and only where glibc's
``mallopt`` exists; an explicit ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_`` in the
environment wins (then nothing is changed). The numbers computed are unaffected.
"""

from __future__ import annotations

import ctypes
import functools
import os

#: glibc ``mallopt`` parameters and the values set (bytes)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 256 << 20  # free heap kept before it is returned to the OS
MMAP_THRESHOLD = 32 << 20  # glibc's own upper limit of its dynamic threshold


@functools.cache
def keep_heap() -> bool:
    """Set the two thresholds once; :returns: whether they were set (False: not glibc, or the
    environment sets them)."""
    if any(k in os.environ for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
