"""Reading a log table and checking its columns: readable file, named columns, finite numbers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trajmbrl.errors import TrajmbrlError

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class LogColumns:
    """Which table columns hold the state, action and controller parameters of a log.

    ``episode``: column holding an episode id. If None, episodes start wherever ``time`` drops
    back (a time reset); if ``time`` is None too, the whole file is one episode.
    """

    state: tuple[str, ...]
    action: tuple[str, ...]
    theta: tuple[str, ...] = ()
    episode: str | None = None
    time: str | None = None
    #: a per-row reward column: row k's reward is for applying a_k at s_k (the last row's is
    #: unused and may be empty)
    reward: str | None = None


def read_table(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` / ``.pq`` table; TrajmbrlError for anything unreadable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise TrajmbrlError(
            f"Log file {path} has unsupported suffix '{path.suffix}'; "
            f"expected one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise TrajmbrlError(f"Log file {what}: {path}")
    try:
        if suffix in CSV_SUFFIXES:
            df = pd.read_csv(path)
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise TrajmbrlError(
                    f"Reading Parquet log {path} needs pyarrow: pip install pyarrow"
                ) from None
            df = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise TrajmbrlError(f"Log file is empty: {path}") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrajmbrlError(f"Log file {path} could not be read ({msg})") from None
    if len(df) == 0:
        raise TrajmbrlError(f"Log file is empty (no data rows): {path}")
    return df


def require_columns(df: pd.DataFrame, names: Sequence[str], source: str) -> None:
    """Raise naming every missing column and listing the available ones."""
    missing = [c for c in names if c not in df.columns]
    if missing:
        available = ", ".join(repr(str(c)) for c in df.columns)
        raise TrajmbrlError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"available columns: {available}"
        )


def numeric(
    df: pd.DataFrame,
    cols: Sequence[str],
    source: str,
    role: str,
    empty_ok: np.ndarray | None = None,
) -> np.ndarray:
    """The columns as a finite float64 array (rows, len(cols)); error naming a bad column.

    :param empty_ok: (rows,) bool: rows that may be empty (left NaN), e.g. each episode's last
        action, which has no logged successor."""
    out = np.empty((len(df), len(cols)), dtype=np.float64)
    for j, col in enumerate(cols):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if empty_ok is not None:
            bad &= ~(empty_ok & df[col].isna().to_numpy())
        bad = np.flatnonzero(bad)
        if bad.size:
            raise TrajmbrlError(
                f"{source}: {role} column {col!r} has {bad.size} row(s) that are missing, "
                f"non-numeric or infinite (data row(s) {format_rows(bad)}; 1-based, header "
                "excluded)"
            )
        out[:, j] = values
    return out


def format_rows(rows: np.ndarray) -> str:
    """The first five 0-based data rows as 1-based numbers, '...' if there are more."""
    return ", ".join(str(int(r) + 1) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
