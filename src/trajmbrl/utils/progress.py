"""Whether to draw progress bars: explicit, or only when stderr is an interactive terminal."""

from __future__ import annotations

import sys


def show_progress(flag: bool | None = None) -> bool:
    """``flag`` when given; otherwise True only on a TTY (quiet in logs and batch jobs)."""
    if flag is not None:
        return bool(flag)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
