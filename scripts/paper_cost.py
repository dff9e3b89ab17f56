"""What a finished paper run cost in training FLOPs, and the least time it needs at a GEMM rate.

Usage: ``python scripts/paper_cost.py [OUTPUTS_DIR] [--gflops R]`` (R defaults to this machine's
measured fp32 rate for the paper's hidden-layer GEMM, as in ``scripts/bench_train.py``).
For every ``model.pt`` under ``OUTPUTS_DIR/sec5*``: member-epochs from its ``history.csv`` (one
row per member and epoch; grid cells without per-epoch rows count their ``steps`` x batch),
training samples from the checkpoint meta (``samples.kept`` x (1 - ``val_fraction``)), FLOPs per
member-sample from the layer shapes (3 x forward). The bound ``FLOPs / R`` ignores evaluation,
element-wise work and data handling, so real training is slower: if the bound alone exceeds a
time target, no code change meets that target on this machine at this precision.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

from trajmbrl.artifacts.layout import CHECKPOINT, HISTORY

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import flops_per_sample, gemm_rate  # noqa: E402


def model_flops(path: Path) -> float:
    """Training FLOPs of one checkpoint (all members)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    spec, meta = payload["spec"], json.loads(payload["meta"])
    in_dim = spec["state_dim"] + (
        spec["action_dim"] if spec["family"] == "one_step" else spec["param_dim"] + 1
    )
    out_dim = spec["state_dim"] * (2 if spec["probabilistic"] else 1)
    fps = flops_per_sample(in_dim, out_dim, spec["hidden"], spec["layers"])
    history = path.parent / HISTORY
    member_epochs = max(0, len(history.read_text().splitlines()) - 1) if history.exists() else 0
    cfg = meta.get("config", {})
    if member_epochs and not cfg.get("train", {}).get("steps"):
        n = meta["samples"]["kept"] * (1 - float(cfg.get("train", {}).get("val_fraction") or 0))
        return member_epochs * n * fps
    key_cfg = cfg.get("models", {}).get(spec["key"], {}) or {}  # fixed step budgets (5.4)
    batch = int(cfg.get("model", {}).get("batch_size") or key_cfg.get("batch_size") or 256)
    samples = min(batch, int(meta["samples"]["kept"]))
    return int(meta.get("steps") or 0) * samples * spec["ensemble_size"] * fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="outputs", type=Path)
    ap.add_argument("--gflops", type=float, help="GEMM rate to bound with (default: measured)")
    args = ap.parse_args()
    rate = args.gflops or gemm_rate(256, 250, 250, 1500, 3)
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for path in sorted(args.root.glob(f"sec5*/*/*/models/**/{CHECKPOINT}")):
        section = path.relative_to(args.root).parts[0]
        totals[section] += model_flops(path)
        counts[section] += 1
    print(
        f"training FLOPs under {args.root}; bound = FLOPs / {rate:.1f} GFLOP/s "
        f"({torch.get_num_threads()} threads)"
    )
    for section in sorted(totals):
        print(
            f"  {section}: {counts[section]:5d} models {totals[section] / 1e12:8.1f} TFLOP "
            f">= {totals[section] / rate / 1e9 / 60:6.1f} min"
        )
    total = sum(totals.values())
    print(
        f"  all:   {sum(counts.values()):5d} models {total / 1e12:8.1f} TFLOP "
        f">= {total / rate / 1e9 / 60:6.1f} min"
    )


if __name__ == "__main__":
    main()
