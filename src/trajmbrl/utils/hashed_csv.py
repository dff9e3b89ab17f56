"""Result CSVs that carry their own provenance and integrity: a first line
``# config_hash=<fingerprint> rows=<n> sha256=<hex of the body> [dataset=<sha256>]``.

A file is trusted only when its body still has ``rows`` data rows and hashes to ``sha256``, so a
truncated or edited file is never read as a result (a cache check, a plot or an aggregate).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pandas as pd

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_write_text


def write_hashed_csv(path: Path, frame: pd.DataFrame, fingerprint: str, **extra: str) -> None:
    """Write ``frame`` atomically under a header with its fingerprint, row count and hash."""
    body = frame.to_csv(index=False)
    fields = {
        "config_hash": fingerprint,
        "rows": str(len(frame)),
        "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        **extra,
    }
    header = "# " + " ".join(f"{k}={v}" for k, v in fields.items())
    atomic_write_text(path, header + "\n" + body)


def read_header(path: Path) -> dict[str, str]:
    """The ``key=value`` fields of the first line (empty when it is not a hashed header)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajmbrlError(f"cannot read {path}: {exc.__class__.__name__}: {exc}") from None
    if not first.startswith("# "):
        return {}
    return dict(part.split("=", 1) for part in first[2:].split() if "=" in part)


def integrity_problem(path: Path) -> str | None:
    """Why ``path`` cannot be trusted (truncated, edited, no header), or None when intact."""
    header = read_header(path)
    if "sha256" not in header or "rows" not in header:
        return "it has no row count and content hash (written by an older version?)"
    raw = Path(path).read_bytes()
    body = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    if hashlib.sha256(body).hexdigest() != header["sha256"]:
        rows = max(body.count(b"\n") - 1, 0)
        return (
            f"its content does not match its hash ({rows} rows found, {header['rows']} "
            "written): truncated or edited"
        )
    return None


def read_hashed_csv(
    path: Path, *, expect: dict[str, Any] | None = None, hint: str = ""
) -> pd.DataFrame:
    """The frame in ``path`` after checking its integrity and the header fields in ``expect``.

    :raises TrajmbrlError: naming the file, the problem and ``hint`` (the command that fixes it).
    """
    problem = integrity_problem(path)
    header = read_header(path)
    for name, want in (expect or {}).items():
        if problem is None and want is not None and header.get(name) != str(want):
            problem = (
                f"it was computed with {name}={header.get(name)} but the current one is "
                f"{want} (stale result)"
            )
    if problem:
        raise TrajmbrlError(f"{path} is not trusted: {problem}" + (f"\n  {hint}" if hint else ""))
    body = Path(path).read_text(encoding="utf-8").split("\n", 1)[1]
    return pd.read_csv(io.StringIO(body))
