"""A hierarchical bootstrap of median errors: datasets, then model seeds, then test trajectories.

The benchmark's numbers vary at three levels: the collected dataset (``data.seed``), the model's
training seed within a dataset, and the test trajectory within a dataset. A replicate draws D
datasets with replacement, then, within every drawn dataset, S seeds of each row with
replacement and N test trajectories with replacement, and takes the median of the pooled
(D, S, N) errors. Rows are *paired*: one replicate draws the same datasets and the same test
trajectories for every row (they are scored on the same trajectories); seeds are drawn per row
(models of different rows are trained independently; a baseline has one seed). Ratios of two
rows' medians are taken replicate by replicate, so the interval of a ratio accounts for the
pairing. Diverged errors (:func:`~trajmbrl.evaluation.metrics.at_ceiling`) count as ``+inf``:
they stay in every median.

Plain numpy, seeded: the same inputs and seed give the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trajmbrl.errors import ArgumentError
from trajmbrl.evaluation.metrics import worst_as_inf
from trajmbrl.utils.schema_check import check_settings, setting


@dataclass
class BootstrapSettings:
    """The bootstrap's knobs (the CLI's ``benchmark.*``)."""

    replicates: int = setting(1000, "bootstrap replicates", ge=10)
    level: float = setting(0.95, "coverage of the percentile intervals", gt=0, lt=1)
    seed: int = setting(0, "seed of the bootstrap draws", ge=0)

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class Draws:
    """Replicate draws shared by every row: ``datasets`` (B, D) dataset indices; ``trajs``
    (B, D, N) trajectory slots within each drawn dataset (-1: beyond that dataset's N_d)."""

    datasets: np.ndarray
    trajs: np.ndarray


def draw(counts: np.ndarray, replicates: int, rng: np.random.Generator) -> Draws:
    """Dataset and trajectory draws for datasets with ``counts`` (D,) test trajectories each."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0 or (counts < 1).any():
        raise ArgumentError(f"counts must be >= 1 per dataset, got {counts.tolist()}")
    d, n = counts.size, int(counts.max())
    datasets = rng.integers(0, d, size=(replicates, d))
    n_of = counts[datasets][:, :, None]  # (B, D, 1)
    trajs = np.floor(rng.random((replicates, d, n)) * n_of).astype(np.int64)
    trajs[np.arange(n)[None, None, :] >= n_of] = -1
    return Draws(datasets, trajs)


def replicate_medians(errors: np.ndarray, draws: Draws, rng: np.random.Generator) -> np.ndarray:
    """The median of one row's resampled errors per replicate.

    :param errors: (D, S, N) errors per dataset, seed and test trajectory slot (NaN: no such
        trajectory in that dataset; diverged entries count as +inf).
    :returns: (B,) replicate medians.
    """
    values = _worst(errors)
    b, d = draws.datasets.shape
    s = values.shape[1]
    seeds = rng.integers(0, s, size=(b, d, s))  # seeds within each drawn dataset
    ds = draws.datasets[:, :, None, None]
    traj = np.where(draws.trajs < 0, 0, draws.trajs)[:, :, None, :]
    picked = values[ds, seeds[:, :, :, None], traj]  # (B, D, S, N)
    picked = np.where((draws.trajs < 0)[:, :, None, :], np.nan, picked)
    return np.nanmedian(picked.reshape(b, -1), axis=1)


def _worst(errors: np.ndarray) -> np.ndarray:
    """Errors with diverged entries as +inf; NaN stays NaN (a missing trajectory slot: the
    caller turns a diverged NaN error into +inf before it pads)."""
    e = np.asarray(errors, dtype=np.float64)
    return np.where(np.isnan(e), np.nan, worst_as_inf(e))


def interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile interval of ``replicates`` (B,) (no interpolation, so +inf is kept)."""
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(replicates, [tail, 1.0 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` replicate by replicate; 0/0 and inf/inf are ties (1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(a, dtype=np.float64) / np.asarray(b, dtype=np.float64)
    return np.where(np.isnan(out), 1.0, out)


@dataclass(frozen=True)
class RowBootstrap:
    """Every row's point median (pooled over datasets, seeds, trajectories) and its replicates
    (B,) from one set of shared draws."""

    median: dict[str, float]
    replicates: dict[str, np.ndarray]

    def median_interval(self, row: str, level: float) -> tuple[float, float]:
        """The interval of ``row``'s median."""
        return interval(self.replicates[row], level)

    def ratio(self, a: str, b: str) -> float:
        """The point ratio of the medians of rows ``a`` and ``b``."""
        return float(ratio(np.array([self.median[a]]), np.array([self.median[b]]))[0])

    def ratio_interval(self, a: str, b: str, level: float) -> tuple[float, float]:
        """The paired interval of median(a) / median(b)."""
        return interval(ratio(self.replicates[a], self.replicates[b]), level)


def bootstrap_rows(
    errors: dict[str, np.ndarray], settings: BootstrapSettings | None = None
) -> RowBootstrap:
    """Hierarchical bootstrap of every row's median error with shared dataset and trajectory
    draws.

    :param errors: row name -> (D, S_row, N) errors; every row has the same D datasets and N
        trajectory slots (a dataset with fewer trajectories pads NaN at the end, the same for
        every row); S_row may differ between rows.
    """
    settings = settings or BootstrapSettings()
    if not errors:
        raise ArgumentError("errors is empty: no rows to bootstrap")
    shapes = {name: np.shape(e) for name, e in errors.items()}
    first = next(iter(shapes.values()))
    if any(len(s) != 3 or s[0] != first[0] or s[2] != first[2] for s in shapes.values()):
        raise ArgumentError(f"errors must be (D, S, N) arrays with equal D and N, got {shapes}")
    # a trajectory slot exists in a dataset when any row has a value there
    present = np.zeros((first[0], first[2]), dtype=bool)
    for e in errors.values():
        present |= ~np.isnan(np.asarray(e, dtype=np.float64)).all(axis=1)
    counts = present.sum(axis=1)
    if (counts < 1).any():
        raise ArgumentError("errors: a dataset has no test trajectory")
    if not all(present[i, : counts[i]].all() for i in range(len(counts))):
        raise ArgumentError("errors: pad missing trajectories at the end only")
    rng = np.random.default_rng(settings.seed)
    draws = draw(counts, settings.replicates, rng)
    median, reps = {}, {}
    for name in sorted(errors):  # a fixed order: the seeds' draws do not depend on dict order
        values = _worst(errors[name])
        median[name] = float(np.nanmedian(values)) if not np.isnan(values).all() else np.nan
        reps[name] = replicate_medians(values, draws, rng)
    return RowBootstrap(median, reps)
