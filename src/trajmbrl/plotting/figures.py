"""The paper's figures as functions of tidy metrics frames (PNG and PDF)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from trajmbrl.evaluation.metrics import horizon_summary  # noqa: E402
from trajmbrl.utils.atomic import atomic_path  # noqa: E402

#: the original's plot colours per model key (spec 5.1)
COLORS = {
    "d": "#0033ff", "de": "#3660b5", "p": "#00c414", "pe": "#52b536",
    "t": "#ff0000", "te": "#b53636", "tp": "#dcdc00", "tpe": "#b57f11",
    "lin": "#7f7f7f", "zero": "#000000",
}


def save_figure(fig: plt.Figure, stem: Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<stem>.<fmt>`` for each format, atomically. :returns: the paths."""
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", dpi=150)
        paths.append(path)
    plt.close(fig)
    return paths


def mse_vs_horizon(
    frame: pd.DataFrame,
    stem: Path,
    *,
    title: str = "",
    hue: str = "model",
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Median normalised MSE vs horizon with 34-66 and 10-90 percentile bands, log scale.

    :param frame: tidy rows with columns ``hue``, traj, horizon, metric (``nmse``), value.
    """
    summary = horizon_summary(frame[frame["metric"] == "nmse"], [hue])
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, group in summary.groupby(hue, sort=True):
        color = COLORS.get(str(name))
        ax.plot(group["horizon"], group["median"], label=str(name), color=color, lw=1.6)
        ax.fill_between(group["horizon"], group["p34"], group["p66"], color=color, alpha=0.3,
                        lw=0)
        ax.fill_between(group["horizon"], group["p10"], group["p90"], color=color, alpha=0.12,
                        lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("prediction horizon (steps)")
    ax.set_ylabel("normalised MSE")
    ax.set_title(title or "median, 34-66 and 10-90 percentiles over test trajectories")
    ax.legend(title=hue, frameon=True)
    return save_figure(fig, stem, formats)
