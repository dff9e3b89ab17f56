"""Many small models: one by one (``ModelTrainer`` per cell) vs batched (``train_cells``).

Usage: ``python scripts/bench_grid.py [--cells 16] [--steps 60] [--precision fp32|bf16]``.
Every cell is a paper-width one-step model of the reacher (23 -> 3 x 250 -> 18) on its own
random data (``--samples`` rows, so the batch is full: 256), trained for ``--steps`` Adam steps
both ways in this process (no process start-up counted: the per-job sweep costs more). Prints
both wall times, their ratio, and the 5.4 grid (1,000 cells x 300 steps) extrapolated from the
batched cost per member-step: an upper bound (every cell at batch 256) and the estimate with the
cost proportional to each cell's batch (sum of the grid's batch widths / 256).
"""

from __future__ import annotations

import argparse
import time

import torch

from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.training import ModelTrainer, TrainConfig
from trajmbrl.training.grid import Cell, train_cells


def grid_widths() -> list[int]:
    """Batch width of every cell of ``make sec54`` (d: n x t samples; t: n t (t+1) / 2 pairs,
    capped at 5000; batch 256)."""
    cells = [(k, n, t) for k in "dt" for n in range(1, 20, 2) for t in range(10, 101, 10)]
    return [
        min(256, n * t if k == "d" else min(5000, n * t * (t + 1) // 2))
        for k, n, t in cells
        for _ in range(5)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--samples", type=int, default=1900)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    spec = ModelSpec.for_key("d", state_dim=18, action_dim=5, param_dim=0)
    g = torch.Generator().manual_seed(0)
    cells = [
        Cell(
            torch.randn(args.samples, 23, generator=g),
            torch.randn(args.samples, 18, generator=g),
            torch.arange(args.samples) // 100,
            TrainConfig(
                steps=args.steps,
                patience=None,
                val_fraction=0.0,
                resample="none",
                seed=i,
                precision=args.precision,
            ),
        )
        for i in range(args.cells)
    ]
    train_cells(spec, cells[:2], chunk_members=2)  # warm-up
    t0 = time.perf_counter()
    for c in cells:
        model = DynamicsModel(spec, seed=c.config.seed)
        ModelTrainer(model, c.config, progress=False).fit(c.x, c.y, groups=c.groups)
    alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_cells(spec, cells, chunk_members=args.chunk)
    batched = time.perf_counter() - t0
    per = batched / (args.cells * args.steps)
    widths = grid_widths()
    print(
        f"{args.cells} cells x {args.steps} steps, {args.precision}, "
        f"{torch.get_num_threads()} threads: one by one {alone:.1f} s, batched {batched:.1f} s "
        f"(x{alone / batched:.2f}); batched {per * 1e3:.2f} ms per member-step at batch 256"
    )
    flops = sum(widths) * 300 * 6 * (23 * 250 + 2 * 250 * 250 + 250 * 18)
    print(
        f"5.4 grid extrapolated (1,000 cells x 300 steps): <= {len(widths) * 300 * per:.0f} s "
        f"(all at batch 256), ~{sum(widths) / 256 * 300 * per:.0f} s (cost ~ batch width); "
        f"{flops / 1e12:.0f} TFLOP of matrix products (training ~ 3 x forward)"
    )


if __name__ == "__main__":
    main()
