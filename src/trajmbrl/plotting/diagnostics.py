"""Diagnostic figures: the error of every state dimension, and predicted vs true trajectories.

Drawn without pyplot (as :mod:`.figures`): no backend is selected, no display is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from trajmbrl.evaluation.metrics import ERROR_CEILING
from trajmbrl.evaluation.stats import protocol_name
from trajmbrl.plotting.figures import COLORS, save_figure
from trajmbrl.utils.format import fmt_number

#: cells annotated with their value when the heat-map has at most this many
ANNOTATE_CELLS = 120


def per_dim_figure(
    table: pd.DataFrame,
    stem: Path,
    *,
    rows: Sequence[str],
    title: str = "",
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Heat-maps of the median normalised MSE per state dimension, one facet per horizon band
    (stacked): table rows (``rows``, in order) down, state dimensions across, a log colour scale
    over six decades shared by the facets (colour bar right of them), each cell annotated
    with its value when there are few; diverged cells are hatched.

    :param table: one line per (row, band, dim) with ``row, band, h_lo, dim, state, median``.
    """
    fig = draw_per_dim(table, rows=rows, title=title)
    return save_figure(fig, stem, formats)


def draw_per_dim(table: pd.DataFrame, *, rows: Sequence[str], title: str = "") -> Figure:
    """The figure of :func:`per_dim_figure` (not saved)."""
    bands = table.drop_duplicates("band").sort_values("h_lo")["band"].tolist()
    states = table.drop_duplicates("dim").sort_values("dim")["state"].tolist()
    rows = [r for r in rows if r in set(table["row"])]
    values = table["median"].to_numpy(dtype=float)
    ok = values[np.isfinite(values) & (values > 0) & (values < ERROR_CEILING)]
    lo, hi = (float(ok.min()), float(ok.max())) if len(ok) else (1e-6, 1.0)
    lo = max(lo, hi / 1e6)  # six decades: a near-exact baseline does not wash out the rest
    norm = LogNorm(vmin=lo, vmax=max(hi, lo * 10), clip=True)
    sns.set_theme(style="white", context="paper")
    width = min(3.0 + 0.55 * len(states), 16.0)
    height = 0.8 + len(bands) * (0.6 + 0.28 * len(rows))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(bands), 1, squeeze=False)[:, 0]
    image = None
    for ax, band in zip(axes, bands):
        part = table[table["band"] == band]
        grid = np.full((len(rows), len(states)), np.nan)
        for r, d, v in zip(part["row"], part["dim"], part["median"]):
            if r in rows:
                grid[rows.index(r), int(d)] = v
        bad = ~np.isfinite(grid) | (grid >= ERROR_CEILING)
        shown = np.where(bad | (grid <= 0), np.nan, grid)
        image = ax.imshow(shown, aspect="auto", cmap="viridis", norm=norm, interpolation="none")
        for i, j in zip(*np.nonzero(bad & ~np.isnan(grid))):
            ax.add_patch(_hatch(j, i))
        if grid.size <= ANNOTATE_CELLS:
            for i in range(len(rows)):
                for j in range(len(states)):
                    if not math.isnan(grid[i, j]):
                        dark = not bad[i, j] and float(norm(max(grid[i, j], lo))) < 0.6
                        ax.text(
                            j,
                            i,
                            _short(grid[i, j]),
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="white" if dark else "black",
                        )
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        tilt = max(len(str(n)) for n in states) * len(states) > 60  # long names: slanted
        ax.set_xticks(
            range(len(states)),
            states,
            fontsize=7,
            rotation=30 if tilt else 0,
            ha="right" if tilt else "center",
        )
        ax.set_title(band, fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), location="right", shrink=0.9)
        bar.set_label("median normalised MSE (hatched: diverged)")
    fig.suptitle(title or "median normalised MSE per state dimension")
    return fig


def _hatch(x: int, y: int):  # noqa: ANN202 (a matplotlib patch)
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="xx", lw=0, ec="#b00000")


def _short(v: float) -> str:
    """A heat-map cell: 2 significant digits, ``div.`` when diverged."""
    return "div." if fmt_number(v).startswith(">=") else f"{v:.2g}"


def prediction_figure(
    samples: dict[str, pd.DataFrame],
    stem: Path,
    *,
    model: str,
    title: str = "",
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Predicted vs true states of a few test trajectories for one model: one facet per
    (state dimension, trajectory) (dimensions down, trajectories across); the truth in black,
    the model's prediction per protocol in its colour (solid: direct / logged actions, dashed:
    closed loop); one legend below the facets, outside the data; each facet's y range is the
    truth's (a diverged prediction leaves the facet).

    :param samples: action source -> tidy rows ``traj, horizon, dim, state, true, pred``.
    """
    fig = draw_prediction(samples, model=model, title=title)
    return save_figure(fig, stem, formats)


def draw_prediction(samples: dict[str, pd.DataFrame], *, model: str, title: str = "") -> Figure:
    """The figure of :func:`prediction_figure` (not saved)."""
    from trajmbrl.plotting.figures import line_style

    first = next(iter(samples.values()))
    trajs = sorted(set(first["traj"]))
    dims = first.drop_duplicates("dim").sort_values("dim")[["dim", "state"]]
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(2.0 + 2.6 * len(trajs), 0.8 + 1.25 * len(dims)), layout="constrained")
    axes = fig.subplots(len(dims), len(trajs), sharex=True, squeeze=False)
    for i, (d, state) in enumerate(dims.itertuples(index=False)):
        for j, traj in enumerate(trajs):
            ax = axes[i, j]
            truth = first[(first["dim"] == d) & (first["traj"] == traj)]
            ax.plot(truth["horizon"], truth["true"], color="black", lw=1.4, label="true")
            lo, hi = float(truth["true"].min()), float(truth["true"].max())
            span = hi - lo + 1e-9
            top, bottom = hi, lo
            for source, frame in samples.items():
                part = frame[(frame["dim"] == d) & (frame["traj"] == traj)]
                style = line_style(model, source)
                style.update(color=style["color"] or COLORS.get("lin"))
                ax.plot(part["horizon"], part["pred"], lw=1.2, label=_label(model, source), **style)
                pred = part["pred"].to_numpy(dtype=float)
                near = pred[np.isfinite(pred) & (np.abs(pred - (lo + hi) / 2) < 2 * span)]
                if len(near):
                    top, bottom = max(top, float(near.max())), min(bottom, float(near.min()))
            pad = 0.1 * (top - bottom) + 1e-9
            ax.set_ylim(bottom - pad, top + pad)  # a diverged prediction leaves the facet
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(state, fontsize=8)
            if i == 0:
                ax.set_title(f"test trajectory {traj}", fontsize=8)
            if i == len(dims) - 1:
                ax.set_xlabel("horizon (steps)", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    fig.suptitle(title or f"{model}: predicted vs true states")
    return fig


def _label(model: str, source: str) -> str:
    protocol = protocol_name(source)
    return f"{model} ({protocol})" if protocol else model
