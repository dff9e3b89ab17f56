"""README's demo table from `make demo`'s outputs: `make readme-demo` (after `make demo`).

    python scripts/readme_demo.py [--outputs outputs] [--readme README.md] [--check]

Reads ``<outputs>/demo/cartpole/demo_stable/tables/median_nmse.csv`` (checked against its
``tables/MANIFEST.json``, like every reader of the tables), the dataset's manifest and the
checkpoints' training commit, and rewrites the block between :data:`BEGIN` and :data:`END` in
README.md: a row per horizon, a column per result row of :data:`ROWS`, the table's own cells
(median over seeds; ``>=1e6 (div.)`` at the ceiling) with the share of diverged test trajectories
at the last horizon. ``--check`` only compares (exit 1 when the README differs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from trajmbrl.errors import TrajmbrlError
from trajmbrl.reports.checked import read_table
from trajmbrl.utils.atomic import atomic_write_text

BEGIN = "<!-- demo-table: written by `make readme-demo` (scripts/readme_demo.py); do not edit -->"
END = "<!-- demo-table: end -->"
#: the demo's run dir under the outputs, and its dataset under the trajectories
RUN = Path("demo") / "cartpole" / "demo_stable"
DATASET = Path("cartpole") / "demo_stable.json"
#: the table's columns: the result rows of the demo (models, protocols, baselines)
ROWS = (
    "t",
    "d (logged)",
    "d (closed loop)",
    "hmean",
    "lint",
    "lin (closed loop)",
    "oracle (logged)",
)
HORIZONS = (1, 50, 200)


def training_commits(run: Path) -> list[str]:
    """The short git commits the run's checkpoints were trained at (sorted)."""
    import torch

    commits = set()
    for path in sorted((run / "models").glob("**/model.pt")):
        meta = json.loads(torch.load(path, map_location="cpu", weights_only=True)["meta"])
        commits.add(str(meta.get("git_commit") or "unknown")[:7])
    return sorted(commits)


def cell(value: str, diverged: str, last: bool) -> str:
    """A table cell; at the last horizon with the share of diverged test trajectories."""
    if not last or diverged in ("", "0%"):
        return value
    if value.endswith("(div.)"):
        return value.replace("(div.)", f"(div., {diverged})")
    return f"{value} ({diverged} div.)"


def demo_block(outputs: Path, horizons: Sequence[int] = HORIZONS) -> str:
    """The README block (markers included) for the demo run under ``outputs``.

    :raises TrajmbrlError: the table is missing, fails its manifest or lacks a row or horizon.
    """
    run = outputs / RUN
    table = read_table(run / "tables" / "median_nmse.csv", dtype=str, keep_default_na=False)
    rows = table.drop_duplicates("row").set_index("row")
    missing = [r for r in ROWS if r not in rows.index]
    missing += [f"h={h}" for h in horizons if f"h={h}" not in table.columns]
    if missing:
        raise TrajmbrlError(
            f"{run / 'tables' / 'median_nmse.csv'} has no {', '.join(missing)}: run `make demo`"
        )
    manifest = json.loads((outputs.parent / "trajectories" / DATASET).read_text())
    seeds = sorted({int(rows.at[r, "seeds"]) for r in ROWS})
    seed_text = "one seed" if seeds == [1] else f"{'/'.join(map(str, seeds))} seeds"
    lines = [
        BEGIN,
        f"What the demo shows (`make demo`; models trained at commit "
        f"{', '.join(training_commits(run)) or 'unknown'}; median nMSE over the "
        f"{manifest['num_test']} test trajectories, {seed_text}; "
        "`make readme-demo` rewrites this table from the outputs):",
        "",
        "| h | " + " | ".join(ROWS) + " |",
        "|---" * (len(ROWS) + 1) + "|",
    ]
    for h in horizons:
        cells = [
            cell(rows.at[r, f"h={h}"], rows.at[r, "diverged"], h == horizons[-1]) for r in ROWS
        ]
        lines.append(f"| {h} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, END])


def replace_block(text: str, block: str) -> str:
    """``text`` with its one marked block replaced by ``block``.

    :raises TrajmbrlError: the markers are missing, repeated or out of order.
    """
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise TrajmbrlError(f"the README needs one {BEGIN!r} ... {END!r} block")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=Path("outputs"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="compare only (exit 1 if stale)")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text()
        new = replace_block(text, demo_block(args.outputs))
    except (TrajmbrlError, OSError) as exc:
        print(f"readme_demo: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{args.readme}: the demo table differs from {args.outputs}", file=sys.stderr)
            return 1
        return 0
    atomic_write_text(args.readme, new)
    print(f"{args.readme}: demo table rewritten from {args.outputs / RUN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
