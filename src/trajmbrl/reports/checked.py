"""Checked reads of the tables ``trajmbrl mode=plot`` wrote (:mod:`trajmbrl.artifacts.manifest`).

Every reader of ``<outputs>/<experiment>/<env>/<tag>/tables/*.csv`` reads through
:func:`read_table`: a table that fails its manifest check is refused with the command that
regenerates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from trajmbrl.artifacts.manifest import check_table


def regenerate_hint(table: Path) -> str:
    """The ``trajmbrl mode=plot`` command that rewrites ``table`` (``<run>/tables/<name>.csv``,
    ``<run>`` = ``<root>/<experiment>/<env>/<tag>``)."""
    run = Path(table).parent.parent
    tag, env, experiment = run.name, run.parent.name, run.parent.parent.name
    root = run.parent.parent.parent
    plot = f"trajmbrl mode=plot experiment={experiment} envs={env} data.tag={tag}"
    if root.name == "outputs":  # <TRAJMBRL_ROOT>/outputs
        return f"TRAJMBRL_ROOT={root.parent} {plot}"
    return f"{plot} (writing its outputs to {root})"


def read_table(path: Path, **kw: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **kw)`` once ``path`` passes its manifest check (a
    :class:`~trajmbrl.errors.TrajmbrlError` naming the file and the command otherwise)."""
    return pd.read_csv(check_table(Path(path), regenerate_hint(path)), **kw)
