"""Equal tuning for every model-based method: the pessimism ``kappa`` and the model's width chosen
on seeds that are never reported, with the same budget for every method.

For a method with a pessimism knob (``model_cma``, ``model_cma_onestep``: see
:data:`TUNABLE`), every candidate of the grid ``values`` x ``hidden`` (kappa x hidden width of
the refitted model) is run on every tuning seed with the study's budget; the candidate with the
best mean final true score is used for the reported seeds (ties: the smaller kappa, then the
smaller width). The tuning seeds must be disjoint from the reported ones (checked by the mode),
so a method's knobs are never fitted to the numbers they report. The study is one row per
(candidate, seed): a grid that grows keeps the cells already run (:func:`tune` runs only the
missing ones), and the choice reads only the cells of the current grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trajmbrl.control.loop import Budget, run_control
from trajmbrl.control.methods import Settings
from trajmbrl.control.tasks import ControlTask
from trajmbrl.errors import ArgumentError
from trajmbrl.utils.schema_check import check_settings, setting

#: methods whose ``kappa`` (and model) change what they choose
TUNABLE = ("model_cma", "model_cma_onestep")
COLUMNS = ["kappa", "hidden", "seed", "true_score"]


@dataclass(frozen=True)
class Tuning:
    """Which kappa values and model widths are tried on which seeds ([] values: no tuning,
    kappa as given; [] hidden: the model's own width)."""

    values: list[float] = setting(
        [], "kappa values tried on the tuning seeds ([] = no tuning: the given kappa)"
    )
    hidden: list[int] = setting(
        [], "hidden widths of the refitted model tried with every kappa ([] = the model's own)"
    )
    seeds: list[int] = setting([1000, 1001, 1002], "seeds the values are tried on (never reported)")

    def __post_init__(self) -> None:
        check_settings(self)
        if any(v < 0 for v in self.values):
            raise ArgumentError(f"{{Tuning.values}} must be >= 0, got {self.values}")
        if any(h < 1 for h in self.hidden):
            raise ArgumentError(f"{{Tuning.hidden}} must be >= 1, got {self.hidden}")
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

    def candidates(self, own_hidden: int) -> list[tuple[float, int]]:
        """Every (kappa, hidden) of the grid; ``own_hidden`` when no widths are given."""
        return [(float(k), int(h)) for h in (self.hidden or [own_hidden]) for k in self.values]

    def cells(self, own_hidden: int) -> pd.DataFrame:
        """Every (kappa, hidden, seed) the study needs, one row each."""
        rows = [(k, h, int(s)) for k, h in self.candidates(own_hidden) for s in self.seeds]
        return pd.DataFrame(rows, columns=COLUMNS[:3])


def own_hidden(settings: Settings) -> int:
    """The hidden width of the method's model as configured (``model.hidden``)."""
    if settings.recipe is None:
        raise ArgumentError("a tuned method needs a model recipe")
    return int(settings.recipe.settings["hidden"])


def with_candidate(settings: Settings, kappa: float, hidden: int) -> Settings:
    """``settings`` with pessimism ``kappa`` and the model refitted at width ``hidden``."""
    recipe = settings.recipe
    if recipe is not None and int(recipe.settings["hidden"]) != hidden:
        recipe = dataclasses.replace(recipe, settings={**recipe.settings, "hidden": int(hidden)})
    return dataclasses.replace(settings, kappa=float(kappa), recipe=recipe)


def tune(
    task: ControlTask,
    method: str,
    settings: Settings,
    budget: Budget,
    tuning: Tuning,
    done: pd.DataFrame | None = None,
    save: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Final true score of ``method`` for every candidate and tuning seed; the cells already in
    ``done`` (rows of :data:`COLUMNS`) are kept, not run again.

    :param save: called with the whole study after every new cell (an interrupted study
        resumes from its last cell).
    :returns: rows of :data:`COLUMNS`: ``done``'s, then the new cells (candidates x seeds).
    """
    rows = [] if done is None else list(done[COLUMNS].itertuples(index=False, name=None))
    have = {(float(k), int(h), int(s)) for k, h, s, _ in rows}
    for kappa, hidden, seed in tuning.cells(own_hidden(settings)).itertuples(index=False):
        if (kappa, hidden, seed) in have:
            continue
        frame = run_control(task, method, with_candidate(settings, kappa, hidden), budget, seed)
        rows.append((kappa, hidden, seed, float(frame["true_score"].iloc[-1])))
        if save is not None:
            save(pd.DataFrame(rows, columns=COLUMNS))
    return pd.DataFrame(rows, columns=COLUMNS)


def choose(frame: pd.DataFrame, tuning: Tuning, own: int) -> tuple[float, int]:
    """The (kappa, hidden) of the current grid with the best mean final score over the tuning
    seeds (ties: the smaller kappa, then the smaller width); other cells of ``frame`` (of an
    earlier, wider grid) are not read.

    :raises ArgumentError: a cell of the grid is missing from ``frame``.
    """
    cells = tuning.cells(own)
    scored = cells.merge(frame.astype({"hidden": int, "seed": int}), how="left", on=COLUMNS[:3])
    if scored["true_score"].isna().any():
        raise ArgumentError("the tuning study lacks cells of the grid; run it again")
    means = scored.groupby(["kappa", "hidden"])["true_score"].mean()
    means = means.reorder_levels(["kappa", "hidden"]).sort_index()
    best = np.flatnonzero(np.isclose(means.to_numpy(), means.max()))
    ranked = sorted(means.index[i] for i in best)
    return float(ranked[0][0]), int(ranked[0][1])
