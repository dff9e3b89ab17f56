"""mode=leaderboard: the benchmark's leaderboard of one system (env + data mode).

Reads the metrics CSVs of every dataset ``benchmark.datasets`` (``data.seed``; the benchmark's
``data.tag`` names the seed, conf/experiment/benchmark.yaml), keeps the selected ``models`` (the
seeds ``benchmark.seeds``, the settings ``benchmark.settings``) and ``eval.baselines``, and writes
``<output_dir>/<experiment>/<env>/<[scale_]data_tag>/``: ``tables/{leaderboard,pairs,per_seed,
curves}.csv`` + ``leaderboard.md`` (with ``tables/MANIFEST.json``) and
``figures/skill_vs_horizon.<fmt>`` (reports/benchmark.py, plotting/benchmark.py).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.aggregate import collect_metrics, metric_files
from trajmbrl.modes.artifacts import current_dataset_sha256
from trajmbrl.modes.settings import model_keys, typed
from trajmbrl.plotting.benchmark import skill_figure
from trajmbrl.reports.benchmark import (
    PAPER_VARIANT,
    BenchmarkSettings,
    board_markdown,
    leaderboard,
    verdict_lines,
)
from trajmbrl.utils.atomic import atomic_write_text
from trajmbrl.utils.locks import artifact_lock

log = logging.getLogger("trajmbrl")

#: the tables mode=leaderboard writes (tables/<name>.csv)
TABLES = ("leaderboard", "pairs", "per_seed", "curves")


def system_dir(cfg: DictConfig) -> Path:
    """``<output_dir>/<experiment>/<env>/<[scale_]data_tag>``: the leaderboard of a system."""
    prefix = "" if cfg.scale_name is None else f"{cfg.scale_name}_"
    env_dir = Path(cfg.paths.output_dir) / str(cfg.experiment_name) / str(cfg.env.name)
    return env_dir / f"{prefix}{cfg.env.data_tag}"


def dataset_runs(cfg: DictConfig) -> list[tuple[int, DictConfig]]:
    """(data seed, the config pointed at that dataset) for every ``benchmark.datasets`` entry."""
    out = []
    for seed in cfg.benchmark.datasets:
        one = copy.deepcopy(cfg)
        OmegaConf.update(one, "data.seed", int(seed))
        out.append((int(seed), one))
    dirs = {str(c.paths.run_dir) for _, c in out}
    if len(dirs) != len(out):
        raise TrajmbrlError(
            f"data.tag={cfg.data.tag} does not depend on data.seed, so benchmark.datasets="
            f"{list(cfg.benchmark.datasets)} are one dataset: use experiment=benchmark (its "
            "data.tag ends in -ds${data.seed})"
        )
    return out


def variants(cfg: DictConfig) -> list[str]:
    """The ``train.variant`` of every ``benchmark.settings`` entry (paper = n=all_t=all, a
    preset such as tuned = n=all_t=all_tuned)."""
    return [
        PAPER_VARIANT if s == "paper" else f"{PAPER_VARIANT}_{s}" for s in cfg.benchmark.settings
    ]


def eval_baselines(cfg: DictConfig) -> list[str]:
    """The baselines of ``eval.baselines`` the leaderboard shows (a list, one key or ``all``;
    ``oracle`` replays the simulator: shown in mode=plot, never a benchmark row)."""
    from trajmbrl.evaluation.horizon import BASELINES

    value = cfg.eval.baselines
    keys = list(BASELINES) if value == "all" else [value] if isinstance(value, str) else value
    return [str(k) for k in keys or [] if k != "oracle"]


def read_frame(cfg: DictConfig) -> tuple[pd.DataFrame, list[Path]]:
    """The tidy nMSE rows of every dataset (column ``dataset`` = its data seed) and the metrics
    files they were read from."""
    keys, baselines = model_keys(cfg), eval_baselines(cfg)
    if "hmean" not in baselines:
        raise TrajmbrlError("mode=leaderboard needs hmean in eval.baselines (skill is vs hmean)")
    frames, files = [], []
    for seed, one in dataset_runs(cfg):
        run_dir = Path(one.paths.run_dir)
        if not metric_files(run_dir):
            raise TrajmbrlError(
                f"no metrics under {run_dir} (dataset data.seed={seed}): evaluate it first: "
                f"trajmbrl -m mode=eval experiment={cfg.experiment_name} envs={cfg.env.name} "
                f"data.seed={seed} seed={','.join(str(s) for s in cfg.benchmark.seeds)}"
            )
        frame = collect_metrics(run_dir, dataset_sha256=current_dataset_sha256(one))
        files += metric_files(run_dir)
        frames.append(frame.assign(dataset=seed))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["metric"] == "nmse"]
    trained = frame["model"].isin(keys) & frame["variant"].isin(variants(cfg))
    trained &= frame["seed"].isin([int(s) for s in cfg.benchmark.seeds])
    frame = frame[trained | frame["model"].isin(baselines)]
    found = set(frame["model"])
    missing = [k for k in keys if k not in found]
    if missing:
        raise TrajmbrlError(
            f"no metrics of {missing} (benchmark.settings={list(cfg.benchmark.settings)}, "
            f"benchmark.seeds={list(cfg.benchmark.seeds)}) under the datasets of "
            f"{cfg.env.name}: train and evaluate them first (make benchmark)"
        )
    return frame.reset_index(drop=True), files


def run(cfg: DictConfig) -> None:
    """Write the leaderboard tables and figure of one system and print its markdown."""
    settings = typed(BenchmarkSettings, cfg.benchmark)
    out = system_dir(cfg)
    frame, sources = read_frame(cfg)
    system = f"{cfg.env.name} / {cfg.env.data_tag}"
    hs = sorted(h for h in cfg.plot.horizons if h <= int(frame["horizon"].max()))
    with artifact_lock(out / ".report.lock", f"the leaderboard of {system}"):
        board = leaderboard(frame, system, horizons=hs or None, settings=settings)
        tables = []
        for name in TABLES:
            path = out / "tables" / f"{name}.csv"
            atomic_write_text(path, getattr(board, _FIELDS[name]).to_csv(index=False))
            tables.append(path)
        text = board_markdown(board.board) + "\n" + "\n".join(verdict_lines(board.board)) + "\n"
        atomic_write_text(out / "tables" / "leaderboard.md", text)
        write_manifest(
            out / "tables", tables, run_dir=out.parent, sources=sources, dataset_sha256=None
        )
        figures = skill_figure(
            board.curves, out / "figures" / "skill_vs_horizon", list(cfg.plot.formats)
        )
    print(f"\nLeaderboard of {system} ({len(cfg.benchmark.datasets)} datasets):\n")
    print(text)
    log.info("Leaderboard tables: %s; figure: %s", out / "tables", ", ".join(map(str, figures)))


_FIELDS = {"leaderboard": "board", "pairs": "pairs", "per_seed": "per_seed", "curves": "curves"}
