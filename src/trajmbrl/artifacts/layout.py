"""The artifact layout: every path a run reads or writes, built and parsed in one place.

::

    <data_dir>/<env>/<tag>.npz + .json                 dataset (+ .<tag>.lock)
    <run_dir> = <output_dir>/<experiment>/<env>/<tag>
      models/<key>/<variant>/seed=<seed>/model.pt      checkpoint (+ history.csv, summary.json)
      budgets/steps=<k>/<key>/<variant>/seed=<seed>/model.pt   grid snapshot after k steps
      metrics/<key>__<variant>__seed=<seed>__<source>.csv   horizon metrics (+ .<...>.lock)
      diagnostics/{per_dim,sample}__<metrics name>.csv  per-dimension errors, predictions
      efficiency/scores.csv                            5.4 grid scores
      reward/returns.csv                               5.5 predicted vs true returns
      tables/*.csv, figures/*.<fmt>, videos/<key>_test0.mp4
    <output_dir>/<experiment>/<env>/[<scale>_]control
      runs/<method>__<key|none>__seed=<seed>__<settings>.csv   one control run
      tables/control.csv, figures/learning_curve.<fmt>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trajmbrl.errors import TrajmbrlError

METRICS = "metrics"
#: the files of a model directory: checkpoint, training curves, resumable training state
CHECKPOINT, HISTORY, TRAIN_STATE = "model.pt", "history.csv", "train_state.pt"
#: the training summary per member beside them (training/summary.py)
SUMMARY = "summary.json"
SEED_DIR = re.compile(r"^seed=(\d+)$")
_METRICS_NAME = re.compile(r"^(?P<key>[^_]+)__(?P<variant>.+)__seed=(?P<seed>\d+)__(?P<source>.+)$")
_CONTROL_NAME = re.compile(
    r"^(?P<method>.+?)__(?P<key>[^_]+)__seed=(?P<seed>\d+)(?:__(?P<settings>[0-9a-f]+))?$"
)


@dataclass(frozen=True)
class ModelSlot:
    """Where a checkpoint sits: model key, training variant (``n=<N|all>_t=<T|all>``), seed."""

    key: str
    variant: str
    seed: int

    def expect(self) -> dict[str, object]:
        """What a checkpoint read from this slot must record (``load_checkpoint(expect=...)``)."""
        return {"key": self.key, "variant": self.variant, "seed": self.seed}


@dataclass(frozen=True)
class MetricsName:
    """The parts of a metrics CSV name: model key, variant, seed, action source."""

    key: str
    variant: str
    seed: int
    source: str


@dataclass(frozen=True)
class ControlRunName:
    """The parts of a control run CSV name (``settings`` is empty for older, unhashed names)."""

    method: str
    key: str | None
    seed: int
    settings: str


@dataclass(frozen=True)
class Layout:
    """Every artifact path of one run (an experiment, an env, a dataset tag).

    :param dataset: the dataset path without suffix (``<data_dir>/<env>/<tag>``).
    :param run_dir: ``<output_dir>/<experiment>/<env>/<tag>``: models, metrics, results.
    :param models_dir: where model checkpoints go (``<run_dir>/models`` by default).
    :param control_dir: ``<output_dir>/<experiment>/<env>/[<scale>_]control``.
    """

    dataset: Path
    run_dir: Path
    models_dir: Path
    control_dir: Path

    # ---- datasets ----
    def dataset_files(self) -> tuple[Path, Path]:
        """The (npz, json manifest) pair of the dataset."""
        p = Path(self.dataset)
        if p.suffix in (".npz", ".json"):
            p = p.with_suffix("")
        return p.with_suffix(".npz"), p.with_suffix(".json")

    def dataset_lock(self) -> Path:
        """``.<tag>.lock`` beside the dataset: one collector at a time."""
        npz = self.dataset_files()[0]
        return npz.with_name(f".{npz.stem}.lock")

    # ---- models ----
    def model_dir(self, slot: ModelSlot) -> Path:
        """``<models_dir>/<key>/<variant>/seed=<seed>``: one trained model and its history."""
        return Path(self.models_dir) / slot.key / slot.variant / f"seed={slot.seed}"

    def checkpoint(self, slot: ModelSlot) -> Path:
        """``<model_dir>/model.pt``."""
        return self.model_dir(slot) / CHECKPOINT

    def model_lock(self, slot: ModelSlot) -> Path:
        """``<model_dir>/.lock``: one trainer at a time per slot."""
        return self.model_dir(slot) / ".lock"

    def budget_checkpoint(self, slot: ModelSlot, steps: int) -> Path:
        """A grid cell's snapshot after ``steps`` gradient steps (``grid.snapshots``)."""
        where = f"{slot.key}/{slot.variant}/seed={slot.seed}"
        return Path(self.run_dir) / "budgets" / f"steps={int(steps)}" / where / CHECKPOINT

    def budget_checkpoints(self, key: str) -> list[Path]:
        """Every ``budgets/steps=<k>/<key>/n=<N>_t=<T>/seed=<s>/model.pt``, sorted."""
        return sorted(
            (Path(self.run_dir) / "budgets").glob(f"steps=*/{key}/n=*_t=*/seed=*/{CHECKPOINT}")
        )

    def grid_checkpoints(self, key: str) -> list[Path]:
        """Every ``<key>/n=<N>_t=<T>/seed=<s>/model.pt`` (the 5.4 grid), sorted."""
        return sorted((Path(self.models_dir) / key).glob(f"n=*_t=*/seed=*/{CHECKPOINT}"))

    # ---- horizon metrics (5.2, 5.3) ----
    @property
    def metrics_dir(self) -> Path:
        """``<run_dir>/metrics``."""
        return Path(self.run_dir) / METRICS

    def metrics_csv(self, key: str, variant: str, seed: int, source: str) -> Path:
        """The tidy CSV of one (model, variant, seed, action source)."""
        return self.metrics_dir / f"{key}__{variant}__seed={seed}__{source}.csv"

    @property
    def diagnostics_dir(self) -> Path:
        """``<run_dir>/diagnostics``: per-dimension errors and predicted-vs-true samples."""
        return Path(self.run_dir) / "diagnostics"

    def diagnostics_csv(self, kind: str, key: str, variant: str, seed: int, source: str) -> Path:
        """``diagnostics/<kind>__<metrics CSV name>`` (``kind``: ``per_dim`` or ``sample``),
        written with the metrics CSV of the same name and its fingerprint."""
        name = self.metrics_csv(key, variant, seed, source).name
        return self.diagnostics_dir / f"{kind}__{name}"

    def metrics_lock(self, key: str, variant: str, seed: int) -> Path:
        """One evaluator at a time per (model, variant, seed), over all its sources."""
        return self.metrics_dir / f".{key}__{variant}__seed={seed}.lock"

    # ---- 5.4 and 5.5 results ----
    def efficiency_csv(self) -> Path:
        """``<run_dir>/efficiency/scores.csv``: the 5.4 grid's tidy scores."""
        return Path(self.run_dir) / "efficiency" / "scores.csv"

    def reward_csv(self) -> Path:
        """``<run_dir>/reward/returns.csv``: 5.5 predicted vs true returns."""
        return Path(self.run_dir) / "reward" / "returns.csv"

    @staticmethod
    def lock_for(path: Path) -> Path:
        """``.<name>.lock`` beside a single-file artifact."""
        path = Path(path)
        return path.with_name(f".{path.stem}.lock")

    # ---- tables, figures, videos ----
    def table(self, name: str) -> Path:
        """``<run_dir>/tables/<name>.csv``."""
        return Path(self.run_dir) / "tables" / f"{name}.csv"

    def figure(self, stem: str) -> Path:
        """``<run_dir>/figures/<stem>`` (the plotting code adds one suffix per format)."""
        return Path(self.run_dir) / "figures" / stem

    @property
    def figures_dir(self) -> Path:
        """``<run_dir>/figures``."""
        return Path(self.run_dir) / "figures"

    def report_lock(self) -> Path:
        """One ``mode=plot`` at a time per run dir: its tables and figures come from one reading
        of the result CSVs, never a stale reading written last."""
        return Path(self.run_dir) / ".report.lock"

    def video(self, key: str) -> Path:
        """``<run_dir>/videos/<key>_test0.mp4``."""
        return Path(self.run_dir) / "videos" / f"{key}_test0.mp4"

    # ---- control ----
    @property
    def control_runs_dir(self) -> Path:
        """``<control_dir>/runs``."""
        return Path(self.control_dir) / "runs"

    def control_run(self, method: str, key: str | None, seed: int, settings: str) -> Path:
        """One control run's CSV, named by its method, model, seed and settings hash (so runs
        of other settings never replace it)."""
        return self.control_runs_dir / f"{method}__{key or 'none'}__seed={seed}__{settings}.csv"

    def legacy_control_run(self, method: str, key: str | None, seed: int) -> Path:
        """The name earlier versions gave a control run (no settings hash), still read."""
        return self.control_runs_dir / f"{method}__{key or 'none'}__seed={seed}.csv"

    def control_tuning(self, method: str, key: str | None, settings: str) -> Path:
        """The tuning study of a method's knob (its tuning seeds, never reported), named by the
        settings it was tuned under."""
        return Path(self.control_dir) / "tuning" / f"{method}__{key or 'none'}__{settings}.csv"

    def control_tuning_files(self) -> list[Path]:
        """Every tuning study of this env, sorted."""
        return sorted((Path(self.control_dir) / "tuning").glob("*.csv"))

    def control_tuning_table(self) -> Path:
        """``<control_dir>/tables/tuning.csv``: the chosen candidates of every study."""
        return Path(self.control_dir) / "tables" / "tuning.csv"

    def control_run_files(self) -> list[Path]:
        """Every control run CSV of this env, sorted."""
        return sorted(self.control_runs_dir.glob("*.csv"))

    def control_table(self) -> Path:
        """``<control_dir>/tables/control.csv``."""
        return Path(self.control_dir) / "tables" / "control.csv"

    def control_report_lock(self) -> Path:
        """One control report at a time per env (as :meth:`report_lock`)."""
        return Path(self.control_dir) / ".report.lock"

    def control_figure(self) -> Path:
        """``<control_dir>/figures/learning_curve`` (one suffix per format)."""
        return Path(self.control_dir) / "figures" / "learning_curve"


def parse_model_dir(path: Path) -> ModelSlot:
    """``.../<key>/<variant>/seed=<seed>[/model.pt]`` -> its :class:`ModelSlot`."""
    path = Path(path)
    if path.name == CHECKPOINT:
        path = path.parent
    match = SEED_DIR.match(path.name)
    if match is None or len(path.parts) < 3:
        raise TrajmbrlError(f"{path} is not a model directory <key>/<variant>/seed=<seed>")
    return ModelSlot(path.parent.parent.name, path.parent.name, int(match.group(1)))


def parse_metrics_name(path: Path) -> MetricsName:
    """``<key>__<variant>__seed=<seed>__<source>.csv`` -> its parts."""
    match = _METRICS_NAME.match(Path(path).stem)
    if match is None:
        raise TrajmbrlError(f"{path} is not named <key>__<variant>__seed=<seed>__<source>.csv")
    return MetricsName(match["key"], match["variant"], int(match["seed"]), match["source"])


def parse_control_run(path: Path) -> ControlRunName:
    """``<method>__<key|none>__seed=<seed>[__<settings>].csv`` -> its parts."""
    match = _CONTROL_NAME.match(Path(path).stem)
    if match is None:
        raise TrajmbrlError(
            f"{path} is not named <method>__<key|none>__seed=<seed>__<settings>.csv"
        )
    key = None if match["key"] == "none" else match["key"]
    return ControlRunName(match["method"], key, int(match["seed"]), match["settings"] or "")


def experiment_of(metrics_csv: Path) -> str:
    """The experiment name of ``<experiment>/<env>/<tag>/metrics/<file>.csv``."""
    return Path(metrics_csv).resolve().parents[3].name
