"""Are two runs the same (a paper run, the demo, any experiment)? Compare two output roots
artifact by artifact.

Usage: ``python scripts/compare_runs.py ROOT_A ROOT_B`` (each an ``outputs/`` directory).
For every artifact present under both roots:
- ``model.pt``: the weights (state_dict) bit for bit; the meta may differ (paths, commit);
- ``metrics/*.csv``: the content sha256 in each file's first line (config hashes may differ),
  once both files pass their integrity check (a truncated or edited file differs);
- ``tables/*.csv``: the bytes, once both pass their ``tables/MANIFEST.json`` check;
- ``efficiency/scores.csv``: as the metrics.
Prints counts and the first differing paths; exits 1 when anything shared differs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from trajmbrl.artifacts.manifest import table_problem
from trajmbrl.utils.hashed_csv import integrity_problem

CONTENT = re.compile(r"sha256=([0-9a-f]+)")


def same_weights(a: Path, b: Path) -> bool:
    """Bit-identical state dicts of two checkpoints."""
    sa = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _content_hash(path: Path) -> re.Match[str] | None:
    with path.open() as fh:
        return CONTENT.search(fh.readline())


def same_content(a: Path, b: Path) -> bool:
    """Same content hash in the first line of two intact hashed CSVs, else the same bytes."""
    ha, hb = _content_hash(a), _content_hash(b)
    if ha and hb:
        intact = integrity_problem(a) is None and integrity_problem(b) is None
        return intact and ha.group(1) == hb.group(1)
    return a.read_bytes() == b.read_bytes()


def same_table(a: Path, b: Path) -> bool:
    """Same bytes of two tables that both pass their manifest check."""
    intact = table_problem(a) is None and table_problem(b) is None
    return intact and a.read_bytes() == b.read_bytes()


CHECKS: list[tuple[str, str, Callable[[Path, Path], bool]]] = [
    ("models", "*/*/*/models/**/model.pt", same_weights),
    ("metrics", "*/*/*/metrics/*.csv", same_content),
    ("tables", "*/*/*/tables/*.csv", same_table),
    ("5.4 scores", "*/*/*/efficiency/scores.csv", same_content),
]


def compare(root_a: Path, root_b: Path) -> dict[str, tuple[int, list[str]]]:
    """Per artifact kind: (number compared, relative paths that differ)."""
    out = {}
    for name, pattern, same in CHECKS:
        shared = [
            p for p in sorted(root_a.glob(pattern)) if (root_b / p.relative_to(root_a)).exists()
        ]
        differ = [
            str(p.relative_to(root_a))
            for p in shared
            if not same(p, root_b / p.relative_to(root_a))
        ]
        out[name] = (len(shared), differ)
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    result = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    for name, (n, differ) in result.items():
        print(
            f"{name}: {n - len(differ)} of {n} shared identical"
            + (
                f"; differ: {', '.join(differ[:5])}" + (" ..." if len(differ) > 5 else "")
                if differ
                else ""
            )
        )
    sys.exit(1 if any(d for _, d in result.values()) else 0)


if __name__ == "__main__":
    main()
