"""Data-efficiency heat-maps (paper section 5.4) from :func:`aggregate_grid` output.

One figure per score: a panel per model (side by side, one shared colour normalisation and one
colorbar), x = training trajectory length (``t_range``), y = number of training trajectories
(``num_traj``). Plus a "winner" summary: the ratio of two models' MSE per cell on a log,
diverging colour scale centred at 1. When only one grid axis varies, line plots replace the maps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.efficiency import MSE_CAP, SCORES
from trajmbrl.plotting.figures import COLORS, LEGEND_OUTSIDE, save_figure

#: annotate cell values when the grid has at most this many rows and columns
ANNOTATE_MAX = 12
#: smallest MSE drawn on the log colour scale (a perfect prediction would be log(0))
MSE_FLOOR = 1e-12

X_LABEL = "training trajectory length (t_range)"
Y_LABEL = "# training trajectories (num_traj)"
AXIS_LABELS = {"t_range": X_LABEL, "num_traj": Y_LABEL}


def _label(metric: str, units: str) -> str:
    """Colorbar / axis label of one score."""
    return {
        "mse": f"MSE ({units} units, cap {MSE_CAP:g}; lower is better)",
        "cosine": "cosine similarity (higher is better)",
        "gaussian": "mean exp(-(5 err)$^2$) (higher is better)",
    }.get(metric, metric)


def _matrix(agg: pd.DataFrame, ns: list[int], ts: list[int], column: str = "value") -> np.ndarray:
    """Cell values of one model and score. :returns: (len(ns), len(ts)), NaN where missing."""
    table = agg.pivot_table(index="num_traj", columns="t_range", values=column, aggfunc="first")
    return table.reindex(index=ns, columns=ts).to_numpy(dtype=float)


def _norm(values: np.ndarray, log: bool) -> Normalize:
    """One colour normalisation for all panels of a figure (log for MSE)."""
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if finite.size == 0:
        return LogNorm(1e-3, 1.0) if log else Normalize(0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if log:
        lo = max(lo, MSE_FLOOR)
        if hi <= lo * 1.0001:
            lo, hi = lo / 2, hi * 2
        return LogNorm(lo, hi)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    return Normalize(lo, hi)


def _fmt(v: float) -> str:
    """Compact cell text: ``0.42``, ``12``, ``6.5e-4``."""
    if v == 0 or 0.01 <= abs(v) < 1000:
        return f"{v:.2g}"
    mant, exp = f"{v:.1e}".split("e")
    return f"{mant.removesuffix('.0')}e{int(exp)}"


def _annotate(ax: Axes, m: np.ndarray, norm: Normalize, *, diverging: bool = False) -> None:
    """Write each finite cell value; light text on dark cells."""
    for i, j in zip(*np.nonzero(np.isfinite(m))):
        v = m[i, j]
        level = float(np.clip(norm(v), 0.0, 1.0))
        dark = abs(level - 0.5) > 0.3 if diverging else level < 0.55
        ax.text(
            j,
            i,
            _fmt(v),
            ha="center",
            va="center",
            fontsize=6.5,
            color="white" if dark else "black",
        )


def _heatmap_axes(
    ax: Axes, ns: list[int], ts: list[int], title: str, *, ylabel: bool = True
) -> None:
    """Ticks at the actual grid values, axis labels and title."""
    ax.set_xticks(range(len(ts)), [str(t) for t in ts])
    ax.set_yticks(range(len(ns)), [str(n) for n in ns])
    ax.set_xlabel(X_LABEL)
    if ylabel:
        ax.set_ylabel(Y_LABEL)
    ax.set_title(title)
    ax.grid(False)


def _score_heatmap(
    agg: pd.DataFrame,
    metric: str,
    models: list[str],
    ns: list[int],
    ts: list[int],
    stem: Path,
    units: str,
    formats: Sequence[str],
) -> list[Path]:
    """Side-by-side panels per model sharing one normalisation and one colorbar."""
    mats = [_matrix(agg[agg["model"] == m], ns, ts) for m in models]
    log = metric == "mse"
    if log:
        mats = [np.clip(m, MSE_FLOOR, MSE_CAP) for m in mats]
    norm = _norm(np.stack(mats), log)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="lightgrey")
    k = len(models)
    width = max(0.6 * len(ts), 2.8)
    fig = Figure(figsize=(width * k + 2.5, 0.4 * len(ns) + 2.2))
    axes = fig.subplots(1, k, squeeze=False)
    images = []
    for i, (ax, model, m) in enumerate(zip(axes[0], models, mats)):
        images.append(ax.imshow(m, origin="lower", cmap=cmap, norm=norm, aspect="auto"))
        _heatmap_axes(ax, ns, ts, f"model {model}", ylabel=i == 0)
        if len(ns) <= ANNOTATE_MAX and len(ts) <= ANNOTATE_MAX:
            _annotate(ax, m, norm)
    fig.colorbar(images[-1], ax=list(axes[0]), label=_label(metric, units), shrink=0.9)
    fig.suptitle(
        f"Data efficiency: {metric}\n(mean over test trajectories, median over copies)", y=1.07
    )
    return save_figure(fig, stem, formats)


def _ratio_heatmap(
    agg: pd.DataFrame,
    pair: tuple[str, str],
    ns: list[int],
    ts: list[int],
    stem: Path,
    formats: Sequence[str],
) -> list[Path]:
    """MSE ratio ``pair[0] / pair[1]`` per cell, log scale, diverging colours centred at 1."""
    num, den = (np.clip(_matrix(agg[agg["model"] == m], ns, ts), MSE_FLOOR, MSE_CAP) for m in pair)
    ratio = num / den
    logs = np.abs(np.log10(ratio[np.isfinite(ratio)]))
    span = 10 ** max(float(logs.max()) if logs.size else 0.0, 0.05)
    norm = LogNorm(1 / span, span)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="lightgrey")
    fig = Figure(figsize=(max(0.6 * len(ts), 2.8) + 3.2, 0.4 * len(ns) + 2.2))
    ax = fig.subplots()
    image = ax.imshow(ratio, origin="lower", cmap=cmap, norm=norm, aspect="auto")
    _heatmap_axes(ax, ns, ts, f"MSE ratio {pair[0]} / {pair[1]} (< 1: {pair[0]} better)")
    if len(ns) <= ANNOTATE_MAX and len(ts) <= ANNOTATE_MAX:
        _annotate(ax, ratio, norm, diverging=True)
    fig.colorbar(image, ax=ax, label=f"MSE {pair[0]} / MSE {pair[1]} (log scale)")
    return save_figure(fig, stem, formats)


def _score_lines(
    agg: pd.DataFrame,
    metric: str,
    models: list[str],
    axis: str,
    fixed: str,
    stem: Path,
    units: str,
    formats: Sequence[str],
) -> list[Path]:
    """Score vs the one varying grid axis: median over copies with the IQR band, per model."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    xs: set[int] = set()
    for model in models:
        g = agg[agg["model"] == model].sort_values(axis)
        y, lo, hi = (g[c].to_numpy(dtype=float) for c in ("value", "q25", "q75"))
        if metric == "mse":
            y, lo, hi = (np.clip(a, MSE_FLOOR, MSE_CAP) for a in (y, lo, hi))
        color = COLORS.get(model)
        ax.plot(g[axis], y, marker="o", color=color, label=model)
        ax.fill_between(g[axis], lo, hi, color=color, alpha=0.2, lw=0)
        xs.update(int(v) for v in g[axis])
    if metric == "mse":
        ax.set_yscale("log")
    ax.set_xticks(sorted(xs))
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel(_label(metric, units))
    ax.set_title(f"Data efficiency: {metric} ({fixed}); median and IQR over copies")
    ax.legend(title="model", **LEGEND_OUTSIDE)  # right of the data
    return save_figure(fig, stem, formats)


def _ratio_lines(
    agg: pd.DataFrame,
    pair: tuple[str, str],
    axis: str,
    fixed: str,
    stem: Path,
    formats: Sequence[str],
) -> list[Path]:
    """MSE ratio ``pair[0] / pair[1]`` vs the varying axis, log scale, reference line at 1."""
    vals = [agg[agg["model"] == m].set_index(axis)["value"].clip(MSE_FLOOR, MSE_CAP) for m in pair]
    ratio = (vals[0] / vals[1]).dropna().sort_index()
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    ax.plot(ratio.index, ratio.to_numpy(), marker="o", color="black")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(list(ratio.index))
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel(f"MSE {pair[0]} / MSE {pair[1]} (< 1: {pair[0]} better)")
    ax.set_title(f"MSE ratio ({fixed})")
    return save_figure(fig, stem, formats)


def efficiency_heatmaps(
    agg: pd.DataFrame,
    out_dir: Path,
    formats: Sequence[str] = ("png", "pdf"),
    *,
    ratios: Sequence[tuple[str, str]] = (("t", "d"), ("t", "d (closed loop)")),
    units: str = "raw",
    reference_rows: Sequence[str] = (),
) -> list[Path]:
    """Draw the section-5.4 figures into ``out_dir``; one file per figure and format.

    Files: ``efficiency_<score>`` per score present (``mse`` on a log colour scale) and, for
    each pair of ``ratios`` whose models both have MSE rows, ``efficiency_mse_ratio_<a>_over_<b>``
    (``d (closed loop)`` is spelled ``d_closed_loop`` in file names). Heat-maps when
    both grid axes vary, line plots (median, IQR band) when only one does.

    :param agg: :func:`trajmbrl.evaluation.efficiency.aggregate_grid` output (columns model,
        num_traj, t_range, metric, value, q25, q75)
    :param units: how the scores were computed (``raw`` or ``normalised``), for the MSE label
    :param reference_rows: rows of ``agg`` drawn only as ratio denominators (e.g. the per-cell
        strongest baseline), not as score panels
    :returns: the written paths
    """
    need = ["model", "num_traj", "t_range", "metric", "value", "q25", "q75"]
    missing = [c for c in need if c not in agg.columns]
    if missing:
        raise TrajmbrlError(f"aggregated efficiency frame lacks columns {missing}")
    if agg.empty:
        raise TrajmbrlError("aggregated efficiency frame is empty: nothing to plot")
    out_dir = Path(out_dir)
    present = list(agg["metric"].unique())
    metrics = [m for m in SCORES if m in present] + sorted(m for m in present if m not in SCORES)
    ns = sorted(int(v) for v in agg["num_traj"].unique())
    ts = sorted(int(v) for v in agg["t_range"].unique())
    grid = len(ns) > 1 and len(ts) > 1
    axis = "t_range" if len(ts) > 1 else "num_traj"
    fixed = f"num_traj={ns[0]}" if axis == "t_range" else f"t_range={ts[0]}"
    paths: list[Path] = []
    with matplotlib.rc_context({"axes.grid": False, "font.size": 9}):
        for metric in metrics:
            sub = agg[(agg["metric"] == metric) & ~agg["model"].isin(list(reference_rows))]
            models = sorted(str(m) for m in sub["model"].unique())
            stem = out_dir / f"efficiency_{metric}"
            if grid:
                paths += _score_heatmap(sub, metric, models, ns, ts, stem, units, formats)
            else:
                paths += _score_lines(sub, metric, models, axis, fixed, stem, units, formats)
        mse = agg[agg["metric"] == "mse"]
        for ratio in ratios:
            if not all((mse["model"] == m).any() for m in ratio):
                continue
            slug = "_over_".join(re.sub(r"\W+", "_", m).strip("_") for m in ratio)
            stem = out_dir / f"efficiency_mse_ratio_{slug}"
            if grid:
                paths += _ratio_heatmap(mse, ratio, ns, ts, stem, formats)
            else:
                paths += _ratio_lines(mse, ratio, axis, fixed, stem, formats)
    return paths


def budget_figure(
    sweep: pd.DataFrame, stem: Path, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """The 5.4 budget sweep: per family row, the median MSE over cells (left) and the share
    of cells where it beats the cell's strongest baseline (right) against the step budget.

    :param sweep: :func:`trajmbrl.reports.efficiency.budget_sweep` output
    """
    need = ["steps", "row", "median_mse", "share_beats_strongest"]
    missing = [c for c in need if c not in sweep.columns]
    if missing or sweep.empty:
        raise TrajmbrlError(f"budget sweep table lacks columns {missing} or is empty")
    fig = Figure(figsize=(9, 3.6))
    left, right = fig.subplots(1, 2)
    for i, (row, g) in enumerate(sweep.groupby("row", sort=True)):
        g = g.sort_values("steps")
        color = COLORS.get(str(row)) or f"C{i}"
        left.plot(g["steps"], g["median_mse"].clip(MSE_FLOOR, MSE_CAP), "o-", color=color)
        right.plot(g["steps"], g["share_beats_strongest"], "o-", color=color, label=row)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("gradient steps per cell")
    left.set_yscale("log")
    left.set_ylabel("median MSE over cells (capped)")
    right.set_ylabel("share of cells < strongest baseline")
    right.set_ylim(-0.02, 1.02)
    right.legend(title="row", loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("5.4: how the verdict moves with the step budget")
    fig.tight_layout()
    return save_figure(fig, stem, formats)
