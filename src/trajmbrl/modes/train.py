"""mode=train: build samples from the training split and fit each selected model key."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from trajmbrl.artifacts.layout import CHECKPOINT, HISTORY, SUMMARY, TRAIN_STATE, ModelSlot
from trajmbrl.artifacts.status import Status, checkpoint_status
from trajmbrl.artifacts.store import ModelStore, StoreDamaged, weight_inputs
from trajmbrl.artifacts.store import fingerprint as weights_fp
from trajmbrl.data.pairs import Sampling
from trajmbrl.data.storage import TrajectoryData
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.artifacts import claimed, layout, load_env_dataset, provenance, slot
from trajmbrl.modes.console import user_overrides
from trajmbrl.modes.settings import (
    build,
    device,
    model_keys,
    model_settings,
    positive,
    positive_int,
    to_dict,
    typed,
)
from trajmbrl.utils.atomic import atomic_write_json, atomic_write_text, config_hash
from trajmbrl.utils.format import fmt_number
from trajmbrl.utils.locks import artifact_lock

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """Train every selected key (``models=t`` or ``models=[d,t]``) on ``paths.dataset``."""
    keys = model_keys(cfg)
    settings = {key: model_settings(cfg, key) for key in keys}  # reject bad overrides first
    if cfg.grid.batched:
        cells = grid_cells(cfg)  # bad lists are rejected before the dataset is read
        data = load_env_dataset(cfg)
        for key in keys:
            if windowed(settings[key]):
                train_one_by_one(cfg, settings[key], data, cells)
            else:
                train_grid(cfg, settings[key], data, cells)
        return
    data = load_env_dataset(cfg)
    for key in keys:
        train_model(cfg, settings[key], data)


def grid_cells(cfg: DictConfig) -> list[tuple[Any, Any, int]]:
    """(num_traj, t_range, seed) of every cell of ``grid.*`` (an empty list: the run's value)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if cfg.train.patience is not None:
        raise TrajmbrlError(
            f"grid.batched=true trains fixed budgets: set train.patience=null "
            f"(got {cfg.train.patience}) and train.steps or model.epochs"
        )
    if cfg.train.tensorboard:
        raise TrajmbrlError("train.tensorboard=true is not supported with grid.batched=true")
    swept = [
        o.split("=")[0]
        for o in user_overrides() or []
        if o.split("=")[0] in ("train.num_traj", "train.t_range", "seed")
    ]
    if swept and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise TrajmbrlError(
            f"grid.batched=true trains the whole grid in one job: do not sweep "
            f"{', '.join(swept)} (set grid.num_traj/t_range/seeds instead)"
        )
    snapshots = list(cfg.grid.get("snapshots") or [])
    slow = [k for k in model_keys(cfg) if windowed(model_settings(cfg, k))]
    if snapshots and slow:
        raise TrajmbrlError(
            f"grid.snapshots is not supported for {', '.join(slow)} (k-step or sequence "
            "models train cell by cell, without budget snapshots): drop them from models="
        )
    lists = {}
    for name, run_value in (
        ("num_traj", cfg.train.num_traj),
        ("t_range", cfg.train.t_range),
        ("seeds", cfg.seed),
    ):
        values = list(cfg.grid[name] or []) or [run_value]
        for v in values:
            if v is not None:
                positive_int(v, f"grid.{name}", minimum=0 if name == "seeds" else 1)
        lists[name] = values
    return [(n, t, s) for n in lists["num_traj"] for t in lists["t_range"] for s in lists["seeds"]]


def windowed(model_cfg: dict[str, Any]) -> bool:
    """True for keys trained on windows (a k-step loss or the sequence family): the batched
    grid trainer does not run them, so a grid trains them cell by cell."""
    return model_cfg.get("family") == "sequence" or int(model_cfg.get("unroll") or 1) > 1


def train_one_by_one(
    cfg: DictConfig,
    model_cfg: dict[str, Any],
    data: TrajectoryData,
    cells: list[tuple[Any, Any, int]],
) -> None:
    """Train every cell of a windowed key (:func:`windowed`) as its own ``mode=train`` run
    would: the same files, the same store, one fit per cell."""
    key = str(model_cfg["key"])
    log.info(
        "%s: %d grid cells trained one by one (k-step and sequence models have no batched "
        "grid trainer)",
        key,
        len(cells),
    )
    for cell in cells:
        work = copy.deepcopy(cfg)
        _select(work, cell)
        train_model(work, model_cfg, data)


def _select(cfg: DictConfig, cell: tuple[Any, Any, int]) -> None:
    """Point ``cfg`` (a private copy) at one grid cell: train.num_traj, train.t_range, seed."""
    cfg.train.num_traj, cfg.train.t_range, cfg.seed = cell


def train_grid(
    cfg: DictConfig,
    model_cfg: dict[str, Any],
    data: TrajectoryData,
    cells: list[tuple[Any, Any, int]],
) -> None:
    """Train every cell of model key ``model_cfg`` as members of batched modules (chunks of
    ``grid.chunk`` members); each cell writes the files a single ``mode=train`` run writes."""
    from trajmbrl.training.fit import fit_many
    from trajmbrl.training.summary import summarize

    key, work, todo = str(model_cfg["key"]), copy.deepcopy(cfg), []
    reused = 0
    for cell in cells:
        _select(work, cell)
        where, fp = slot(work, key), fingerprint(work, model_cfg, data)
        out, inputs = layout(work).model_dir(where), store_inputs(work, model_cfg, data, "grid")
        if _finished(out / CHECKPOINT, fp, where.expect(), overwrite=bool(cfg.overwrite)):
            backfill(work, inputs, where, out)
            continue
        if inputs is not None and _reuse_cell(work, inputs, where, data, out, fp):
            reused += 1
            continue
        x, y, report, spec = build_training_set(work, model_cfg, data)
        todo.append(
            (cell, out, fp, report, spec, (x, y, report.traj), train_config(work, model_cfg))
            + (inputs,)
        )
    log.info(
        "%s: %d grid cells to train, %d already trained, %d reused from the model store",
        key,
        len(todo),
        len(cells) - len(todo) - reused,
        reused,
    )
    if not todo:
        return
    prov, saved, flagged = provenance(), [0], []
    snaps = [int(s) for s in cfg.grid.get("snapshots") or []]
    if snaps and (cfg.train.steps is None or max(snaps) >= int(cfg.train.steps)):
        raise TrajmbrlError(
            f"grid.snapshots={snaps} must all be below train.steps={cfg.train.steps} "
            "(the final model is the last budget)"
        )

    def save(indices: list[int], results: list[Any]) -> None:
        for i, (model, history) in zip(indices, results):
            cell, out, fp, report, *_, inputs = todo[i]
            _select(work, cell)
            where = slot(work, key)
            wfp = None if inputs is None else weights_fp(inputs)
            with artifact_lock(layout(work).model_lock(where), f"model {key}"):  # one writer
                if not _finished(
                    out / CHECKPOINT, fp, where.expect(), overwrite=bool(cfg.overwrite)
                ):
                    x, y, groups = todo[i][5]
                    summary = summarize(model, history, y, todo[i][6], groups=groups)
                    meta = model_meta(work, fp, data, report, history, prov, wfp)
                    save_model(out, model, history, meta, summary)
                    if summary.flagged:  # one line per key at the end, not one per cell
                        flagged.append(summary.worst_ratio)
                    if inputs is not None and wfp is not None:
                        store = model_store(work)
                        with artifact_lock(store.lock(wfp), f"model {wfp[:12]} in the store"):
                            register(work, store, wfp, inputs, out)
        saved[0] += len(indices)
        log.info("%s: %d/%d grid cells trained and saved", key, saved[0], len(todo))

    def snapshot(indices: list[int], steps: int, results: list[Any]) -> None:
        for i, (model, val) in zip(indices, results):  # 5.4's own-budget rows (issue 21)
            cell, _, fp, report, *_ = todo[i]
            _select(work, cell)
            meta = {**model_meta(work, fp, data, report, _Steps(steps, val), prov)}
            save_checkpoint(
                layout(work).budget_checkpoint(slot(work, key), steps), model, meta=meta
            )

    from trajmbrl.models.checkpoint import save_checkpoint

    fit_many(
        todo[0][4],
        [t[5] for t in todo],
        [t[6] for t in todo],
        device=device(cfg),
        chunk_members=positive(cfg, "grid.chunk", allow_none=False),
        on_chunk=save,
        snapshots=snaps,
        on_snapshot=snapshot if snaps else None,
    )
    if flagged:
        log.warning(
            "%s: %d of %d grid cells have a member no better than predicting the training mean "
            "(validation MSE up to %s x the mean predictor's; each cell's summary.json lists "
            "its flagged members)",
            key,
            len(flagged),
            len(todo),
            fmt_number(max(flagged)),
        )


class _Steps:
    """What a budget snapshot's meta records of its training (like ``History.summary``)."""

    def __init__(self, steps: int, val: list[float]) -> None:
        self.steps, self.val = steps, val

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "best_score": self.val}


def train_model(cfg: DictConfig, model_cfg: dict[str, Any], data: TrajectoryData) -> None:
    """Train one model key (``model_cfg``: its settings) under its slot's lock, unless it is
    already trained; write ``model.pt`` and ``history.csv``."""
    where, fp = slot(cfg, str(model_cfg["key"])), fingerprint(cfg, model_cfg, data)
    out = layout(cfg).model_dir(where)

    def done() -> bool:
        return _finished(out / CHECKPOINT, fp, where.expect(), overwrite=bool(cfg.overwrite))

    inputs = store_inputs(cfg, model_cfg, data, trainer="fit")
    with claimed(layout(cfg).model_lock(where), f"model {where.key}", done) as finished:
        if finished:
            log.info("Model %s already trained with this config; nothing to do.", out / CHECKPOINT)
            backfill(cfg, inputs, where, out)
            return
        if inputs is None:  # no dataset sha256: nothing to address the model by
            _train(cfg, model_cfg, data, out, fp)
            return
        wfp, store = weights_fp(inputs), model_store(cfg)
        with artifact_lock(store.lock(wfp), f"model {wfp[:12]} in the store {store.root}"):
            if not reuse(cfg, store, wfp, where, data, out, fp):
                _train(cfg, model_cfg, data, out, fp, wfp)
                register(cfg, store, wfp, inputs, out)


def _train(
    cfg: DictConfig,
    model_cfg: dict[str, Any],
    data: TrajectoryData,
    out: Path,
    fp: str,
    wfp: str | None = None,
) -> None:
    """Fit a fresh (or resumed) model of ``model_cfg`` into ``out``."""
    from trajmbrl.training.curves import CurveLog
    from trajmbrl.training.fit import fit
    from trajmbrl.training.summary import summarize

    x, y, report, spec = build_training_set(cfg, model_cfg, data)
    log.info("%s", report.describe())
    config = train_config(cfg, model_cfg)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.overwrite:
        (out / TRAIN_STATE).unlink(missing_ok=True)  # start afresh, as asked
    if (out / TRAIN_STATE).exists():
        log.info("Resuming the interrupted training from %s", out / TRAIN_STATE)
    curves = CurveLog(out / HISTORY, tensorboard=bool(cfg.train.tensorboard))
    try:
        model, history = fit(
            spec,
            x,
            y,
            config,
            groups=report.traj,
            device=device(cfg),
            state_path=out / TRAIN_STATE,
            progress=cfg.progress,
            on_epoch=curves,
            sampler=build(cfg.env.sampler) if spec.unroll_actions == "controller" else None,
        )
    finally:
        curves.close()
    summary = summarize(model, history, y, config, groups=report.traj)
    meta = model_meta(cfg, fp, data, report, history, provenance(), wfp)
    save_model(out, model, history, meta, summary)
    log.info(
        "Saved %s (best validation MSE per member: %s)",
        out / CHECKPOINT,
        ", ".join(fmt_number(s) for s in history.best_score),
    )
    report_summary(summary)


def report_summary(summary: Any) -> None:
    """Log the training summary table and warn in one line when a member is no better than
    the mean predictor (grid cells: one line per key, in :func:`train_grid`)."""
    log.info(
        "Training summary of %s (validation MSE in normalised units; the mean predictor "
        "predicts the training mean of the target):\n%s",
        summary.key,
        summary.table(),
    )
    warning = summary.warning()
    if warning is not None:
        log.warning("%s", warning)


def _reuse_cell(
    cfg: DictConfig,
    inputs: dict[str, Any],
    where: ModelSlot,
    data: TrajectoryData,
    out: Path,
    fp: str,
) -> bool:
    """Reuse a stored model for one grid cell (under the slot's and the store's locks)."""
    if not cfg.train.reuse or cfg.overwrite:
        return False
    wfp, store = weights_fp(inputs), model_store(cfg)
    with (
        artifact_lock(layout(cfg).model_lock(where), f"model {where.key}"),
        artifact_lock(store.lock(wfp), f"model {wfp[:12]} in the store"),
    ):
        return reuse(cfg, store, wfp, where, data, out, fp)


def model_store(cfg: DictConfig) -> ModelStore:
    """The content-addressed model store of this run (``paths.models_store``)."""
    return ModelStore(Path(cfg.paths.models_store))


def store_inputs(
    cfg: DictConfig, model_cfg: dict[str, Any], data: TrajectoryData, trainer: str
) -> dict[str, Any] | None:
    """What the weights of model ``model_cfg`` trained by this run depend on (the store's
    fingerprint inputs, :func:`trajmbrl.artifacts.store.weight_inputs`); None when the
    dataset records no sha256 (nothing to address the model by)."""
    import torch

    sha = data.meta.get("sha256")
    if not sha:
        return None
    return weight_inputs(
        dataset_sha256=str(sha),
        model=model_cfg,
        train=to_dict(cfg.train),
        seed=int(cfg.seed),
        device=device(cfg).type,
        threads=torch.get_num_threads(),
        trainer=trainer,
    )


def _source(cfg: DictConfig, out: Path) -> str:
    """``<experiment>/<env>/<tag>/models/<key>/<variant>/seed=<s>`` (or the full path)."""
    try:
        return str(Path(out).resolve().relative_to(Path(cfg.paths.output_dir).resolve()))
    except ValueError:
        return str(out)


def reuse(
    cfg: DictConfig,
    store: ModelStore,
    wfp: str,
    where: ModelSlot,
    data: TrajectoryData,
    out: Path,
    fp: str,
) -> bool:
    """Put the stored model ``wfp`` into the slot ``out`` (a checkpoint of its own, with
    ``reused_from``); False when there is none, ``train.reuse=false``, ``overwrite=true``, or
    the entry is damaged (then one warning line, and the caller trains it again)."""
    from trajmbrl.models.checkpoint import save_checkpoint

    if not cfg.train.reuse or cfg.overwrite:
        return False
    expect = {**where.expect(), "dataset_sha256": data.meta.get("sha256")}
    try:
        stored = store.lookup(wfp, expect)
    except StoreDamaged as exc:
        log.warning("%s; training the model again.", exc)
        return False
    if stored is None:
        return False
    meta = {k: v for k, v in stored.meta.items() if k != "checkpoint_sha256"}
    meta.update(
        config_hash=fp,
        dataset=str(cfg.paths.dataset),
        env=cfg.env.name,
        config=to_dict(cfg),
        reused_from={
            "fingerprint": wfp,
            "source": stored.source,
            "store_entry": str(store.entry_dir(wfp)),
            "checkpoint_sha256": stored.checkpoint_sha256,
        },
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / HISTORY, stored.history.read_text())
    save_checkpoint(out / CHECKPOINT, stored.model, meta=meta)
    (out / TRAIN_STATE).unlink(missing_ok=True)
    log.info("reused %s from %s", wfp[:12], stored.source)
    return True


def register(
    cfg: DictConfig, store: ModelStore, wfp: str, inputs: dict[str, Any], out: Path
) -> None:
    """Store the model just written to ``out`` under ``wfp`` (store lock held); a store that
    cannot be written costs the reuse, not the trained model (one warning)."""
    try:
        store.register(wfp, out, source=_source(cfg, out), inputs=inputs)
    except (OSError, TrajmbrlError) as exc:
        log.warning("Could not add %s to the model store %s: %s", out, store.root, exc)


def backfill(cfg: DictConfig, inputs: dict[str, Any] | None, where: ModelSlot, out: Path) -> None:
    """Store a slot's finished model when its store entry is missing or damaged (deleted
    store, entry edited): only a checkpoint that records this fingerprint; silent where the
    tree cannot be written."""
    from trajmbrl.models.checkpoint import load_checkpoint

    if inputs is None:
        return
    wfp, store = weights_fp(inputs), model_store(cfg)
    expect = {**where.expect(), "dataset_sha256": inputs["dataset_sha256"]}
    try:
        if load_checkpoint(out / CHECKPOINT)[1].get("model_fingerprint") != wfp:
            return
        with artifact_lock(store.lock(wfp), f"model {wfp[:12]} in the store"):
            try:
                if store.lookup(wfp, expect) is not None:
                    return
            except StoreDamaged:
                pass
            store.register(wfp, out, source=_source(cfg, out), inputs=inputs)
    except (OSError, TrajmbrlError) as exc:
        log.debug("Model %s not added to the store %s: %s", out, store.root, exc)


def fingerprint(cfg: DictConfig, model_cfg: dict[str, Any], data: TrajectoryData) -> str:
    """What makes a trained model the same: model settings, ``train.*``, seed, dataset sha256."""
    return config_hash(
        {
            "model": model_cfg,
            "train": to_dict(cfg.train),
            "seed": cfg.seed,
            "dataset": data.meta.get("sha256"),
        }
    )


def model_meta(
    cfg: DictConfig,
    fp: str,
    data: TrajectoryData,
    report: Any,
    history: Any,
    prov: dict[str, Any],
    wfp: str | None = None,
) -> dict[str, Any]:
    """The checkpoint's meta: provenance (dataset sha256, variant, seed, config, versions) and
    ``model_fingerprint`` (the model store's address of its weights, when it has one)."""
    return {
        "config_hash": fp,
        **({"model_fingerprint": wfp} if wfp else {}),
        "dataset": str(cfg.paths.dataset),
        "dataset_sha256": data.meta.get("sha256"),
        "variant": str(cfg.train.variant),
        "env": cfg.env.name,
        "seed": int(cfg.seed),
        "samples": report.to_dict(),
        **history.summary(),
        "config": to_dict(cfg),
        **prov,
    }


def save_model(
    out: Path, model: Any, history: Any, meta: dict[str, Any], summary: Any = None
) -> None:
    """Write ``history.csv``, ``summary.json`` (a :class:`TrainingSummary`, when given) and
    ``model.pt`` atomically (the checkpoint last: it marks the slot done); drop a stale
    ``train_state.pt``."""
    from trajmbrl.models.checkpoint import save_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / HISTORY, history.to_frame().to_csv(index=False))
    if summary is not None:
        atomic_write_json(
            out / SUMMARY, {**summary.to_dict(), "config_hash": meta.get("config_hash")}
        )
    save_checkpoint(out / CHECKPOINT, model, meta=meta)
    (out / TRAIN_STATE).unlink(missing_ok=True)


def train_config(cfg: DictConfig, model_cfg: dict[str, Any]) -> Any:
    """The trainer's plain config from the model's settings and ``train.*``."""
    from trajmbrl.api import trainer_config

    return trainer_config(
        model_cfg,
        seed=int(cfg.seed),
        patience=cfg.train.patience,  # the schema checked train.*, TrainConfig checks again
        val_fraction=float(cfg.train.val_fraction),
        split=str(cfg.train.split),
        steps=cfg.train.steps,
        precision=str(cfg.train.precision),
        resample=str(cfg.train.resample),
        elites=cfg.train.elites,
    )


def build_training_set(
    cfg: DictConfig, model_cfg: dict[str, Any], data: TrajectoryData
) -> tuple[Any, ...]:
    """Samples and model spec for one model (``model_cfg``) from the dataset's training split.

    :returns: x (M, in) float32, y (M, out) float32, SampleReport, ModelSpec
    """
    from trajmbrl.api import training_samples
    from trajmbrl.models.dynamics import ModelSpec

    if data.train().num == 0:
        raise TrajmbrlError(f"Dataset {cfg.paths.dataset} has no training trajectories")
    sampling = typed(Sampling, cfg.train)  # train.num_traj, t_range, keep_rate, max_pairs
    x, y, report = training_samples(
        data,
        str(model_cfg["key"]),
        num_traj=sampling.num_traj,
        t_range=sampling.t_range,
        keep_rate=None if sampling.keep_rate is None else float(sampling.keep_rate),
        max_pairs=sampling.max_pairs,
        seed=int(cfg.seed),
        unroll=int(model_cfg.get("unroll", 1)),
        window=model_cfg.get("window"),
    )
    spec = ModelSpec.from_settings(
        model_cfg, state_dim=data.state_dim, action_dim=data.action_dim, param_dim=data.param_dim
    )
    return x, y, report, spec


def _finished(path: Path, fingerprint: str, expect: dict[str, Any], *, overwrite: bool) -> bool:
    """True when ``path`` holds a model trained with the same config in this slot (``expect``);
    error on a mismatch, a damaged file or a checkpoint of another slot."""
    if overwrite:
        return False
    check = checkpoint_status(path, fingerprint, expect)
    if check.status is Status.DAMAGED:
        raise TrajmbrlError(check.reason)
    if check.status is not Status.CONFLICT:
        return check.done
    raise TrajmbrlError(
        f"Model {path} exists but was trained with a different config or dataset.\n"
        "  Pass overwrite=true to retrain it, or experiment_name=<name> to train elsewhere."
    )
