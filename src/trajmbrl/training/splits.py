"""Validation split and per-member resampling, over whole trajectories or single samples.

With trajectory ids (``groups``, one per sample) the validation part holds out whole
trajectories and bootstrap / K-fold draw whole trajectories, so no trajectory contributes to
both training and validation and each member sees a resample of controllers. Without ids (or
with ``split="sample"``) every sample is its own group: the per-sample behaviour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from trajmbrl.errors import ArgumentError

log = logging.getLogger("trajmbrl")


@dataclass
class Split:
    """Rows of the training data: ``train`` (N_train,), ``val`` (N_val,) and ``members`` (E, L),
    each member's training rows padded to a common length by cycling through its own rows.

    ``val_is_train``: no group could be held out, the training part doubles as validation set.
    """

    train: Tensor
    val: Tensor
    members: Tensor
    val_is_train: bool


def warn_val_is_train(split: Split, val_fraction: float) -> None:
    """Say on the console when the validation part is the training data (``split.val_is_train``)."""
    if split.val_is_train:
        why = "val_fraction=0" if val_fraction == 0 else "a single training trajectory"
        log.warning(
            "no validation data could be held out (%s): early stopping and the validation "
            "score run on the training data (history.csv: val_is_train=True)",
            why,
        )


def _rows_of(groups: Tensor, chosen: Tensor) -> Tensor:
    """Row indices (sorted) whose group id is in ``chosen`` (ids 0..G-1, with repeats)."""
    counts = torch.bincount(chosen, minlength=int(groups.max()) + 1)
    order = torch.argsort(groups, stable=True)
    sizes = torch.bincount(groups, minlength=counts.shape[0])
    starts = torch.cumsum(sizes, 0) - sizes
    parts = [order[starts[g] : starts[g] + sizes[g]] for g in chosen.tolist()]
    return torch.cat(parts) if parts else order[:0]


def _pad(rows: list[Tensor], gen: torch.Generator) -> Tensor:
    """(E, L): each member's rows shuffled and cycled to the longest member's length."""
    length = max(r.shape[0] for r in rows)
    out = []
    for r in rows:
        r = r[torch.randperm(r.shape[0], generator=gen, device=r.device)]
        reps = -(-length // r.shape[0])
        out.append(r.repeat(reps)[:length])
    return torch.stack(out)


def make_split(
    n: int,
    groups: Tensor | None,
    *,
    ensemble: int,
    val_fraction: float,
    resample: str,
    gen: torch.Generator,
    device: torch.device,
) -> Split:
    """Seeded split of ``n`` rows (``groups`` (n,) int64 trajectory ids or None = one per row)."""
    ids = (
        torch.arange(n, device=device)
        if groups is None
        else torch.unique(groups.to(device), return_inverse=True)[1]
    )
    n_groups = int(ids.max()) + 1
    perm = torch.randperm(n_groups, generator=gen, device=device)
    n_val = 0
    if val_fraction > 0 and n_groups >= 2:
        n_val = min(max(1, int(round(val_fraction * n_groups))), n_groups - 1)
    train_g, val_g = perm[n_val:], perm[:n_val]
    single = groups is None  # one row per group: skip the group -> row mapping
    train = train_g if single else _rows_of(ids, train_g.sort().values)
    val = (val_g if single else _rows_of(ids, val_g.sort().values)) if n_val else train
    nt = train_g.shape[0]
    if resample == "bootstrap":
        picks = torch.randint(0, nt, (ensemble, nt), generator=gen, device=device)
        drawn = train_g[picks]
        if single:
            return Split(train, val, drawn, n_val == 0)
        members = [_rows_of(ids, d) for d in drawn]
    elif resample == "kfold" and ensemble > 1:
        if nt < ensemble:
            unit = "samples" if single else "trajectories"
            raise ArgumentError(
                f"{{TrainConfig.resample}}=kfold needs at least {ensemble} training {unit}, "
                f"got {nt}"
            )
        folds = torch.tensor_split(torch.arange(nt, device=device), ensemble)
        keeps = [
            train_g[torch.cat([f for j, f in enumerate(folds) if j != k])] for k in range(ensemble)
        ]
        members = [k if single else _rows_of(ids, k.sort().values) for k in keeps]
    else:  # "none", or kfold with a single member: everyone sees the whole training part
        return Split(train, val, train.unsqueeze(0).expand(ensemble, -1).contiguous(), n_val == 0)
    return Split(train, val, _pad(members, gen), n_val == 0)
