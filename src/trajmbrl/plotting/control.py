"""mode=control figure from the tidy per-run CSVs: learning curves (the final table: reports)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from trajmbrl.plotting.figures import LEGEND_OUTSIDE, save_figure


def label(frame: pd.DataFrame) -> pd.Series:
    """``method`` plus the model key in brackets when there is one, e.g. ``model_cma (te)``."""
    model = frame["model"].fillna("").astype(str)
    return frame["method"].where(model == "", frame["method"] + " (" + model + ")")


def learning_curves(
    frame: pd.DataFrame, stem: Path, *, title: str = "", formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """True score vs system episodes used: median over seeds, 25-75 % band and min-max band.

    :param frame: rows of :data:`trajmbrl.control.loop.COLUMNS` (one env).
    """
    frame = frame.assign(label=label(frame))
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    for k, (name, g) in enumerate(frame.groupby("label", sort=True)):
        q = g.groupby("episodes")["true_score"].quantile([0.0, 0.25, 0.5, 0.75, 1.0]).unstack()
        x, color = q.index.to_numpy(), cmap(k % 10)
        ax.plot(
            x,
            q[0.5],
            marker="o",
            ms=3,
            lw=1.6,
            color=color,
            label=f"{name} (n={g['seed'].nunique()})",
        )
        ax.fill_between(x, q[0.25], q[0.75], color=color, alpha=0.25, lw=0)
        ax.fill_between(x, q[0.0], q[1.0], color=color, alpha=0.08, lw=0)
    ax.set_xlabel("system episodes used")
    ax.set_ylabel("true score (mean over evaluation episodes)")
    ax.set_title(title or "median over seeds; 25-75 % and min-max bands")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=True, **LEGEND_OUTSIDE)  # right of the data
    return save_figure(fig, stem, formats)
