"""The importer's outlier rule: one bad sample in a state, action or theta column is refused.

Per column, with the robust spread ``s`` = 1.4826 x the median absolute deviation from the
median (the standard deviation for Gaussian data; 1.2533 x the mean absolute deviation when
more than half the values equal the median; a constant column is never refused):

- **value**: a value further than :data:`OUTLIER_FACTOR` x ``s`` from the column's median
  (``kp=1e30``, a sensor's error code);
- **spike**: within an episode, a sample that jumps away from *both* its neighbours in the same
  direction by more than :data:`SPIKE_FACTOR` x ``s`` (a single-sample glitch such as one
  50-rad angle; a real step change moves away from one neighbour only). An episode's first and
  last row are compared with their one neighbour.

Theta columns (constant per episode) are checked by value over one value per episode. The
packaged logs stay far inside both limits (docs/own-robot.md); ``allow_outliers=True``
(``logs.allow_outliers=true``) skips the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trajmbrl.data.importers.tables import format_rows
from trajmbrl.errors import ArgumentError

#: a value further than this many robust spreads from its column's median is refused
OUTLIER_FACTOR = 200.0
#: a sample further than this many robust spreads from both its neighbours is refused
SPIKE_FACTOR = 50.0
_HINT = "fix the log or pass {episodes_from_table.allow_outliers}=true"


def robust_spread(col: np.ndarray) -> tuple[float, float]:
    """The median and robust spread of ``col`` (n,) (0 for a constant column)."""
    med = float(np.median(col))
    dev = np.abs(col - med)
    spread = 1.4826 * float(np.median(dev))
    if spread == 0:
        spread = 1.2533 * float(np.mean(dev))
    return med, spread


def _extreme(col: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Median, robust spread and the rows of ``col`` (n,) more than ``OUTLIER_FACTOR`` spreads
    from the median (none for a constant column)."""
    med, spread = robust_spread(col)
    if spread == 0:
        return med, spread, np.zeros(0, dtype=np.int64)
    return med, spread, np.flatnonzero(np.abs(col - med) > OUTLIER_FACTOR * spread)


def spike_sizes(col: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(n,) how far each sample departs from both neighbours of its episode in one direction
    (0 when it lies between them); ``codes`` (n,) the episode of each row, rows in order."""
    same_prev = np.concatenate([[False], codes[1:] == codes[:-1]])
    same_next = np.concatenate([codes[:-1] == codes[1:], [False]])
    prev = np.where(same_prev, col - np.roll(col, 1), np.nan)
    nxt = np.where(same_next, col - np.roll(col, -1), np.nan)
    both = np.where(np.sign(prev) == np.sign(nxt), np.fmin(np.abs(prev), np.abs(nxt)), 0.0)
    one = np.where(np.isnan(prev), np.abs(nxt), np.abs(prev))  # an episode's first or last row
    size = np.where(same_prev & same_next, both, one)
    return np.nan_to_num(size, nan=0.0)


def refuse_outliers(
    values: np.ndarray, names: Sequence[str], source: str, codes: np.ndarray | None = None
) -> None:
    """Raise naming the column and rows of an extreme value or a single-sample spike.

    :param values: (rows, len(names)) state and action columns; :param codes: (rows,) episode
        of each row (None: one episode).
    """
    codes = np.zeros(len(values), dtype=np.int64) if codes is None else codes
    for j, name in enumerate(names):
        col = values[:, j]
        med, spread, bad = _extreme(col)
        if spread == 0:
            continue
        if bad.size:
            raise ArgumentError(
                f"{source}: column {name!r} has extreme value(s) {col[bad[0]]:g} at data row(s) "
                f"{format_rows(bad)} (more than {OUTLIER_FACTOR:g} x its robust spread "
                f"{spread:.3g} from the median {med:.3g}); {_HINT}"
            )
        bad = np.flatnonzero(spike_sizes(col, codes) > SPIKE_FACTOR * spread)
        if bad.size:
            raise ArgumentError(
                f"{source}: column {name!r} jumps to {col[bad[0]]:g} at data row(s) "
                f"{format_rows(bad)} and back (a single-sample glitch: more than "
                f"{SPIKE_FACTOR:g} x its robust spread {spread:.3g} from its neighbours); {_HINT}"
            )


def refuse_theta_outliers(
    theta: np.ndarray, names: Sequence[str], first_rows: np.ndarray, source: str
) -> None:
    """Raise naming the theta column and episode rows of an extreme controller parameter.

    :param theta: (E, dp) one row per episode; :param first_rows: (E,) each episode's first data
        row (0-based).
    """
    for j, name in enumerate(names):
        col = theta[:, j]
        med, spread, bad = _extreme(col)
        if bad.size:
            raise ArgumentError(
                f"{source}: theta column {name!r} has extreme value(s) {col[bad[0]]:g} in the "
                f"episode(s) starting at data row(s) {format_rows(first_rows[bad])} (more than "
                f"{OUTLIER_FACTOR:g} x its robust spread {spread:.3g} over episodes from the "
                f"median {med:.3g}); {_HINT}"
            )
