"""Training curves while training runs: ``history.csv`` appended per epoch, optional TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from trajmbrl.errors import ArgumentError
from trajmbrl.training.config import History

COLUMNS = ("epoch", "member", "train_loss", "val_score", "val_is_train")


class CurveLog:
    """``on_epoch`` callback for :meth:`ModelTrainer.fit`.

    ``history.csv`` (columns :data:`COLUMNS`) is rewritten from the history at the first call
    (so a resumed run starts from the saved epochs), then appended and flushed every epoch:
    it can be read (e.g. ``pandas.read_csv``) while training runs. With ``tensorboard=True``
    the same scalars go to ``<dir>/tensorboard`` (``train_loss/m<k>``, ``val_score/m<k>``).
    """

    def __init__(self, path: Path, *, tensorboard: bool = False) -> None:
        self.path = Path(path)
        self.tensorboard = tensorboard
        self._written = -1  # rows of the history already in the file
        self._tb: Any = None  # a tensorboard SummaryWriter when enabled

    def __call__(self, epoch: int, history: History) -> None:
        if self._written < 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as fh:
                csv.writer(fh).writerow(COLUMNS)
            self._written = 0
            self._open_tensorboard()
        new = history.rows[self._written :]
        with open(self.path, "a", newline="") as fh:
            w = csv.writer(fh)
            for r in new:
                w.writerow([*(r[c] for c in COLUMNS[:-1]), history.val_is_train])
        self._written = len(history.rows)
        if self._tb is not None:
            for r in new:
                self._tb.add_scalar(f"train_loss/m{r['member']}", r["train_loss"], r["epoch"])
                self._tb.add_scalar(f"val_score/m{r['member']}", r["val_score"], r["epoch"])
            self._tb.flush()

    def _open_tensorboard(self) -> None:
        if not self.tensorboard:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ArgumentError(
                "{CurveLog.tensorboard}=true needs the tensorboard package: pip install "
                "tensorboard (or set {CurveLog.tensorboard}=false)"
            ) from exc
        self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
