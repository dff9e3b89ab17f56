"""Many small models trained as members of one batched module (paper 5.4 grid, seed sweeps).

Every *cell* is one model a :class:`~trajmbrl.training.trainer.ModelTrainer` would train on its
own: its own samples ``x`` (N_c, in), ``y`` (N_c, out), trajectory ids, seed, step budget and
normaliser. :func:`train_cells` replays, per cell, exactly what ``ModelTrainer.fit`` does with
the cell's seed (same weight init, same split and resampling draws, same per-epoch shuffles,
same batches, Adam) but runs the cells of a chunk as the members of one
:class:`~trajmbrl.models.ensemble.EnsembleMLP`: the inputs are normalised per cell with the
cell's own statistics before the chunk's (S, E, B) batches are gathered, and each member's loss
is the mean over its own rows (a cell with fewer rows in a step is padded and masked). Cells are
sorted by batch size and step count, so a chunk rarely needs padding. Without padding a member
follows the single run's arithmetic; ``tests/test_grid.py`` compares both ways.

Only fixed budgets are supported (``patience=None``: no early stopping, the final weights are
kept, like ``ModelTrainer`` with ``patience=None``). The validation score is computed once, after
the last step (``History.rows`` carry it on the last epoch only, NaN before).

Budget snapshots (``snapshots``, issue 21): after each listed step count below a chunk's budget
the cells' current weights are copied into models of their own and scored on the cells'
validation rows (held-out training trajectories when ``val_fraction > 0``), handed to
``on_snapshot``; training continues unchanged (the snapshots draw no random numbers).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec
from trajmbrl.models.ensemble import EnsembleMLP
from trajmbrl.training.config import History, TrainConfig
from trajmbrl.training.precision import matmul_precision
from trajmbrl.training.splits import make_split

log = logging.getLogger("trajmbrl")


@dataclass
class Cell:
    """One model to train: raw samples x (N, in), y (N, out), ids ``groups`` (N,) or None."""

    x: Tensor
    y: Tensor
    groups: Tensor | None
    config: TrainConfig


@dataclass
class _Plan:
    """A cell after its split (what a chunk needs to build, normalise and schedule it)."""

    config: TrainConfig
    x: Tensor  # (N, in) raw
    y: Tensor  # (N, out) raw
    train: Tensor  # (N_train,) rows the normalisers are fitted on
    val: Tensor  # (N_val,) rows scored after training
    rows: Tensor  # (E, L) each member's rows (splits.Split.members)
    gen: torch.Generator  # the cell's generator after the split (draws the epochs' shuffles)
    steps: int  # gradient steps
    width: int  # rows per member in the largest batch
    val_is_train: bool  # splits.Split.val_is_train


def _plan(spec: ModelSpec, cell: Cell, device: torch.device) -> _Plan:
    """Split one cell as ``ModelTrainer.fit`` does with the cell's seed (see :mod:`.trainer`)."""
    cfg = cell.config
    if cfg.patience is not None:
        raise ArgumentError(
            "batched grid training needs a fixed budget: set {TrainConfig.patience}=null "
            f"(got {cfg.patience})"
        )
    x = cell.x.to(device, torch.float32)
    y = cell.y.to(device, torch.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise TrajmbrlError(
            f"grid cell needs x (N, in), y (N, out) with N >= 2; got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise TrajmbrlError("training data contains NaN or inf values; clean the dataset")
    gen = torch.Generator(device=device).manual_seed(int(cfg.seed))
    groups = cell.groups if cfg.split == "trajectory" else None
    split = make_split(
        x.shape[0],
        groups,
        ensemble=spec.ensemble_size,
        val_fraction=cfg.val_fraction,
        resample=cfg.resample,
        gen=gen,
        device=device,
    )
    length, bs = split.members.shape[1], cfg.batch_size
    steps = cfg.steps if cfg.steps is not None else cfg.epochs * -(-length // bs)
    width = min(bs, length)
    return _Plan(
        cfg, x, y, split.train, split.val, split.members, gen, steps, width, split.val_is_train
    )


def _batches(p: _Plan) -> tuple[list[Tensor], list[int]]:
    """Per step the (E, b) rows of every member and the step's 1-based epoch: the shuffles and
    batches of ``ModelTrainer._train_epoch``."""
    rows, bs = p.rows, p.config.batch_size
    batches: list[Tensor] = []
    epochs: list[int] = []
    while len(batches) < p.steps:
        order = torch.rand(rows.shape, generator=p.gen, device=rows.device).argsort(1)
        shuffled = rows.gather(1, order)
        length = min(rows.shape[1], (p.steps - len(batches)) * bs)
        epoch = (epochs[-1] if epochs else 0) + 1
        for lo in range(0, length, bs):
            batches.append(shuffled[:, lo : min(lo + bs, length)])
            epochs.append(epoch)
    return batches, epochs


def _chunks(plans: list[_Plan], members: int, ensemble: int) -> Iterator[list[int]]:
    """Cell indices grouped by (steps, batch width), at most ``members`` members a chunk."""
    order = sorted(range(len(plans)), key=lambda i: (plans[i].steps, plans[i].width))
    per = max(1, members // ensemble)
    chunk: list[int] = []
    for i in order:
        if chunk and (plans[chunk[0]].steps != plans[i].steps or len(chunk) >= per):
            yield chunk
            chunk = []
        chunk.append(i)
    if chunk:
        yield chunk


def train_cells(
    spec: ModelSpec,
    cells: list[Cell],
    *,
    device: torch.device | str = "cpu",
    chunk_members: int = 50,
    on_chunk: Callable[[list[int], list[tuple[DynamicsModel, History]]], None] | None = None,
    snapshots: Sequence[int] = (),
    on_snapshot: OnSnapshot | None = None,
) -> list[tuple[DynamicsModel, History]]:
    """Train every cell (model ``spec``, each with ``spec.ensemble_size`` members), in chunks of
    at most ``chunk_members`` members (at least one cell) batched into one module.

    ``on_chunk(indices, results)`` is called after each chunk (e.g. to save the cells' models;
    return nothing and drop them to keep memory flat: the results are then not kept).
    ``on_snapshot(indices, step, results)``: after each step count of ``snapshots`` below the
    chunk's budget, per cell a copy of the model at that step and its validation score per
    member (E,) (module doc).
    :returns: per cell (in input order) its trained model (eval mode) and :class:`History`,
        only when ``on_chunk`` is None.
    """
    if spec.family == "sequence" or spec.unroll > 1:
        raise ArgumentError(
            f"model {spec.key!r} trains on windows ({{ModelSpec.unroll}} or the sequence "
            "family), which the batched grid does not run; train it cell by cell"
        )
    device = torch.device(device)
    plans = [_plan(spec, c, device) for c in cells]
    shared = sum(p.val_is_train for p in plans)
    if shared:  # one line for the grid, not one per cell
        log.warning(
            "%d of %d grid cells have no validation data to hold out (val_fraction=0 or a "
            "single training trajectory): their validation score is on the training data "
            "(history.csv: val_is_train=True)",
            shared,
            len(plans),
        )
    results: list[tuple[DynamicsModel, History] | None] = [None] * len(cells)
    for idx in _chunks(plans, max(1, int(chunk_members)), spec.ensemble_size):
        hook = None
        if on_snapshot is not None:
            hook = lambda step, res, idx=idx: on_snapshot(idx, step, res)  # noqa: E731
        done = _train_chunk(spec, [plans[i] for i in idx], snapshots, hook)
        if on_chunk is not None:
            on_chunk(idx, done)
        else:
            for i, r in zip(idx, done):
                results[i] = r
    return [r for r in results if r is not None]


def _build(spec: ModelSpec, p: _Plan) -> tuple[DynamicsModel, Tensor, Tensor]:
    """The cell's model (its seed's init, normalisers fitted on its training rows) and its
    normalised data x (N, in), y (N, out)."""
    model = DynamicsModel(spec, seed=int(p.config.seed)).to(p.x.device)
    model.fit_normalizers(p.x[p.train], p.y[p.train])
    with torch.no_grad():
        return (
            model,
            model.in_norm.normalize(p.x),
            model.out_norm.normalize(model.targets(p.x, p.y)),
        )


def _stack(models: list[DynamicsModel], spec: ModelSpec) -> EnsembleMLP:
    """One module whose members are the cells' initial networks, in order."""
    e = sum(m.ensemble_size for m in models)
    net = EnsembleMLP(
        models[0].in_dim,
        spec.state_dim,
        hidden=spec.hidden,
        layers=spec.layers,
        ensemble=e,
        probabilistic=spec.probabilistic,
    ).to(models[0].device)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.cat([dict(m.net.named_parameters())[name] for m in models]))
    return net


def _schedule(
    plans: list[_Plan], sizes: list[int], ensemble: int
) -> tuple[Tensor, Tensor, Tensor, list[list[int]]]:
    """Rows (S, E, B) into the chunk's concatenated data (padding -> row 0), mask (S, E, B),
    rows per member and step (S, E), and every cell's 1-based epoch per step."""
    device = plans[0].x.device
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    steps, width = plans[0].steps, max(p.width for p in plans)
    e = ensemble * len(plans)
    rows = torch.zeros(steps, e, width, dtype=torch.long, device=device)
    mask = torch.zeros(steps, e, width, device=device)
    count = torch.zeros(steps, e, device=device)
    epochs = []
    for c, (p, off) in enumerate(zip(plans, offsets)):
        batches, ep = _batches(p)
        m = slice(c * ensemble, (c + 1) * ensemble)
        for s, b in enumerate(batches):
            rows[s, m, : b.shape[1]] = b + off
            mask[s, m, : b.shape[1]] = 1.0
            count[s, m] = b.shape[1]
        epochs.append(ep)
    return rows, mask, count, epochs


def _masked_loss(
    net: EnsembleMLP, xb: Tensor, yb: Tensor, mask: Tensor | None, count: Tensor
) -> Tensor:
    """Per-member loss (E,) like ``DynamicsModel.loss`` on normalised data, mean over each
    member's own ``count`` rows (``mask`` (E, B) zero on padding, None = no padding)."""
    mean, logvar = net(xb)
    sq = (mean - yb).square()
    per = sq if logvar is None else sq * torch.exp(-logvar) + logvar
    if mask is None:
        loss = per.mean((1, 2))
    else:
        loss = (per * mask.unsqueeze(-1)).sum((1, 2)) / (count * per.shape[-1])
    return loss if logvar is None else loss + net.bound_penalty()


def _optimizer(net: EnsembleMLP, configs: list[TrainConfig]) -> torch.optim.Optimizer:
    if len({(c.lr, c.weight_decay, c.precision) for c in configs}) > 1:
        raise ArgumentError(
            "cells trained together must share {TrainConfig.lr}, {TrainConfig.weight_decay} and "
            "{TrainConfig.precision}"
        )
    lr, wd = configs[0].lr, configs[0].weight_decay
    try:  # fused Adam, as ModelTrainer
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd, fused=True)
    except RuntimeError:
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)


#: ``on_snapshot(cell indices, step, [(model copy, validation score per member)])``
OnSnapshot = Callable[[list[int], int, list[tuple[DynamicsModel, list[float]]]], None]


def _snapshot(
    net: EnsembleMLP, models: list[DynamicsModel], plans: list[_Plan]
) -> list[tuple[DynamicsModel, list[float]]]:
    """Copies of the cells' models with the chunk's current weights, with validation scores."""
    params = dict(net.named_parameters())
    out = []
    for c, (model, p) in enumerate(zip(models, plans)):
        k = model.ensemble_size
        snap = copy.deepcopy(model)
        with torch.no_grad():
            for name, q in snap.net.named_parameters():
                q.copy_(params[name][c * k : (c + 1) * k])
        snap.eval()
        with matmul_precision(p.config.precision, snap.device):
            out.append((snap, snap.eval_score(p.x[p.val], p.y[p.val]).tolist()))
    net.train()
    return out


def _train_chunk(
    spec: ModelSpec,
    plans: list[_Plan],
    snapshots: Sequence[int] = (),
    on_snapshot: Callable[[int, list[tuple[DynamicsModel, list[float]]]], None] | None = None,
) -> list[tuple[DynamicsModel, History]]:
    """Train one chunk of cells (same step count) together; :returns: per cell (model, history)."""
    built = [_build(spec, p) for p in plans]
    models = [b[0] for b in built]
    net = _stack(models, spec)
    configs = [p.config for p in plans]
    opt = _optimizer(net, configs)
    rows, mask, count, epochs = _schedule(plans, [b[1].shape[0] for b in built], spec.ensemble_size)
    x = torch.cat([b[1] for b in built])
    y = torch.cat([b[2] for b in built])
    steps, e, width = rows.shape
    losses = torch.zeros(steps, e, dtype=torch.float64, device=x.device)
    net.train()
    for s in range(steps):
        flat = rows[s].reshape(-1)
        xb = x.index_select(0, flat).view(e, width, -1)
        yb = y.index_select(0, flat).view(e, width, -1)
        padded = bool((count[s] < width).any())
        with matmul_precision(configs[0].precision, x.device):
            loss = _masked_loss(net, xb, yb, mask[s] if padded else None, count[s])
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        losses[s] = loss.detach().to(torch.float64) * count[s]
        if on_snapshot is not None and s + 1 in snapshots and s + 1 < steps:
            on_snapshot(s + 1, _snapshot(net, models, plans))
    return _unpack(net, models, plans, losses, count, epochs)


def _unpack(
    net: EnsembleMLP,
    models: list[DynamicsModel],
    plans: list[_Plan],
    losses: Tensor,
    count: Tensor,
    epochs: list[list[int]],
) -> list[tuple[DynamicsModel, History]]:
    """Copy each cell's members back into its model; build its history (final val score)."""
    params = dict(net.named_parameters())
    out = []
    for c, (model, p, ep) in enumerate(zip(models, plans, epochs)):
        k = model.ensemble_size
        m = slice(c * k, (c + 1) * k)
        with torch.no_grad():
            for name, q in model.net.named_parameters():
                q.copy_(params[name][m])
        model.eval()
        with matmul_precision(p.config.precision, model.device):
            val = model.eval_score(p.x[p.val], p.y[p.val]).tolist()
        history = _history(p.config, ep, losses[:, m], count[:, m], val)
        history.val_is_train = p.val_is_train
        out.append((model, history))
    return out


def _history(
    cfg: TrainConfig, epoch_of_step: list[int], losses: Tensor, count: Tensor, val: list[float]
) -> History:
    """Per-epoch mean train loss per member; the validation score on the last epoch."""
    epochs = torch.tensor(epoch_of_step, device=losses.device) - 1
    last = int(epochs[-1]) + 1
    sums = torch.zeros(last, losses.shape[1], dtype=torch.float64, device=losses.device)
    rows = torch.zeros_like(sums)
    sums.index_add_(0, epochs, losses)
    rows.index_add_(0, epochs, count.to(torch.float64))
    mean = (sums / rows).tolist()
    h = History(
        best_epoch=[last] * len(val),
        best_score=list(val),
        stopped_epoch=last,
        steps=len(epoch_of_step),
    )
    for ep in range(last):
        for k, tl in enumerate(mean[ep]):
            if not math.isfinite(tl):
                raise ArgumentError(
                    f"training loss became NaN/inf in epoch {ep + 1} (member "
                    f"{k}); lower the learning rate {{TrainConfig.lr}} (now {cfg.lr:g})"
                )
            h.rows.append(
                {
                    "epoch": ep + 1,
                    "member": k,
                    "train_loss": tl,
                    "val_score": val[k] if ep + 1 == last else math.nan,
                }
            )
    order = sorted(range(len(val)), key=lambda j: val[j])
    h.elite_members = order[: cfg.elites] if cfg.elites is not None else list(range(len(val)))
    return h
