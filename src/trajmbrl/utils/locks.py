"""Per-artifact locks: one writer at a time for a model directory or a dataset.

A lock is an OS file lock (``filelock.FileLock``: ``fcntl.flock`` on Unix) on a small ``.lock``
file beside the artifact. The kernel releases it when the holder exits, even on SIGKILL, so a
killed run never leaves a stale lock. Across machines (SLURM) this relies on the shared file
system honouring flock between nodes: NFSv4, NFSv3 with lockd (Linux emulates flock with POSIX
locks there), GPFS and BeeGFS do; Lustre only when mounted with ``-o flock``.

In a directory this process cannot write (a read-only mount, another user's tree) no lock file
can be created, and none is needed: nothing can be written there either, and every artifact is
replaced atomically, so reading it without the lock is safe. The caller then finds its work
done (exit 0) or fails at its first write with the one-line error naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger("trajmbrl")


@contextlib.contextmanager
def artifact_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` while writing ``what``; wait (with a message) when another
    run holds it, then let the caller re-check whether its work is already done."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("Another run is writing %s; waiting for it (lock %s).", what, path)
            lock.acquire()
    except OSError as exc:
        if not _read_only(path, exc):
            raise
        log.debug("No lock for %s: %s is read-only (%s); reading only.", what, path.parent, exc)
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _read_only(path: Path, exc: OSError) -> bool:
    """True when ``exc`` (creating the lock ``path``) means its directory cannot be written."""
    if exc.errno == errno.EROFS:
        return True
    existing = next((p for p in path.parents if p.exists()), path.parent)
    return exc.errno in (errno.EACCES, errno.EPERM) and not os.access(existing, os.W_OK)
