"""The hash record of a ``tables/`` directory: ``tables/MANIFEST.json``.

The tables stay plain CSVs (their bytes are what users read); the manifest beside them lists,
per table, its sha256 and row count, and the results they were made from: each source file's
fingerprint (relative to the run dir; for a hashed result CSV its content sha256 and dataset
sha256, so a re-run that reproduces the results reproduces the manifest byte for byte) and the
dataset sha256 of the run. It is written
atomically after the tables, under the writer's report lock. Readers call :func:`table_problem`
(or :func:`check_table`) on every table they read: a table that is truncated, edited, not in the
manifest, without a manifest (written before manifests existed), or made from results that have
changed since (re-evaluated, e.g. after a re-collection) is refused with the regenerate command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_write_json, sha256_file
from trajmbrl.utils.hashed_csv import read_header

MANIFEST = "MANIFEST.json"
VERSION = 1


def _rows(path: Path) -> int:
    """Data rows of a CSV table (lines after the header)."""
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def fingerprint(source: Path) -> str:
    """What ``source`` holds: ``sha256=<content>[ dataset=<sha256>]`` from a hashed result
    CSV's header (:mod:`trajmbrl.utils.hashed_csv`), else ``file=<sha256 of the bytes>``."""
    try:
        header = read_header(source)
    except TrajmbrlError:  # unreadable: its bytes then stand for it
        header = {}
    if "sha256" not in header:
        return f"file={sha256_file(source)}"
    dataset = f" dataset={header['dataset']}" if header.get("dataset") else ""
    return f"sha256={header['sha256']}{dataset}"


def write_manifest(
    tables_dir: Path,
    tables: list[Path],
    *,
    run_dir: Path,
    sources: list[Path],
    dataset_sha256: str | None,
) -> Path:
    """Record ``tables`` (files in ``tables_dir``) and the ``sources`` (files under ``run_dir``)
    they were made from. Entries of an earlier manifest whose table is unchanged and not
    rewritten now are kept (a table this run did not redraw stays checkable).

    :returns: the manifest's path.
    """
    path = Path(tables_dir) / MANIFEST
    entries: dict[str, Any] = {}
    old = _load(path)
    if old is not None:
        for name, entry in old.get("tables", {}).items():
            table = Path(tables_dir) / name
            if table.exists() and sha256_file(table) == entry.get("sha256"):
                entries[name] = entry
    record = {
        "sources": {str(p.relative_to(run_dir)): fingerprint(p) for p in sorted(sources)},
        "dataset_sha256": dataset_sha256,
    }
    for table in tables:
        entries[table.name] = {"sha256": sha256_file(table), "rows": _rows(table), **record}
    atomic_write_json(path, {"version": VERSION, "tables": dict(sorted(entries.items()))})
    return path


def _load(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path`` (None when absent or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("tables"), dict) else None


def table_problem(table: Path, run_dir: Path | None = None) -> str | None:
    """Why ``table`` (``<run_dir>/tables/<name>.csv``) cannot be trusted, or None.

    :param run_dir: where the manifest's source paths are relative to (default: the parent of
        the ``tables`` directory).
    """
    table = Path(table)
    run_dir = Path(run_dir) if run_dir is not None else table.parent.parent
    manifest = table.parent / MANIFEST
    if not manifest.exists():
        return f"{table} has no {MANIFEST} beside it (written by an older version or by hand)"
    data = _load(manifest)
    if data is None:
        return f"{manifest} is not a readable manifest"
    entry = data["tables"].get(table.name)
    if not isinstance(entry, dict):
        return f"{table} is not listed in {manifest}"
    if not table.exists():
        return f"{table} is listed in {manifest} but missing"
    rows = _rows(table)
    if rows != entry.get("rows"):
        return f"{table} has {rows} rows, its manifest says {entry.get('rows')} (truncated?)"
    if sha256_file(table) != entry.get("sha256"):
        return f"{table} does not match its sha256 in {manifest} (edited?)"
    for rel, made_from in dict(entry.get("sources", {})).items():
        source = run_dir / rel
        if not source.exists():
            return f"{table} was made from {source}, which is gone"
        now = fingerprint(source)
        if now != made_from:
            return (
                f"{table} was made from an earlier {source} (re-evaluated since, e.g. on a "
                f"re-collected dataset: made from {made_from}, now {now})"
            )
    return None


def check_table(table: Path, hint: str, run_dir: Path | None = None) -> Path:
    """``table`` if :func:`table_problem` finds nothing, else a one-line error with ``hint``."""
    problem = table_problem(table, run_dir)
    if problem is not None:
        raise TrajmbrlError(f"{problem}; regenerate it: {hint}")
    return table
