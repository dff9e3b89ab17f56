"""One number format for everything a user reads: the console, logs and report tables.

A value is printed with 3 significant digits, or as :data:`CEILING_MARK` when it is diverged
(NaN, non-finite, or at / above the error ceiling 1e6 of :mod:`trajmbrl.evaluation.metrics`),
so the eval log and the tables never disagree (``1.95e+31`` in one, ``>=1e6 (div.)`` in the
other).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

#: how a diverged value (at the error ceiling) is printed
CEILING_MARK = ">=1e6 (div.)"
#: errors at or above this are diverged (the same value as metrics.ERROR_CEILING)
CEILING = 1e6


def is_diverged(value: float) -> bool:
    """NaN, non-finite, or at / above :data:`CEILING`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return True
    return not math.isfinite(v) or v >= CEILING


def fmt_number(
    value: float, *, mark: str = CEILING_MARK, infinite_only: bool = False, digits: int = 3
) -> str:
    """``value`` with ``digits`` significant digits, or ``mark`` when it is diverged.

    :param infinite_only: mark only ``inf`` (ratios such as skill scores, p-values: large finite
        values are real, NaN is printed as ``nan``).
    """
    v = float(value)
    bad = math.isinf(v) if infinite_only else is_diverged(v)
    return mark if bad else f"{v:.{digits}g}"


def fmt_share(value: float) -> str:
    """A share in [0, 1] as a whole percentage (``88%``); ``-`` when missing."""
    v = float(value)
    return "-" if math.isnan(v) else f"{v:.0%}"


def fmt_columns(
    frame: pd.DataFrame,
    columns: Iterable[str] | None = None,
    *,
    shares: Iterable[str] = (),
    **kw: object,
) -> pd.DataFrame:
    """A copy of ``frame`` with its float ``columns`` (None: every float column not in
    ``shares``) as :func:`fmt_number` strings and its ``shares`` columns as percentages."""
    shares = [c for c in shares if c in frame.columns]
    if columns is None:
        columns = [
            c
            for c in frame.columns
            if c not in shares and pd.api.types.is_float_dtype(frame[c].dtype)
        ]
    out = frame.copy()
    for c in columns:
        out[c] = [fmt_number(v, **kw) for v in frame[c]]  # type: ignore[arg-type]
    for c in shares:
        out[c] = [fmt_share(v) for v in frame[c]]
    return out
