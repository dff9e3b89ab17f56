"""The figures the docs publish (``docs/figures/``) and where the modes draw them.

Every published figure is one PNG that ``mode=plot`` or ``mode=control`` writes under
``outputs/<experiment>/<env>/<data tag>/figures/<stem>.png``; its flat name in ``docs/figures``
is ``<experiment>_<env>_<tag>_<stem>.png``. :func:`publish_figures` rebuilds that directory from
scratch: it copies every published figure found and removes every other PNG there.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

#: figures of a horizon run (mode=plot; the skill figure needs hmean)
HORIZON = ("nmse_vs_horizon", "skill_vs_horizon")
#: figures of the 5.4 grid (mode=plot: one heat-map per score, then the MSE ratios)
EFFICIENCY = (
    "efficiency_mse",
    "efficiency_cosine",
    "efficiency_gaussian",
    "efficiency_mse_ratio_t_over_d",
    "efficiency_mse_ratio_t_over_d_closed_loop",
    "efficiency_mse_ratio_t_over_strongest_baseline",
    "efficiency_mse_ratio_d_closed_loop_over_strongest_baseline",
)
#: (run directory under outputs/, figure stems) of every published run: ``make demo``, the four
#: paper sections, ``make control`` (whose run directory is ``control/<env>/control``) and the
#: leaderboards of ``make benchmark`` (run directory: the system without the dataset suffix)
RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("demo/cartpole/demo_stable", HORIZON),
    ("sec52/cartpole/stable", HORIZON),
    ("sec52/crazyflie/default", HORIZON),
    ("sec52/crazyflie_hw/flights", HORIZON),
    ("sec52/reacher/default", HORIZON),
    ("sec53/cartpole/periodic", HORIZON),
    ("sec53/cartpole/stable", HORIZON),
    ("sec53/cartpole/unstable", HORIZON),
    ("sec54/reacher/default", EFFICIENCY),
    ("sec54_budgets/reacher/default", ("efficiency_budget_sweep",)),
    ("sec55/cartpole/stable", ("reward_prediction", "reward_regret")),
    ("control/cartpole/control", ("learning_curve",)),
    ("control/cartpole_heavy/control", ("learning_curve",)),
    ("control/crazyflie/control", ("learning_curve",)),
    ("control/reacher/control", ("learning_curve",)),
    ("benchmark/cartpole/bench_stable", ("skill_vs_horizon",)),
    ("benchmark/cartpole/bench_unstable", ("skill_vs_horizon",)),
    ("benchmark/cartpole/bench_periodic", ("skill_vs_horizon",)),
    ("benchmark/reacher/bench_default", ("skill_vs_horizon",)),
    ("benchmark/crazyflie/bench_default", ("skill_vs_horizon",)),
    ("benchmark/crazyflie_hw/bench_flights", ("skill_vs_horizon",)),
)


def flat_name(source: PurePosixPath) -> str:
    """``sec52_cartpole_stable_nmse_vs_horizon.png`` for
    ``sec52/cartpole/stable/figures/nmse_vs_horizon.png`` (a path below the outputs root)."""
    experiment, env, tag, _, name = source.parts
    return f"{experiment}_{env}_{tag}_{name}"


def _sources() -> dict[str, PurePosixPath]:
    sources = (
        PurePosixPath(run, "figures", f"{stem}.png") for run, stems in RUNS for stem in stems
    )
    return {flat_name(s): s for s in sources}


#: published name -> its source below the outputs root, sorted by name
SOURCES: dict[str, PurePosixPath] = dict(sorted(_sources().items()))
#: every name :func:`publish_figures` can write into ``docs/figures``
PUBLISHED: tuple[str, ...] = tuple(SOURCES)


def publish_figures(
    root: Path, dest: Path, *, keep_missing: bool = False
) -> tuple[list[str], list[str]]:
    """Rebuild ``dest`` from the figures under the outputs ``root``.

    Copies each published figure that exists, then removes every other ``*.png`` in ``dest``
    (stale names and figures whose source is gone; with ``keep_missing``, a published figure
    whose source is not under ``root`` stays as it was); other files are left alone.

    :returns: (the names written, the names whose source figure is missing under ``root``).
    """
    dest.mkdir(parents=True, exist_ok=True)
    written, missing = [], []
    for name, source in SOURCES.items():
        path = root / source
        if path.is_file():
            shutil.copyfile(path, dest / name)
            written.append(name)
        else:
            missing.append(name)
    keep = set(written) | (set(missing) if keep_missing else set())
    for old in sorted(dest.glob("*.png")):
        if old.name not in keep:
            old.unlink()
    return written, missing
