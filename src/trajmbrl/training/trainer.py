"""Batched ensemble training: Adam, validation split, per-member early stopping, resumable state.

All members of an ensemble are trained in the same optimiser step on their own resample of the
training part (bootstrap by default, K-fold or none as options). Data stay on the model's device:
per epoch each member's index set is shuffled on-device with the trainer's generator, and every
step gathers ``x[idx]`` with ``index_select`` into an (E, B, in) batch.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.dynamics import DynamicsModel
from trajmbrl.utils.atomic import atomic_path
from trajmbrl.utils.progress import show_progress

STATE_FORMAT = "trajmbrl.trainstate/1"
RESAMPLES = ("bootstrap", "kfold", "none")


#: the CLI key of each TrainConfig field, for error messages
CONFIG_KEYS = {
    "epochs": "model.epochs", "batch_size": "model.batch_size", "lr": "model.lr",
    "weight_decay": "model.weight_decay", "patience": "train.patience",
    "val_fraction": "train.val_fraction", "resample": "train.resample",
    "elites": "train.elites", "min_rel_improvement": "train.min_rel_improvement",
}


@dataclass
class TrainConfig:
    """Training hyper-parameters (CLI keys in :data:`CONFIG_KEYS`).

    ``patience``: epochs without a relative validation improvement > ``min_rel_improvement``
    before a member stops. ``val_fraction``: share held out (seeded shuffle); 0 means the training
    part doubles as validation set. ``elites``: number of best members to record (None = all).
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    min_rel_improvement: float = 0.01
    val_fraction: float = 0.1
    resample: Literal["bootstrap", "kfold", "none"] = "bootstrap"
    seed: int = 0
    elites: int | None = None

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs >= 0, ">= 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("patience", self.patience >= 1, ">= 1"),
            ("min_rel_improvement", self.min_rel_improvement >= 0, ">= 0"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)"),
            ("resample", self.resample in RESAMPLES, f"one of {RESAMPLES}"),
            ("elites", self.elites is None or self.elites >= 1, ">= 1 or null"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise TrajmbrlError(
                    f"{CONFIG_KEYS.get(name, name)} must be {want}, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class History:
    """Per-epoch record. ``rows``: dicts (epoch, member, train_loss, val_score), epochs 1-based.

    ``best_epoch``/``best_score`` per member refer to the restored weights; ``stopped_epoch`` is
    the last epoch run; ``elite_members`` are member indices, best first (all if no elites).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: list[int] = field(default_factory=list)
    best_score: list[float] = field(default_factory=list)
    stopped_epoch: int = 0
    elite_members: list[int] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame with columns epoch, member, train_loss, val_score."""
        return pd.DataFrame(self.rows, columns=["epoch", "member", "train_loss", "val_score"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary for checkpoint meta."""
        return {
            "best_epoch": list(self.best_epoch),
            "best_score": list(self.best_score),
            "stopped_epoch": self.stopped_epoch,
            "elite_members": list(self.elite_members),
        }


def _data_digest(x: Tensor, y: Tensor) -> str:
    h = hashlib.sha256()
    for t in (x, y):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class ModelTrainer:
    """Trains a :class:`DynamicsModel` (any key) with batched per-member resampling.

    After :meth:`fit`, ``train_indices`` (N_train,), ``val_indices`` (N_val,) and
    ``member_indices`` (E, L) (rows of ``x`` each member trains on, padded by repetition to a
    common length for K-fold) describe the split. Elites are only recorded in the history:
    ``model.predict`` keeps averaging all members (callers may select ``elite_members``).
    """

    def __init__(
        self,
        model: DynamicsModel,
        config: TrainConfig,
        *,
        state_path: Path | None = None,
        progress: bool | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.state_path = Path(state_path) if state_path is not None else None
        self.progress = show_progress(progress)
        e = model.ensemble_size
        if config.elites is not None and config.elites > e:
            raise TrajmbrlError(f"train.elites ({config.elites}) exceeds the ensemble size {e}")
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

    # ------------------------------------------------------------------ splits
    def _split(self, n: int, gen: torch.Generator, device: torch.device) -> None:
        cfg, e = self.config, self.model.ensemble_size
        perm = torch.randperm(n, generator=gen, device=device)
        n_val = int(round(cfg.val_fraction * n)) if cfg.val_fraction > 0 else 0
        if cfg.val_fraction > 0:
            n_val = min(max(1, n_val), n - 1)
        train, val = perm[n_val:], perm[:n_val]
        self.train_indices = train
        self.val_indices = val if n_val > 0 else train
        nt = train.shape[0]
        if cfg.resample == "bootstrap":
            pick = torch.randint(0, nt, (e, nt), generator=gen, device=device)
            members = train[pick]
        elif cfg.resample == "kfold" and e > 1:
            if nt < e:
                raise TrajmbrlError(
                    f"train.resample=kfold needs at least {e} training samples, got {nt}"
                )
            folds = torch.tensor_split(torch.arange(nt, device=device), e)
            length = nt - min(f.shape[0] for f in folds)
            rows = []
            for k in range(e):
                keep = torch.cat([f for j, f in enumerate(folds) if j != k])
                pad = length - keep.shape[0]
                rows.append(train[torch.cat([keep, keep[:pad]])])
            members = torch.stack(rows)
        else:  # "none", or kfold with a single member: everyone sees the whole training part
            members = train.unsqueeze(0).expand(e, nt).contiguous()
        self.member_indices = members

    # ------------------------------------------------------------------ state file
    def _identity(self, digest: str, n: int) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "spec": self.model.spec.to_dict(),
            "data": {"n": n, "sha256": digest},
        }

    def _save_state(self, st: dict[str, Any]) -> None:
        assert self.state_path is not None
        payload = dict(st)
        payload["format"] = STATE_FORMAT
        payload["identity"] = json.dumps(st["identity"], sort_keys=True)
        payload["history"] = json.dumps(st["history"])
        with atomic_path(self.state_path) as tmp:
            torch.save(payload, tmp)

    def _load_state(self, identity: dict[str, Any]) -> dict[str, Any] | None:
        path = self.state_path
        if path is None or not path.exists():
            return None
        try:
            payload = torch.load(path, map_location=self.model.device, weights_only=True)
            if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            saved_identity = json.loads(payload["identity"])
            payload["history"] = json.loads(payload["history"])
        except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
                ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TrajmbrlError(
                f"training state file {path} is corrupt or truncated ({exc}); delete it to "
                "start training afresh"
            ) from exc
        if saved_identity != json.loads(json.dumps(identity, sort_keys=True)):
            diff = [k for k in identity if saved_identity.get(k) != identity[k]]
            raise TrajmbrlError(
                f"training state file {path} belongs to another run (different {', '.join(diff)})"
                "; delete it or use another output directory"
            )
        return payload

    # ------------------------------------------------------------------ training
    def fit(
        self, x: Tensor, y: Tensor, *, on_epoch: Callable[[int, History], None] | None = None
    ) -> History:
        """Train the model in place and restore each member's best weights.

        :param x: (N, in) raw inputs; :param y: (N, out) raw targets, float32, on the model's
            device. ``on_epoch(epoch, history)`` is called after each epoch (and after the state
            file is written), e.g. for logging.
        :returns: the :class:`History`; the model ends in eval mode.
        :raises TrajmbrlError: bad shapes/values, NaN/inf loss, or an unusable state file.
        """
        model, cfg = self.model, self.config
        e, dev = model.ensemble_size, model.device
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise TrajmbrlError(f"training data must be x (N, in), y (N, out) with the same N; "
                                f"got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[1] != model.in_dim or y.shape[1] != model.out_dim:
            raise TrajmbrlError(
                f"training data has {x.shape[1]} input / {y.shape[1]} target columns, model "
                f"'{model.spec.key}' expects {model.in_dim} / {model.out_dim}"
            )
        n = x.shape[0]
        if n < 2:
            raise TrajmbrlError(f"need at least 2 training samples, got {n}")
        if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
            raise TrajmbrlError("training data contains NaN or inf values; clean the dataset")
        dtype = model.net.head.weight.dtype
        x, y = x.to(dev, dtype), y.to(dev, dtype)

        gen = torch.Generator(device=dev).manual_seed(int(cfg.seed))
        self._split(n, gen, dev)
        assert self.train_indices is not None and self.member_indices is not None
        assert self.val_indices is not None
        model.fit_normalizers(x[self.train_indices], y[self.train_indices])
        xv, yv = x[self.val_indices], y[self.val_indices]
        members = self.member_indices
        length = members.shape[1]

        named = dict(model.net.named_parameters())
        best = {k: p.detach().clone() for k, p in named.items()}
        best_score = [math.inf] * e
        best_epoch = [0] * e
        bad = [0] * e
        history = History(best_epoch=best_epoch, best_score=best_score)
        start = 0
        finished = False

        identity = self._identity(_data_digest(x, y), n) if self.state_path else {}
        saved = self._load_state(identity)
        if saved is not None:
            model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            for k in best:
                best[k].copy_(saved["best"][k])
            history = History.from_dict(saved["history"])
            best_score, best_epoch = history.best_score, history.best_epoch
            bad = list(saved["bad"])
            start = int(saved["epoch"])
            finished = bool(saved["finished"])
            gen.set_state(saved["generator"].cpu())

        bar = tqdm(total=cfg.epochs, initial=start, disable=not self.progress or finished,
                   desc=f"train {model.spec.key}", unit="epoch", leave=False, file=sys.stderr)
        try:
            epoch = start
            while not finished and epoch < cfg.epochs and min(bad) < cfg.patience:
                epoch += 1
                train_loss = self._train_epoch(x, y, members, length, gen)
                val = model.eval_score(xv, yv).tolist()
                bad_member = next((m for m in range(e) if not math.isfinite(train_loss[m])
                                   or not math.isfinite(val[m])), None)
                if bad_member is not None:
                    raise TrajmbrlError(
                        f"training loss became NaN/inf in epoch {epoch} (member {bad_member}) of "
                        f"model '{model.spec.key}'; lower the learning rate model.lr "
                        f"(now {cfg.lr:g}) or check the data for outliers"
                    )
                for m in range(e):
                    history.rows.append({"epoch": epoch, "member": m,
                                         "train_loss": train_loss[m], "val_score": val[m]})
                    if bad[m] >= cfg.patience:
                        continue  # this member has stopped; its best weights are frozen
                    old = best_score[m]
                    if val[m] < old and (math.isinf(old)
                                         or old - val[m] > cfg.min_rel_improvement * abs(old)):
                        best_score[m], best_epoch[m], bad[m] = val[m], epoch, 0
                        for k, p in named.items():
                            best[k][m].copy_(p.detach()[m])
                    else:
                        bad[m] += 1
                history.stopped_epoch = epoch
                if self.state_path is not None:
                    self._save_state(self._state(identity, best, bad, epoch, gen, history, False))
                bar.update(1)
                bar.set_postfix(best=f"{min(best_score):.4g}",
                                active=f"{sum(b < cfg.patience for b in bad)}/{e}")
                if on_epoch is not None:
                    on_epoch(epoch, history)
        finally:
            bar.close()

        if not finished:
            with torch.no_grad():
                for k, p in named.items():
                    if history.stopped_epoch > 0:
                        p.copy_(best[k])
            order = sorted(range(e), key=lambda m: best_score[m])
            history.elite_members = order[: cfg.elites] if cfg.elites is not None else list(
                range(e))
            if self.state_path is not None:
                self._save_state(self._state(identity, best, bad, history.stopped_epoch, gen,
                                             history, True))
        model.eval()
        return history

    def _train_epoch(
        self, x: Tensor, y: Tensor, members: Tensor, length: int, gen: torch.Generator
    ) -> list[float]:
        """One pass over every member's index set. :returns: mean train loss per member (E,)."""
        model, opt, bs = self.model, self.optimizer, self.config.batch_size
        e = members.shape[0]
        model.train()
        order = torch.rand(members.shape, generator=gen, device=members.device).argsort(1)
        shuffled = members.gather(1, order)
        total = torch.zeros(e, dtype=torch.float64, device=members.device)
        for lo in range(0, length, bs):
            idx = shuffled[:, lo : lo + bs]
            b = idx.shape[1]
            flat = idx.reshape(-1)
            xb = x.index_select(0, flat).view(e, b, -1)
            yb = y.index_select(0, flat).view(e, b, -1)
            loss = model.loss(xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().to(torch.float64) * b
        return (total / length).tolist()

    def _state(
        self,
        identity: dict[str, Any],
        best: dict[str, Tensor],
        bad: list[int],
        epoch: int,
        gen: torch.Generator,
        history: History,
        finished: bool,
    ) -> dict[str, Any]:
        return {
            "identity": identity,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best": best,
            "bad": list(bad),
            "epoch": epoch,
            "generator": gen.get_state(),
            "history": history.to_dict(),
            "finished": finished,
        }
