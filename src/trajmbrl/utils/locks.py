"""Per-artifact locks: one writer at a time for a model directory or a dataset.

A lock is an OS file lock (``filelock.FileLock``: ``fcntl.flock`` on Unix) on a small ``.lock``
file beside the artifact. The kernel releases it when the holder exits, even on SIGKILL, so a
killed run never leaves a stale lock. Across machines (SLURM) this relies on the shared file
system honouring flock between nodes: NFSv4, NFSv3 with lockd (Linux emulates flock with POSIX
locks there), GPFS and BeeGFS do; Lustre only when mounted with ``-o flock``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger("trajmbrl")


@contextlib.contextmanager
def artifact_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` while writing ``what``; wait (with a message) when another
    run holds it, then let the caller re-check whether its work is already done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("Another run is writing %s; waiting for it (lock %s).", what, path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
