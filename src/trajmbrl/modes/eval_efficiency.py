"""eval=efficiency (paper 5.4): score every trained (num_traj, t_range, copy) model and the
``eval.baselines`` fitted on each cell's own training data (zero, hmean, lin, lint)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from tqdm.auto import tqdm

from trajmbrl.artifacts.layout import parse_model_dir
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.efficiency import (
    CELL_BASELINES,
    cell_baseline_predictions,
    efficiency_scores,
    grid_cell,
    select_eval_trajectories,
    tidy_scores,
)
from trajmbrl.modes.artifacts import (
    data_dims,
    eval_fingerprint,
    is_current,
    layout,
    load_env_dataset,
    write_result,
)
from trajmbrl.modes.console import command
from trajmbrl.modes.prediction import (
    eval_protocols,
    predict_states,
    protocols_fingerprint,
    sampler_for,
)
from trajmbrl.modes.settings import device, eval_size, model_keys, progress
from trajmbrl.utils.atomic import sha256_file

log = logging.getLogger("trajmbrl")


def grid_row(key: str, protocol: str) -> str:
    """The grid's model label: the key for trajectory models and logged-action roll-outs (the
    paper's protocol), ``"<key> (closed loop)"`` for the controller-in-the-loop roll-out."""
    return f"{key} (closed loop)" if protocol.startswith("controller") else key


def cell_baselines(cfg: DictConfig) -> list[str]:
    """``eval.baselines`` scored per grid cell: the data-fitted ones (``all``: every one of
    them; ``oracle`` does not depend on a cell's data and is refused)."""
    from trajmbrl.evaluation.horizon import BASELINES

    value = cfg.eval.baselines
    if value == "all":
        return list(CELL_BASELINES)
    keys = [value] if isinstance(value, str) else list(value or [])  # a key, not its letters
    unknown = [k for k in keys if k not in BASELINES]
    if unknown:
        raise TrajmbrlError(f"eval.baselines accepts {', '.join(BASELINES)} or all, got {unknown}")
    other = [k for k in keys if k not in CELL_BASELINES]
    if other:
        raise TrajmbrlError(
            f"eval.baselines: {other} cannot be fitted on a grid cell's data; the efficiency "
            f"task scores {', '.join(CELL_BASELINES)} per cell (score {other} with "
            "eval.task=horizon)"
        )
    return keys


def run(cfg: DictConfig) -> None:
    """Predict the same test trajectories with every grid model and, per cell, every
    ``eval.baselines`` fitted on that cell's training data; write one tidy CSV."""
    from trajmbrl.models.checkpoint import load_checkpoint

    data = load_env_dataset(cfg)
    test = data.test()
    k = eval_size(cfg, "num_traj", test.num)  # 10 (conf/eval/efficiency.yaml)
    idx = select_eval_trajectories(test.num, k, seed=int(cfg.data.seed))
    test = test.subset(idx)
    horizon = eval_size(cfg, "horizon", test.horizon)  # 100
    if horizon > test.horizon:
        raise TrajmbrlError(f"eval.horizon={horizon} exceeds the test length {test.horizon}")
    keys, files, baselines = model_keys(cfg), layout(cfg), cell_baselines(cfg)
    paths = sorted(p for key in keys for p in files.grid_checkpoints(key))
    if not paths:
        raise TrajmbrlError(
            f"No grid models under {cfg.paths.models_dir} for {keys}\n"
            f"  Train them with: {command(cfg, 'train', multirun=True)}"
        )
    out, dataset = files.efficiency_csv(), data.meta.get("sha256")
    fingerprint = eval_fingerprint(
        cfg,
        horizon,
        k=k,
        models=[(str(p), sha256_file(p)) for p in paths + budget_paths(cfg, keys)],
        **protocols_fingerprint(cfg, eval_protocols(cfg)),
        **({"baselines": baselines} if baselines else {}),  # none: the earlier hashes
    )
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite), expect={"dataset": dataset}):
        log.info("Efficiency scores %s are up to date.", out)
        return
    dev = device(cfg)
    true = test.states[:, 1 : horizon + 1]
    frames: list[pd.DataFrame] = []
    # per (key, cell, copy): (mean validation score, steps, scores) of the final model and of
    # every budget snapshot, for the own-budget rows
    candidates: dict[tuple[str, int, int, int], list[tuple[float, int, list[pd.DataFrame]]]] = {}
    budget = budget_paths(cfg, keys)
    todo = [(p, False) for p in paths] + [(p, True) for p in budget]
    for path, is_snapshot in tqdm(
        todo, desc="score grid models", unit="model", disable=not progress(cfg)
    ):
        where = parse_model_dir(path)  # checked against the slot it is read from
        model, meta = load_checkpoint(path, expect={**data_dims(test), **where.expect()})
        model.to(dev)
        num_traj, t_range = grid_cell(where.variant)
        copy, steps = where.seed, int(meta.get("steps") or 0)
        scored = []
        for protocol, pred in predict_states(model, test, horizon, cfg).items():
            row = grid_row(model.spec.key, protocol)
            scored.append(
                tidy_scores(
                    efficiency_scores(true, pred),
                    idx,
                    env=cfg.env.name,
                    data=cfg.data.tag,
                    model=f"{row} @{steps}" if is_snapshot else row,
                    num_traj=num_traj,
                    t_range=t_range,
                    seed=copy,
                    horizon=horizon,
                )
            )
        frames += scored
        val = float(np.mean(meta.get("best_score") or [np.inf]))
        cand = candidates.setdefault((where.key, num_traj, t_range, copy), [])
        cand.append((val if np.isfinite(val) else np.inf, steps, scored))
    if budget:
        frames += own_budget_rows(candidates, keys)
    cells = sorted(
        {(*grid_cell(parse_model_dir(p).variant), parse_model_dir(p).seed) for p in paths}
    )
    frames += score_cell_baselines(cfg, data.train(), test, idx, true, cells, baselines)
    frame = pd.concat(frames, ignore_index=True)
    write_result(out, frame, fingerprint, overwrite=bool(cfg.overwrite), dataset=dataset)
    means = frame.groupby(["model", "metric"])["value"].apply(
        lambda v: float(np.mean(np.minimum(v, 100.0)))
    )
    log.info("Scored %d models on %d test trajectories -> %s\n%s", len(paths), k, out, means)


def budget_paths(cfg: DictConfig, keys: list[str]) -> list[Path]:
    """The budget snapshots (``grid.snapshots``) of ``keys`` in this run dir, sorted."""
    return sorted(p for key in keys for p in layout(cfg).budget_checkpoints(key))


def own_budget_rows(
    candidates: dict[tuple[str, int, int, int], list[tuple[float, int, list[pd.DataFrame]]]],
    keys: list[str],
) -> list[pd.DataFrame]:
    """Rows ``<row> (own budget)``: per key, cell and copy the scores of the model (final or
    snapshot) with the lowest mean validation score on the cell's held-out training
    trajectories (never the test ones); the chosen step count in column ``steps``."""
    out = []
    for (key, *_), cands in sorted(candidates.items()):
        if key not in keys or len(cands) < 2:
            continue
        _, steps, scored = min(cands, key=lambda c: (c[0], c[1]))  # ties: the smaller budget
        for frame in scored:
            label = str(frame["model"].iloc[0]).split(" @")[0]
            out.append(frame.assign(model=f"{label} (own budget)", steps=steps))
    return out


def score_cell_baselines(
    cfg: DictConfig,
    train: TrajectoryData,
    test: TrajectoryData,
    idx: np.ndarray,
    true: np.ndarray,
    cells: list[tuple[int, int, int]],
    baselines: list[str],
) -> list[pd.DataFrame]:
    """Tidy scores of every baseline in every ``(num_traj, t_range, copy)`` cell, fitted on
    the cell's training data; rows labelled like the models (``lin (closed loop)``)."""
    if not baselines:
        return []
    protocols = eval_protocols(cfg)
    sampler = sampler_for(cfg, protocols) if "lin" in baselines else None
    horizon = true.shape[1]
    frames = []
    todo = [(key, cell) for cell in cells for key in baselines]
    for key, cell in tqdm(todo, desc="score cell baselines", disable=not progress(cfg)):
        preds = cell_baseline_predictions(
            key, train, test, horizon, cell, protocols=protocols, sampler=sampler
        )
        for source, pred in preds.items():
            frames.append(
                tidy_scores(
                    efficiency_scores(true, pred),
                    idx,
                    env=cfg.env.name,
                    data=cfg.data.tag,
                    model=grid_row(key, source),
                    num_traj=cell[0],
                    t_range=cell[1],
                    seed=cell[2],
                    horizon=horizon,
                )
            )
    log.info("Scored %s in %d cells (fitted on each cell's data)", ", ".join(baselines), len(cells))
    return frames
