"""Section 5.5 figure: predicted vs true returns of the test trajectories (PNG and PDF)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from trajmbrl.errors import TrajmbrlError
from trajmbrl.plotting.figures import COLORS, save_figure

#: labels and colours of the direct baselines (model keys use plotting.figures.COLORS)
LABELS = {"gp": "Gaussian process", "nn": "direct NN"}
EXTRA_COLORS = {"gp": "#8c564b", "nn": "#9467bd"}
_CYCLE = ("#17becf", "#e377c2", "#bcbd22", "#ff7f0e", "#2ca02c")
_MARKERS = ("o", "*", "+", "d", "s", "x", "^", "v")
_REQUIRED = ("traj", "method", "true_return", "predicted_return")


def _color(method: str, i: int) -> str:
    return COLORS.get(method) or EXTRA_COLORS.get(method) or _CYCLE[i % len(_CYCLE)]


def reward_figure(
    frame: pd.DataFrame, stem: Path, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Left: returns against the rank of the true return (true = black line, methods = markers).
    Right: predicted vs true with the diagonal. Diverged predictions (the ``diverged`` column
    when present: the horizon tables' rule; else non-finite) are counted in the legend; non-finite
    ones are not drawn; finite predictions far outside the true range are drawn at the axis edge
    and counted as off-axis.

    :param frame: tidy rows ``traj, method, true_return, predicted_return`` (one per method and
        trajectory), e.g. :func:`trajmbrl.evaluation.reward_tables.reward_frame`.
    :returns: the written paths, ``<stem>.<fmt>``.
    """
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise TrajmbrlError(f"reward frame lacks columns {missing}")
    if frame.empty:
        raise TrajmbrlError("reward frame is empty; nothing to plot")
    truth = frame.drop_duplicates("traj").set_index("traj")["true_return"].sort_values()
    rank = pd.Series(np.arange(len(truth)), index=truth.index)
    lo, hi = float(truth.min()), float(truth.max())
    pad = 0.5 * (hi - lo) if hi > lo else max(1.0, abs(lo))
    ylim = (lo - pad, hi + pad)

    fig = Figure(figsize=(11, 4.2))
    ax_rank, ax_sc = fig.subplots(1, 2)
    ax_rank.plot(
        rank.to_numpy(), truth.to_numpy(), color="black", lw=1.6, label="true return", zorder=3
    )
    methods = list(dict.fromkeys(frame["method"]))
    for i, method in enumerate(methods):
        g = frame[frame["method"] == method]
        pred = g["predicted_return"].to_numpy(dtype=np.float64)
        ok = np.isfinite(pred)
        n_div = int(g["diverged"].sum()) if "diverged" in g else int((~ok).sum())
        n_off = int(((pred[ok] < ylim[0]) | (pred[ok] > ylim[1])).sum())
        notes = [f"{n_div} diverged"] * bool(n_div) + [f"{n_off} off-axis"] * bool(n_off)
        label = LABELS.get(method, method) + (f" ({', '.join(notes)})" if notes else "")
        marker, color = _MARKERS[i % len(_MARKERS)], _color(method, i)
        clipped = np.clip(pred[ok], *ylim)
        x = rank.loc[g["traj"].to_numpy()[ok]].to_numpy()
        ax_rank.scatter(x, clipped, s=18, marker=marker, color=color, label=label, alpha=0.8)
        ax_sc.scatter(
            g["true_return"].to_numpy()[ok],
            clipped,
            s=18,
            marker=marker,
            color=color,
            label=label,
            alpha=0.8,
        )
    ax_rank.set_ylim(*ylim)
    ax_rank.set_xlabel("test trajectory, sorted by true return")
    ax_rank.set_ylabel("cumulative episode reward")
    ax_rank.legend(frameon=True, fontsize=8)
    ax_sc.plot([lo, hi], [lo, hi], color="black", lw=1.0, ls="--", label="y = x")
    ax_sc.set_xlim(lo - 0.05 * (hi - lo + pad), hi + 0.05 * (hi - lo + pad))
    ax_sc.set_ylim(*ylim)
    ax_sc.set_xlabel("true return")
    ax_sc.set_ylabel("predicted return")
    for ax in (ax_rank, ax_sc):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, Path(stem), formats)


def regret_figure(
    table: pd.DataFrame, stem: Path, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """5.5 from a common start, per method: regret@1 (left) and within-start Spearman (right),
    the median over model seeds with the min-max range as an error bar.

    :param table: :func:`trajmbrl.evaluation.reward_ranking.ranking_table` output
    """
    need = ["method", "regret_1", "regret_1_min", "regret_1_max", "spearman"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise TrajmbrlError(f"common-start ranking table lacks columns {missing}")
    methods = [str(m) for m in table["method"]]
    y = np.arange(len(methods))
    colors = [_color(m, i) for i, m in enumerate(methods)]
    fig = Figure(figsize=(9, 0.45 * len(methods) + 1.8))
    left, right = fig.subplots(1, 2, sharey=True)
    reg = table["regret_1"].to_numpy(float)
    err = np.stack([reg - table["regret_1_min"], table["regret_1_max"] - reg])
    left.barh(y, reg, xerr=err, color=colors, capsize=3)
    left.set_yticks(y, methods)
    left.invert_yaxis()
    left.set_xlabel("regret@1 (true best return - return of the pick; lower is better)")
    rho = table["spearman"].to_numpy(float)
    lo = table.get("spearman_min", table["spearman"]).to_numpy(float)
    hi = table.get("spearman_max", table["spearman"]).to_numpy(float)
    right.barh(
        y,
        np.nan_to_num(rho),
        xerr=np.nan_to_num(np.stack([rho - lo, hi - rho])),
        color=colors,
        capsize=3,
    )
    for i in np.flatnonzero(~np.isfinite(rho)):
        right.text(0.0, i, " undefined (constant within a start)", va="center", fontsize=7)
    right.axvline(0.0, color="grey", lw=0.8)
    right.set_xlabel("within-start Spearman (higher is better)")
    fig.suptitle("Which controller is best from this initial state? (median, range over seeds)")
    fig.tight_layout()
    return save_figure(fig, stem, formats)
