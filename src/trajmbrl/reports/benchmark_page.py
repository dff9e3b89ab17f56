"""The results page's section "Which model for long horizons?" from the benchmark's leaderboards.

Reads ``<outputs>/benchmark/<env>/<system>/tables/leaderboard.csv`` (written by
``trajmbrl mode=leaderboard``, checked against its ``tables/MANIFEST.json``) and the benchmark's
checkpoints: the git commits they were trained at, the training FLOPs (member-steps x batch x
FLOPs per member-sample, :func:`trajmbrl.models.cost.training_flops_per_sample`), and the
wall-clock from the first dataset written to the last leaderboard written (file times).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from trajmbrl.artifacts.manifest import check_table
from trajmbrl.reports.benchmark import board_markdown, verdict_lines

EXPERIMENT = "benchmark"


def leaderboard_files(root: Path) -> list[Path]:
    """Every ``benchmark/<env>/<system>/tables/leaderboard.csv`` under ``root``, sorted."""
    return sorted((Path(root) / EXPERIMENT).glob("*/*/tables/leaderboard.csv"))


def _flops(payload: dict, meta: dict) -> float:
    """Training FLOPs of one checkpoint (every member): a sample is a pair for the MLP
    families, a k-step window for the k-step loss (k MLP steps), a W-step window for the
    sequence family (per step the recurrent and head products; the input's once): see
    :func:`trajmbrl.models.cost.training_flops_per_sample`."""
    from trajmbrl.models.cost import checkpoint_training_flops  # torch: imported when needed

    return checkpoint_training_flops(payload["spec"], meta)


def training_cost(root: Path) -> tuple[Counter[str], float, int]:
    """(commits -> checkpoints, training FLOPs, checkpoints) of the benchmark's models."""
    import torch

    commits: Counter[str] = Counter()
    flops, n = 0.0, 0
    for path in (Path(root) / EXPERIMENT).glob("*/*/models/**/model.pt"):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(payload["meta"])
        commits[str(meta.get("git_commit") or "unknown")[:7]] += 1
        flops += _flops(payload, meta)
        n += 1
    return commits, flops, n


def wall_clock(root: Path, boards: list[Path]) -> float:
    """Seconds from the first benchmark dataset written to the last leaderboard written."""
    data = list((Path(root).parent / "trajectories").glob("*/*-ds*.npz"))
    start = min((p.stat().st_mtime for p in data), default=None)
    end = max(p.stat().st_mtime for p in boards)
    return 0.0 if start is None else max(0.0, end - start)


def benchmark_section(root: Path) -> list[str]:
    """The section's lines ([] when no leaderboard was written)."""
    boards = leaderboard_files(root)
    if not boards:
        return []
    frames = []
    for path in boards:
        hint = f"trajmbrl mode=leaderboard experiment={EXPERIMENT} envs={path.parents[2].name}"
        frames.append(pd.read_csv(check_table(path, hint, run_dir=path.parents[2])))
    board = pd.concat(frames, ignore_index=True)
    commits, flops, n = training_cost(root)
    trained = ", ".join(f"{c} ({k})" for c, k in commits.most_common()) or "unknown"
    minutes = wall_clock(root, boards) / 60
    return [
        "### Which model for long horizons?",
        "",
        f"The benchmark (`make benchmark`, docs/benchmark.md): {board['system'].nunique()} "
        f"systems, {n} trained checkpoints (commits {trained}), {flops / 1e12:.3g} TFLOP of "
        f"training, {minutes:.0f} min wall-clock from the first dataset to the last "
        "leaderboard. Skill = median nMSE / median hmean nMSE with 95% hierarchical-bootstrap "
        "intervals (datasets, seeds, test trajectories); a row wins only when the interval of "
        "the ratio excludes 1 and the Holm-corrected Wilcoxon test agrees.",
        "",
        "What wins where:",
        "",
        *verdict_lines(board),
        "",
        board_markdown(board),
    ]
