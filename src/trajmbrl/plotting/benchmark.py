"""The benchmark's per-horizon figure: every row's skill against hmean with its bootstrap
interval (from the ``curves`` table of :func:`trajmbrl.reports.benchmark.leaderboard`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from trajmbrl.plotting.figures import line_style, save_figure


def skill_figure(
    curves: pd.DataFrame, stem: Path, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Skill (median nMSE / median hmean nMSE) vs horizon per row, shaded bootstrap interval,
    log y; the hmean line is 1. :param curves: columns system, row, model, horizon, skill,
    skill_lo, skill_hi (and action_source). :returns: the written paths."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for i, (row, g) in enumerate(curves.groupby("row", sort=False)):
        g = g.sort_values("horizon")
        style = line_style(str(g["model"].iloc[0]), str(g["action_source"].iloc[0]))
        style["color"] = style["color"] or f"C{i % 10}"
        if "[" in str(row) and "[paper]" not in str(row):  # tuned settings: dash-dot
            style["ls"] = "-."
        cap = lambda v: np.clip(v.to_numpy(dtype=float), 1e-9, 1e6)  # noqa: E731
        ax.plot(g["horizon"], cap(g["skill"]), label=str(row), lw=1.4, **style)
        ax.fill_between(
            g["horizon"], cap(g["skill_lo"]), cap(g["skill_hi"]), color=style["color"], alpha=0.12
        )
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("horizon h (steps)")
    ax.set_ylabel("skill = median nMSE / hmean")
    ax.set_title(str(curves["system"].iloc[0]) if len(curves) else "")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return save_figure(fig, stem, formats)
