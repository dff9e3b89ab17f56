"""Batched ensemble training: Adam, validation split, per-member early stopping, resumable state.

All members of an ensemble are trained in the same optimiser step on their own resample of the
training part (see :mod:`.splits`: whole trajectories by default). Data stay on the model's
device: per epoch each member's index set is shuffled on-device with the trainer's generator,
and every step gathers ``x[idx]`` with ``index_select`` into an (A, B, in) batch of the A
members still training (a stopped member costs nothing and cannot abort the others).
:meth:`ModelTrainer.fit` runs named steps: check data, prepare (split, normalisers, resume),
then per epoch train, validate, update the early-stopping record, checkpoint, report.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.training.config import History, TrainConfig
from trajmbrl.training.precision import matmul_precision
from trajmbrl.training.splits import Split, make_split, warn_val_is_train
from trajmbrl.training.state import data_digest, load_state, save_state
from trajmbrl.utils.heap import keep_heap

log = logging.getLogger(__name__)

#: Steps whose batches are gathered in one ``index_select`` (a few MB at E=5, batch 256).
_GATHER_STEPS = 64

__all__ = ["History", "ModelTrainer", "TrainConfig"]


@dataclass
class _Run:
    """Mutable state of one ``fit`` call (what the state file saves, plus the data views:
    ``xv``/``yv`` the raw validation part, ``xn``/``yn`` what the steps gather from: all of x
    and the model's targets, normalised, or x, y raw when ``normalized`` is False)."""

    gen: torch.Generator
    split: Split
    xv: Tensor
    yv: Tensor
    identity: dict[str, Any]
    best: dict[str, Tensor]
    history: History
    bad: list[int]
    xn: Tensor
    yn: Tensor
    normalized: bool
    epoch: int = 0
    finished: bool = False
    last_save: float = field(default=-math.inf)


class ModelTrainer:
    """Trains a :class:`DynamicsModel` (any key) with batched per-member resampling.

    After :meth:`fit`, ``train_indices`` (N_train,), ``val_indices`` (N_val,) and
    ``member_indices`` (E, L) (rows of ``x`` each member trains on, padded by repetition to a
    common length) describe the split. Elites are only recorded in the history:
    ``model.predict`` keeps averaging all members (callers may select ``elite_members``).
    ``state_every``: seconds between state-file writes (the first epoch and the final state are
    always written, the last epoch once), so saving never slows epochs down; resuming from any
    written epoch is bit-exact.
    """

    def __init__(
        self,
        model: DynamicsModel,
        config: TrainConfig,
        *,
        state_path: Path | None = None,
        progress: bool | None = None,
        state_every: float = 30.0,
    ) -> None:
        from trajmbrl.utils.progress import show_progress

        self.model = model
        self.config = config
        self.state_path = Path(state_path) if state_path is not None else None
        self.state_every = float(state_every)
        self.progress = show_progress(progress)
        e = model.ensemble_size
        if config.elites is not None and config.elites > e:
            raise ArgumentError(
                f"{{TrainConfig.elites}} ({config.elites}) exceeds the ensemble size {e}"
            )
        for name, p in model.net.named_parameters():
            if p.shape[0] != e:
                raise ValueError(f"parameter {name} has no leading ensemble dimension")
        self.train_indices: Tensor | None = None
        self.val_indices: Tensor | None = None
        self.member_indices: Tensor | None = None
        self.optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = list(self.model.parameters())
        # Fused Adam is measured fastest on CPU (scripts/bench_train.py); fall back if unsupported.
        try:
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except RuntimeError:
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _split(
        self, n: int, gen: torch.Generator, device: torch.device, groups: Tensor | None = None
    ) -> Split:
        cfg = self.config
        split = make_split(
            n,
            groups if cfg.split == "trajectory" else None,
            ensemble=self.model.ensemble_size,
            val_fraction=cfg.val_fraction,
            resample=cfg.resample,
            gen=gen,
            device=device,
        )
        self.train_indices, self.val_indices = split.train, split.val
        warn_val_is_train(split, cfg.val_fraction)
        self.member_indices = split.members
        return split

    # ------------------------------------------------------------------ fit, step by step
    def fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        groups: Tensor | None = None,
        on_epoch: Callable[[int, History], None] | None = None,
    ) -> History:
        """Train the model in place and restore each member's best weights.

        :param x: (N, in) raw inputs; :param y: (N, out) raw targets, float32, on the model's
            device; ``groups``: (N,) trajectory id of every sample (for ``split=trajectory``;
            None = every sample its own trajectory). ``on_epoch(epoch, history)`` is called after
            each epoch (after any state-file write), e.g. for logging.
        :returns: the :class:`History`; the model ends in eval mode.
        :raises TrajmbrlError: bad shapes/values, NaN/inf loss, or an unusable state file.
        """
        keep_heap()  # no heap trim / re-grow per step (utils/heap.py)
        x, y = self._check_data(x, y, groups)
        run = self._prepare(x, y, groups)
        bar = tqdm(
            total=self._epoch_limit(),
            initial=run.epoch,
            unit="epoch",
            disable=not self.progress or run.finished,
            desc=f"train {self.model.spec.key}",
            leave=False,
            file=sys.stderr,
        )
        try:
            while self._keep_going(run):
                self._run_epoch(run, x, y)
                bar.update(1)
                bar.set_postfix(
                    best=f"{min(run.history.best_score):.4g}",
                    active=f"{len(self._active(run))}/{len(run.bad)}",
                )
                if on_epoch is not None:
                    on_epoch(run.epoch, run.history)
        finally:
            bar.close()
        if not run.finished:
            self._finish(run)
        self.model.eval()
        return run.history

    def _check_data(self, x: Tensor, y: Tensor, groups: Tensor | None) -> tuple[Tensor, Tensor]:
        """Validate shapes and values; :returns: x, y on the model's device and dtype."""
        model = self.model
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise TrajmbrlError(
                f"training data must be x (N, in), y (N, out) with the same N; "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        width_in, width_out = self._widths()
        if x.shape[1] != width_in or y.shape[1] != width_out:
            raise TrajmbrlError(
                f"training data has {x.shape[1]} input / {y.shape[1]} target columns, model "
                f"'{model.spec.key}' expects {width_in} / {width_out}"
            )
        if groups is not None and tuple(groups.shape) != (x.shape[0],):
            raise TrajmbrlError(
                f"trajectory ids must have shape ({x.shape[0]},), got {tuple(groups.shape)}"
            )
        if x.shape[0] < 2:
            raise TrajmbrlError(f"need at least 2 training samples, got {x.shape[0]}")
        if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
            raise TrajmbrlError("training data contains NaN or inf values; clean the dataset")
        dtype = model.net.head.weight.dtype
        return x.to(model.device, dtype), y.to(model.device, dtype)

    def _prepare(self, x: Tensor, y: Tensor, groups: Tensor | None) -> _Run:
        """Split, fit the normalisers, and load a saved state when there is one."""
        model, cfg, e = self.model, self.config, self.model.ensemble_size
        gen = torch.Generator(device=model.device).manual_seed(int(cfg.seed))
        split = self._split(x.shape[0], gen, model.device, groups)
        self._fit_normalizers(x[split.train], y[split.train])
        identity = (
            {
                "config": cfg.to_dict(),
                "spec": model.spec.to_dict(),
                "data": {"n": x.shape[0], "sha256": data_digest(x, y, groups)},
            }
            if self.state_path
            else {}
        )
        best = {k: p.detach().clone() for k, p in model.net.named_parameters()}
        run = _Run(
            gen,
            split,
            x[split.val],
            y[split.val],
            identity,
            best,
            History(best_epoch=[0] * e, best_score=[math.inf] * e, val_is_train=split.val_is_train),
            [0] * e,
            *self._train_views(x, y),
        )
        saved = load_state(self.state_path, identity, model.device)
        if saved is not None:
            model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            for k in best:
                best[k].copy_(saved["best"][k])
            run.history = History.from_dict(saved["history"])
            run.history.val_is_train = split.val_is_train
            run.bad, run.epoch = list(saved["bad"]), int(saved["epoch"])
            run.finished = bool(saved["finished"])
            gen.set_state(saved["generator"].cpu())
            run.last_save = time.monotonic()
            threads = saved.get("threads")
            if threads is not None and int(threads) != torch.get_num_threads():
                log.warning(
                    "resuming %s with %d torch threads, saved with %d: the result will not be "
                    "bit-identical to an uninterrupted run (set OMP_NUM_THREADS=%d to keep it)",
                    self.state_path,
                    torch.get_num_threads(),
                    int(threads),
                    int(threads),
                )
        return run

    # the objective (a subclass trains another one on the same machinery: .multistep)
    def _widths(self) -> tuple[int, int]:
        """Columns of the samples x (N, in), y (N, out)."""
        return self.model.in_dim, self.model.out_dim

    def _train_views(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, bool]:
        """What the step loop gathers batches from: x and the model's targets normalised once
        per fit (then each step takes ``model.normalized_loss``, the same numbers as
        :meth:`_loss`), or, for a subclass with its own ``_loss``, x, y raw (and ``_loss``)."""
        if type(self)._loss is not ModelTrainer._loss:
            return x, y, False
        model = self.model
        return model.in_norm.normalize(x), model.out_norm.normalize(model.targets(x, y)), True

    def _fit_normalizers(self, x: Tensor, y: Tensor) -> None:
        self.model.fit_normalizers(x, y)

    def _loss(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) training loss of batches x (A, B, in), y (A, B, out)."""
        return self.model.loss(x, y, members)

    def _score(self, x: Tensor, y: Tensor, members: Tensor | None) -> Tensor:
        """(A,) validation score of x (N, in), y (N, out)."""
        return self.model.eval_score(x, y, members)

    def _precision(self) -> Any:
        return matmul_precision(self.config.precision, self.model.device)

    def _steps_per_epoch(self) -> int:
        assert self.member_indices is not None
        return -(-self.member_indices.shape[1] // self.config.batch_size)

    def _epoch_limit(self) -> int:
        """Epochs to run: ``epochs``, or enough to take ``steps`` gradient steps."""
        steps = self.config.steps
        return self.config.epochs if steps is None else -(-steps // self._steps_per_epoch())

    def _active(self, run: _Run) -> list[int]:
        """Members still training (all, without early stopping)."""
        patience = self.config.patience
        return [m for m, b in enumerate(run.bad) if patience is None or b < patience]

    def _keep_going(self, run: _Run) -> bool:
        return not run.finished and run.epoch < self._epoch_limit() and bool(self._active(run))

    def _run_epoch(self, run: _Run, x: Tensor, y: Tensor) -> None:
        """Train the active members one pass, validate them, update the record, checkpoint."""
        run.epoch += 1
        active = self._active(run)
        idx = torch.tensor(active, device=x.device)
        members = None if len(active) == len(run.bad) else idx
        train_loss = self._train_epoch(x, y, run, active, members)
        with self._precision():
            val = self._score(run.xv, run.yv, members).tolist()
        self._record(run, active, train_loss, val)
        # the first epoch and then every state_every seconds; _finish writes the final state
        # (so the last epoch is not written twice)
        due = time.monotonic() - run.last_save >= self.state_every
        if self.state_path is not None and due and self._keep_going(run):
            save_state(self.state_path, self._state(run, False))
            run.last_save = time.monotonic()

    def _record(
        self, run: _Run, active: list[int], train_loss: list[float], val: list[float]
    ) -> None:
        """History rows, NaN check, and per-member best weights / patience counters."""
        cfg, h = self.config, run.history
        for m, tl, v in zip(active, train_loss, val):
            if not (math.isfinite(tl) and math.isfinite(v)):
                raise ArgumentError(
                    f"training loss became NaN/inf in epoch {run.epoch} (member {m}) of model "
                    f"'{self.model.spec.key}'; lower the learning rate {{TrainConfig.lr}} (now "
                    f"{cfg.lr:g}) or check the data for outliers"
                )
            h.rows.append({"epoch": run.epoch, "member": m, "train_loss": tl, "val_score": v})
            old = h.best_score[m]
            if cfg.patience is None:  # no early stopping: the final weights are kept
                h.best_score[m], h.best_epoch[m] = v, run.epoch
            elif v < old and (math.isinf(old) or old - v > cfg.min_rel_improvement * abs(old)):
                h.best_score[m], h.best_epoch[m], run.bad[m] = v, run.epoch, 0
                for k, p in self.model.net.named_parameters():
                    run.best[k][m].copy_(p.detach()[m])
            else:
                run.bad[m] += 1
        h.stopped_epoch = run.epoch

    def _train_epoch(
        self, x: Tensor, y: Tensor, run: _Run, active: list[int], members: Tensor | None
    ) -> list[float]:
        """One pass over each active member's rows (at most the remaining step budget).

        The step loop does only the network's work: the data are normalised once per fit
        (``run.xn``, ``run.yn``), the batches of :data:`_GATHER_STEPS` steps are gathered in one
        ``index_select`` each, and the per-step losses are summed on the host at the end (in
        float64, in step order, as a running sum on the device would). Same numbers as a step
        loop that gathers, normalises and accumulates per step (tests/test_trainer_speed.py).

        :returns: mean train loss per active member (A,).
        """
        model, bs = self.model, self.config.batch_size
        model.train()
        all_rows = run.split.members
        order = torch.rand(all_rows.shape, generator=run.gen, device=x.device).argsort(1)
        rows = all_rows.gather(1, order)[active]
        a, length = rows.shape
        if self.config.steps is not None:
            length = min(length, (self.config.steps - run.history.steps) * bs)
        xn, yn = run.xn, run.yn
        losses: list[Tensor] = []
        sizes: list[int] = []
        full = length // bs
        for lo in range(0, full, _GATHER_STEPS):
            k = min(_GATHER_STEPS, full - lo)
            # (A, k * bs) -> step-major (k, A, bs): step i's batch is one contiguous block
            flat = rows[:, lo * bs : (lo + k) * bs].view(a, k, bs).transpose(0, 1).reshape(-1)
            xs = xn.index_select(0, flat).view(k, a, bs, -1)
            ys = yn.index_select(0, flat).view(k, a, bs, -1)
            for i in range(k):
                losses.append(self._step(xs[i], ys[i], members, run.normalized))
            sizes += [bs] * k
        if full * bs < length:  # the last, partial batch
            flat = rows[:, full * bs : length].reshape(-1)
            b = flat.shape[0] // a
            losses.append(
                self._step(
                    xn.index_select(0, flat).view(a, b, -1),
                    yn.index_select(0, flat).view(a, b, -1),
                    members,
                    run.normalized,
                )
            )
            sizes.append(b)
        run.history.steps += len(losses)
        if not losses:
            return [0.0] * a
        total = [0.0] * a
        for step_loss, b in zip(torch.stack(losses).tolist(), sizes):
            total = [t + v * b for t, v in zip(total, step_loss)]
        return [t / length for t in total]

    def _step(self, xb: Tensor, yb: Tensor, members: Tensor | None, normalized: bool) -> Tensor:
        """One optimiser step on a batch xb (A, B, in), yb (A, B, out): normalised (the
        model's loss) or raw (a subclass's ``_loss``).

        :returns: the detached per-member losses (A,).
        """
        with self._precision():  # per step: autocast caches casts of the weights
            if normalized:
                loss = self.model.normalized_loss(xb, yb, members)
            else:
                loss = self._loss(xb, yb, members)
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.optimizer.step()
        return loss.detach()

    def _finish(self, run: _Run) -> None:
        """Restore best weights (early stopping), record elites, write the final state."""
        cfg, h = self.config, run.history
        if cfg.patience is not None and h.stopped_epoch > 0:
            with torch.no_grad():
                for k, p in self.model.net.named_parameters():
                    p.copy_(run.best[k])
        order = sorted(range(len(run.bad)), key=lambda m: h.best_score[m])
        h.elite_members = (
            order[: cfg.elites] if cfg.elites is not None else list(range(len(run.bad)))
        )
        if self.state_path is not None:
            save_state(self.state_path, self._state(run, True))

    def _state(self, run: _Run, finished: bool) -> dict[str, Any]:
        return {
            "identity": run.identity,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best": run.best,
            "bad": list(run.bad),
            "epoch": run.epoch,
            "generator": run.gen.get_state(),
            "history": run.history.to_dict(),
            "finished": finished,
            "threads": torch.get_num_threads(),  # summation order: a resume should match it
        }


LossFn = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


@torch.no_grad()
def chunked_loss_score(
    model: DynamicsModel,
    loss: LossFn,
    x: Tensor,
    y: Tensor,
    members: Tensor | None,
    chunk: int,
) -> Tensor:
    """(A,) a trainer's own objective ``loss`` of each member on validation rows x (N, in),
    y (N, out), averaged over rows in chunks of ``chunk`` (float64 sums), in eval mode: the
    validation score of trainers whose loss is not the one-step MSE (k-step windows,
    sequences)."""
    count = model.ensemble_size if members is None else members.shape[0]
    was_training = model.training
    model.eval()
    try:
        total = x.new_zeros(count, dtype=torch.float64)
        for lo in range(0, x.shape[0], chunk):
            xb, yb = x[lo : lo + chunk], y[lo : lo + chunk]
            xe = xb.unsqueeze(0).expand(count, *xb.shape)
            ye = yb.unsqueeze(0).expand(count, *yb.shape)
            total += loss(xe, ye, members).to(torch.float64) * xb.shape[0]
        return (total / max(1, x.shape[0])).to(x.dtype)
    finally:
        model.train(was_training)
