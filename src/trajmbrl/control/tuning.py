"""Equal tuning for every model-based method: the pessimism ``kappa`` chosen on seeds that are
never reported, with the same budget for every method.

For a method with a pessimism knob (``model_cma``, ``model_cma_onestep``: see
:data:`TUNABLE`), each value of ``values`` is run on every tuning seed with the study's budget;
the value with the best mean final true score is used for the reported seeds (ties: the
smaller kappa). The tuning seeds must be disjoint from the reported ones (checked by the mode),
so a method's knob is never fitted to the numbers it reports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trajmbrl.control.loop import Budget, run_control
from trajmbrl.control.methods import Settings
from trajmbrl.control.tasks import ControlTask
from trajmbrl.errors import ArgumentError
from trajmbrl.utils.schema_check import check_settings, setting

#: methods whose ``kappa`` changes what they choose
TUNABLE = ("model_cma", "model_cma_onestep")
COLUMNS = ["kappa", "seed", "true_score"]


@dataclass(frozen=True)
class Tuning:
    """Which kappa values are tried on which seeds ([] values: no tuning, kappa as given)."""

    values: list[float] = setting(
        [], "kappa values tried on the tuning seeds ([] = no tuning: the given kappa)"
    )
    seeds: list[int] = setting([1000, 1001, 1002], "seeds the values are tried on (never reported)")

    def __post_init__(self) -> None:
        check_settings(self)
        if any(v < 0 for v in self.values):
            raise ArgumentError(f"{{Tuning.values}} must be >= 0, got {self.values}")
        if self.values and not self.seeds:
            raise ArgumentError("{Tuning.seeds} must name at least one seed to tune on")

    def applies(self, method: str) -> bool:
        """True when ``method`` is tuned (it has the knob and values are given)."""
        return bool(self.values) and method in TUNABLE

    def check_disjoint(self, reported: int) -> None:
        """:raises ArgumentError: when the reported seed is one of the tuning seeds."""
        if reported in self.seeds:
            raise ArgumentError(
                f"the reported seed {reported} is one of {{Tuning.seeds}} {self.seeds}: tuning "
                "seeds must never be reported"
            )


def tune_kappa(
    task: ControlTask, method: str, settings: Settings, budget: Budget, tuning: Tuning
) -> pd.DataFrame:
    """Final true score of ``method`` for every kappa value and tuning seed.

    :returns: rows of :data:`COLUMNS` (values x seeds).
    """
    rows = []
    for kappa in tuning.values:
        st = dataclasses.replace(settings, kappa=float(kappa))
        for seed in tuning.seeds:
            frame = run_control(task, method, st, budget, int(seed))
            rows.append(
                {
                    "kappa": float(kappa),
                    "seed": int(seed),
                    "true_score": frame["true_score"].iloc[-1],
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def choose_kappa(frame: pd.DataFrame) -> float:
    """The kappa with the best mean final score over the tuning seeds (ties: the smallest)."""
    means = frame.groupby("kappa")["true_score"].mean().sort_index()
    best = means.max()
    return float(means.index[np.flatnonzero(np.isclose(means.to_numpy(), best))[0]])
