"""One number format (utils/format.py): the eval log, the printouts and the tables agree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trajmbrl.evaluation.metrics import ERROR_CEILING
from trajmbrl.reports.tables import fmt_value
from trajmbrl.utils.format import CEILING, CEILING_MARK, fmt_columns, fmt_number


def test_diverged_values_are_marked_the_rest_has_three_digits():
    assert CEILING == ERROR_CEILING
    for v in (1.95e31, np.inf, -np.inf, np.nan, 1e6):
        assert fmt_number(v) == fmt_value(v) == CEILING_MARK
    assert fmt_number(0.123456) == fmt_value(0.123456) == "0.123"
    assert fmt_number(999999.0) == "1e+06"  # below the ceiling: a number
    assert (
        fmt_number(3e7, infinite_only=True) == "3e+07"
        and fmt_number(np.nan, infinite_only=True) == "nan"
    )


def test_columns_are_formatted_and_shares_are_percentages():
    frame = pd.DataFrame(
        {"model": ["d", "t"], "h=10": [1.95e31, 0.01234], "diverged": [0.875, 0.0]}
    )
    out = fmt_columns(frame, shares=["diverged"])
    assert out["h=10"].tolist() == [CEILING_MARK, "0.0123"]
    assert out["diverged"].tolist() == ["88%", "0%"] and out["model"].tolist() == ["d", "t"]
