"""Atomic file writes: write to a temp file in the same directory, fsync, then rename."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from trajmbrl.errors import TrajmbrlError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it onto ``path`` atomically.

    On an exception the temp file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp"
        )
    except OSError as exc:
        raise TrajmbrlError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; artifacts are shared files
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:  # full disk, quota, permissions: name the artifact, keep the old one
        raise TrajmbrlError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except RuntimeError as exc:  # PyTorch's file writer reports a failed write this way
        if not is_torch_write_error(exc):
            raise
        raise TrajmbrlError(f"cannot write {path}: {_write_failure(path.parent)}") from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: what PyTorch's zip writer (torch.save) puts in the RuntimeError of a failed write (seen on
#: a full tmpfs: "[enforce fail at inline_container.cc:...] unexpected pos", raised while
#: handling "basic_ios::clear: iostream error")
TORCH_WRITE_ERRORS = (
    "inline_container",
    "PytorchStreamWriter",
    "file write failed",
    "iostream error",
)


def is_torch_write_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised while handling) is torch.save's
    RuntimeError for a write that failed (full disk, quota, I/O error), not a bug in what was
    saved."""
    cur: BaseException | None = exc
    for _ in range(8):  # a short chain; never loop on a cycle
        if cur is None:
            return False
        if isinstance(cur, RuntimeError) and any(m in str(cur) for m in TORCH_WRITE_ERRORS):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _write_failure(directory: Path) -> str:
    """The likely reason a write into ``directory`` failed, as ``strerror`` would say it."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return "the write failed"
    if st.f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    if st.f_bavail == 0:
        return os.strerror(errno.ENOSPC)
    return "the write failed (disk full, quota exceeded or an I/O error)"


def atomic_write(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], Any]) -> None:
    """Call ``writer(fh)`` on a binary temp file, then move it onto ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-serialisable config (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def guard_overwrite(path: Path, *, overwrite: bool, what: str, key: str = "overwrite") -> None:
    """Refuse to replace an existing artifact unless ``overwrite`` is set."""
    if path.exists() and not overwrite:
        raise TrajmbrlError(
            f"{what} already exists: {path}\n"
            f"  Re-running would replace it. Pass {key}=true to replace it, or choose another name."
        )
