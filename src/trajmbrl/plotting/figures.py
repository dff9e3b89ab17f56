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

#: colours per model key: one hue per base family (the original's colours for d, p, t, tp, spec
#: 5.1; one-step blue / green, trajectory red / gold), its ensemble a darker shade of it (drawn
#: with hollow markers too, :func:`line_style`), then the baselines
COLORS = {
    "d": "#0033ff",
    "de": "#001a80",
    "p": "#00c414",
    "pe": "#006b0b",
    "t": "#ff0000",
    "te": "#8b0000",
    "tp": "#dcdc00",
    "tpe": "#8a6d00",
    "dk": "#7b2cbf",  # the benchmark's families (issue 24): multi-step loss, residual, sequence
    "dke": "#3c096c",
    "tr": "#ff5fa2",
    "tre": "#a4133c",
    "sq": "#b5651d",
    "sqe": "#5c330f",
    "lin": "#7f7f7f",
    "zero": "#000000",
    "hmean": "#ff7f0e",
    "lint": "#17becf",
    "oracle": "#e377c2",
}
#: a horizon figure with more rows than this is drawn as facets (:func:`panels`)
MAX_ROWS = 6
#: where a legend goes: outside the data, right of the axes
LEGEND_OUTSIDE: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.02, 1.0),
    "borderaxespad": 0.0,
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


def _is_ensemble(model: str) -> bool:
    """Whether model key ``model`` has several members (unknown keys: no)."""
    from trajmbrl.configs import model_config

    try:
        return int(model_config(str(model))["ensemble_size"]) > 1
    except Exception:  # a custom key without a model config
        return False


def line_style(model: str, source: str) -> dict[str, Any]:
    """Colour by model key (one hue per base family, :data:`COLORS`); line style by variant:
    solid = direct / logged actions, dashed = closed loop, dotted = sampled propagation; hollow
    circles mark ensembles (``de``, ``pe``, ``te``, ``tpe``)."""
    base, _, propagation = str(source).partition("-")
    style = "--" if base == "controller" else "-"
    out: dict[str, Any] = {"color": COLORS.get(str(model)), "ls": ":" if propagation else style}
    if _is_ensemble(model):
        out.update(marker="o", markevery=0.1, ms=3.5, mfc="white", mew=1.0)
    return out


def panel_of(model: str, source: str) -> str | None:
    """The facet of a row in a crowded figure: ``trajectory models``, ``one-step, logged``
    or ``one-step, closed loop``; None for the baselines (drawn in every facet as context)."""
    from trajmbrl.evaluation.stats import model_keys

    if model not in model_keys():
        return None
    if str(source).partition("-")[0] == "direct":
        return "trajectory models"
    return "one-step, closed loop" if str(source).startswith("controller") else "one-step, logged"


def panels(keys: Sequence[tuple[str, str, str]]) -> list[tuple[str, list[str]]]:
    """Facets of rows (row, model, source): per :func:`panel_of`, each with the baselines that
    apply (direct ones everywhere, logged / closed-loop ones beside their protocol); one facet
    holds every row when there are at most :data:`MAX_ROWS` rows."""
    ordered = sorted(keys, key=lambda k: sort_key(k[1], k[2]))
    if len(ordered) <= MAX_ROWS:
        return [("", [r for r, _, _ in ordered])]
    names = ("trajectory models", "one-step, logged", "one-step, closed loop")
    out = []
    for name in names:
        mine = [r for r, m, s in ordered if panel_of(m, s) == name]
        if not mine:
            continue
        protocol = {"one-step, logged": "logged", "one-step, closed loop": "controller"}.get(name)
        context = [
            r
            for r, m, s in ordered
            if panel_of(m, s) is None
            and (str(s).partition("-")[0] in ("direct", protocol) or protocol is None)
        ]
        out.append((name, mine + context))
    return out or [("", [r for r, _, _ in ordered])]


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
    10-90 percentile bands over trajectories, log scale; one line per table row; legends
    outside the data. More than :data:`MAX_ROWS` rows (and no ``rows``) are drawn as facets
    side by side (:func:`panels`: trajectory models, one-step logged, one-step closed loop,
    each with the baselines), sharing the y axis.

    :param frame: tidy rows with ``row, model, action_source, seed, traj, horizon, metric,
        value``; :param rows: the row labels to draw, in order, in one panel (None = all).
    :param reference: a horizontal line (e.g. 1 for skill scores).
    """
    fig = draw_horizon(
        frame, metric=metric, title=title, ylabel=ylabel, rows=rows, reference=reference
    )
    return save_figure(fig, stem, formats)


def draw_horizon(
    frame: pd.DataFrame,
    *,
    metric: str = "nmse",
    title: str = "",
    ylabel: str = "normalised MSE",
    rows: Sequence[str] | None = None,
    reference: float | None = None,
) -> Figure:
    """The figure of :func:`horizon_figure` (not saved)."""
    part = frame[frame["metric"] == metric]
    if rows is not None:
        part = part[part["row"].isin(list(rows))]
    summary = seed_median_summary(part)
    keys = list(part[["row", "model", "action_source"]].drop_duplicates().itertuples(index=False))
    styles = {r: line_style(m, s) for r, m, s in keys}
    facets = [("", list(rows))] if rows is not None else panels(keys)
    sns.set_theme(style="whitegrid", context="paper")
    fig = Figure(figsize=(8 if len(facets) == 1 else 4.6 * len(facets), 4.5), layout="constrained")
    axes = fig.subplots(1, len(facets), sharey=True, squeeze=False)[0]
    for ax, (name, members) in zip(axes, facets):
        for row in [r for r in members if r in styles]:
            group = summary[summary["row"] == row]
            (line,) = ax.plot(group["horizon"], group["median"], label=row, lw=1.6, **styles[row])
            for lo, hi, alpha in (("p34", "p66", 0.25), ("p10", "p90", 0.1)):
                ax.fill_between(
                    group["horizon"],
                    group[lo],
                    group[hi],
                    color=line.get_color(),
                    alpha=alpha,
                    lw=0,
                )
        if reference is not None:
            ax.axhline(reference, color="black", lw=0.8, ls="-.")
        ax.set_yscale("log")
        ax.set_xlabel("prediction horizon (steps)")
        if name:
            ax.set_title(name, fontsize=9)
        if len(facets) == 1:
            ax.legend(frameon=True, fontsize=7, **LEGEND_OUTSIDE)
        else:  # below each facet, outside the data
            ax.legend(
                frameon=True,
                fontsize=7,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14),
                ncol=2,
            )
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title or "median, 34-66 and 10-90 percentiles over test trajectories")
    return fig
