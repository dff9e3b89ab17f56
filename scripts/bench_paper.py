"""Wall-clock of ``make smoke-paper``, section by section, in a fresh temporary root.

Usage: ``python scripts/bench_paper.py [--keep]``. Runs the same make targets as
``make smoke-paper`` (every paper section at toy scale: collect, train, eval, plot) with
``TRAJMBRL_ROOT`` pointing at a new temporary directory, so nothing is reused from earlier runs
and nothing in the working tree is touched. Thread settings come from the environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOY_GRID = "grid.num_traj=[1,3] grid.t_range=[10,20] grid.seeds=[0,1]"
SECTIONS: list[tuple[str, list[str]]] = [
    ("sec52", ["sec52", "SCALE=toy"]),
    ("sec53", ["sec53", "SCALE=toy"]),
    ("sec54", ["sec54", "SCALE=toy", f"SEC54_GRID={TOY_GRID}"]),
    ("sec55", ["sec55", "SCALE=toy"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary root (printed)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trajmbrl-smoke-paper-"))
    env = {**os.environ, "TRAJMBRL_ROOT": str(root)}
    print(
        f"make smoke-paper, section by section (root {root}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    total = 0.0
    for name, target in SECTIONS:
        log = root / f"{name}.log"
        t0 = time.perf_counter()
        with log.open("w") as fh:
            rc = subprocess.run(
                ["make", "--no-print-directory", "-C", str(REPO), *target],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            ).returncode
        dt = time.perf_counter() - t0
        total += dt
        if rc:
            sys.exit(f"make {' '.join(target)} failed (exit {rc}); log: {log}")
        print(f"  {name}: {dt:6.1f} s")
    print(f"make smoke-paper: {total:.1f} s wall in all")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
