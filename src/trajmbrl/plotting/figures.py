"""The paper's figures as functions of tidy metrics frames (PNG and PDF).

Figures are :class:`matplotlib.figure.Figure` objects drawn without pyplot, so no module here
selects a matplotlib backend (importing it changes no global state) and drawing needs no
display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from trajmbrl.evaluation.stats import sort_key
from trajmbrl.reports.tables import seed_median_summary
from trajmbrl.utils.atomic import atomic_path

#: the original's plot colours per model key (spec 5.1), then the baselines
COLORS = {
    "d": "#0033ff",
    "de": "#3660b5",
    "p": "#00c414",
    "pe": "#52b536",
    "t": "#ff0000",
    "te": "#b53636",
    "tp": "#dcdc00",
    "tpe": "#b57f11",
    "lin": "#7f7f7f",
    "zero": "#000000",
    "hmean": "#ff7f0e",
    "lint": "#17becf",
    "oracle": "#e377c2",
}


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<stem>.<fmt>`` for each format, atomically. :returns: the paths."""
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", dpi=150)
        paths.append(path)
    return paths


def line_style(model: str, source: str) -> dict[str, Any]:
    """Colour by model key; solid = direct / logged actions, dashed = closed loop, dotted =
    sampled propagation."""
    base, _, propagation = str(source).partition("-")
    style = "--" if base == "controller" else "-"
    return {"color": COLORS.get(str(model)), "ls": ":" if propagation else style}


def horizon_figure(
    frame: pd.DataFrame,
    stem: Path,
    *,
    metric: str = "nmse",
    title: str = "",
    ylabel: str = "normalised MSE",
    rows: Sequence[str] | None = None,
    reference: float | None = None,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Median (over seeds) of the median over test trajectories vs horizon, with the 34-66 and
    10-90 percentile bands over trajectories, log scale; one line per table row.

    :param frame: tidy rows with ``row, model, action_source, seed, traj, horizon, metric,
        value``; :param rows: the row labels to draw, in order (None = all).
    :param reference: a horizontal line (e.g. 1 for skill scores).
    """
    part = frame[frame["metric"] == metric]
    if rows is not None:
        part = part[part["row"].isin(list(rows))]
    summary = seed_median_summary(part)
    keys = part[["row", "model", "action_source"]].drop_duplicates()
    styles = {r: line_style(m, s) for r, m, s in keys.itertuples(index=False)}
    order = (
        list(rows)
        if rows is not None
        else [
            r
            for r, m, s in sorted(keys.itertuples(index=False), key=lambda k: sort_key(k[1], k[2]))
        ]
    )
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for name in [r for r in order if r in styles]:
        group = summary[summary["row"] == name]
        (line,) = ax.plot(group["horizon"], group["median"], label=name, lw=1.6, **styles[name])
        for lo, hi, alpha in (("p34", "p66", 0.25), ("p10", "p90", 0.1)):
            ax.fill_between(
                group["horizon"], group[lo], group[hi], color=line.get_color(), alpha=alpha, lw=0
            )
    if reference is not None:
        ax.axhline(reference, color="black", lw=0.8, ls="-.")
    ax.set_yscale("log")
    ax.set_xlabel("prediction horizon (steps)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "median, 34-66 and 10-90 percentiles over test trajectories")
    ax.legend(frameon=True, fontsize=7, ncol=2 if len(styles) > 8 else 1)
    return save_figure(fig, stem, formats)
