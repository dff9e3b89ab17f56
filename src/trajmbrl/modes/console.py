"""What the modes tell the user: the command that repeats a run's selection, printed reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

#: Overrides a suggested command never repeats (it sets the mode; overwrite would change what
#: the command does; hydra.* belongs to the launch, not to the run).
NOT_REPEATED = ("mode", "overwrite", "hydra")


def command(cfg: DictConfig, mode: str, *extra: str, multirun: bool = False) -> str:
    """The trajmbrl command that runs ``mode`` on this run's dataset, variant and seed.

    Inside a Hydra run it repeats the user's own overrides (``logs.*``, ``data.*``, ``seed``,
    ``train.num_traj``, ``experiment``, ``scale``, ``paths.root``, ...); ``extra`` (e.g.
    ``models=t``) replaces the user's value of the same key.
    """
    typed = user_overrides()
    if typed is None:  # called outside a Hydra run: rebuild the selection from the config
        typed = _selection(cfg)
    words = [f"mode={mode}", f"envs={cfg.env.name}", *extra]
    return reproduce(typed, words, multirun=multirun)


def reproduce(typed: list[str], words: list[str], *, multirun: bool = False) -> str:
    """``trajmbrl [-m] <words> <typed>``, shell-quoted: the user's overrides ``typed`` minus
    :data:`NOT_REPEATED` and the keys ``words`` set (with their sub-keys: ``models.t.*`` goes
    when ``words`` select other models)."""
    import shlex

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    dropped = (*NOT_REPEATED, *(key(w) for w in words))
    kept = [
        o
        for o in typed
        if not any(key(o) == d or key(o).startswith((f"{d}.", f"{d}/")) for d in dropped)
    ]
    order = [*words[:2], *kept, *words[2:]]  # mode, envs, the user's overrides, the extras
    return " ".join(["trajmbrl", *(["-m"] if multirun else []), *map(shlex.quote, order)])


def user_overrides() -> list[str] | None:
    """The overrides of this Hydra job (the command line, one sweep value each), or None."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return [str(o) for o in HydraConfig.get().overrides.task]


def _selection(cfg: DictConfig) -> list[str]:
    """Overrides that select this run's data, variant and seed, read back from ``cfg``."""
    parts = []
    if cfg.experiment_name != "default":
        parts.append(f"experiment={cfg.experiment_name}")
    if cfg.get("scale_name"):
        parts.append(f"scale={cfg.scale_name}")
    if "data_mode" in cfg.env and cfg.env.data_mode != "stable":
        parts.append(f"env.data_mode={cfg.env.data_mode}")
    values = {
        "seed": cfg.seed,
        "data.seed": cfg.data.seed,
        "train.num_traj": cfg.train.num_traj,
        "train.t_range": cfg.train.t_range,
    }
    parts += [f"{k}={v}" for k, v in values.items() if v not in (None, 0)]
    return parts


def collect_command(cfg: DictConfig) -> str:
    """The command that creates the dataset this run needs."""
    return command(cfg, "collect")


def reward_outputs(cfg: DictConfig, frame: Any, run_dir: Path) -> None:
    """5.5 table and sorted-returns figure from the per-trajectory ``frame``; printed."""
    from trajmbrl.plotting.reward import reward_figure
    from trajmbrl.reports.reward import reward_accuracy
    from trajmbrl.reports.tables import fmt_value
    from trajmbrl.utils.atomic import atomic_write_text
    from trajmbrl.utils.format import fmt_number

    table = reward_accuracy(frame)
    atomic_write_text(run_dir / "tables" / "reward.csv", table.to_csv(index=False))
    paths = reward_figure(frame, run_dir / "figures" / "reward_prediction", list(cfg.plot.formats))
    print(
        f"\nPredicted returns of {frame['traj'].nunique()} held-out controllers ({cfg.env.name}):"
    )
    shown = table.assign(**{c: table[c].map(fmt_value) for c in ("mse", "median_se", "mae")})
    print(shown.to_string(index=False, float_format=fmt_number))
    print("\nFigure: " + ", ".join(str(p) for p in paths))


def common_start_outputs(cfg: DictConfig, frame: Any, run_dir: Path) -> None:
    """5.5 from a common start: the within-start ranking table (``tables/
    reward_common_start.csv``) and its figure from the per-trajectory ``frame``; printed."""
    from trajmbrl.evaluation.reward_ranking import ranking_table
    from trajmbrl.plotting.reward import regret_figure
    from trajmbrl.utils.atomic import atomic_write_text

    table = ranking_table(frame)
    atomic_write_text(run_dir / "tables" / "reward_common_start.csv", table.to_csv(index=False))
    paths = regret_figure(table, run_dir / "figures" / "reward_regret", list(cfg.plot.formats))
    print(
        f"\nRanking {int(table['controllers'].min())} controllers from each of "
        f"{int(table['starts'].max())} common test starts ({cfg.env.name}); mean over starts, "
        f"median over {int(table['seeds'].max())} model seeds:"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("\nFigure: " + ", ".join(str(p) for p in paths))
