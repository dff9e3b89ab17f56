"""One control run: a method, a seed, rounds of system episodes, a tidy row per round.

Budget (equal for every method): ``random_episodes`` with uniform random theta (the same
episodes for every method of a seed), then ``chosen_episodes`` chosen by the method in
``rounds`` equal rounds. After the random phase and after every round the method refits and
recommends a policy, which is scored on fresh episodes (the same reset seeds for every method
and round: common random numbers): ``eval_episodes`` after the last round, the first
``curve_episodes`` of them after the earlier ones (cheaper learning curves). Evaluation
episodes are not counted as used and never become training data.

Seeds: reset seeds of the random / chosen / evaluation episodes and the model's initial states
come from disjoint ``child_seeds(seed, n, stream)`` streams; the random theta from
``default_rng([seed, 3])``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trajmbrl.control.methods import Settings, make_method
from trajmbrl.control.system import EpisodeLog, System
from trajmbrl.control.tasks import ControlTask
from trajmbrl.errors import ArgumentError
from trajmbrl.utils.format import fmt_number
from trajmbrl.utils.progress import show_progress
from trajmbrl.utils.schema_check import check_settings, setting
from trajmbrl.utils.seeding import child_seeds

log = logging.getLogger(__name__)

COLUMNS = [
    "env",
    "method",
    "model",
    "seed",
    "round",
    "episodes",
    "true_score",
    "true_std",
    "predicted_score",
    "wall_clock",
    "theta",
]


@dataclass(frozen=True)
class Budget:
    """System episodes per phase and the evaluation protocol."""

    random_episodes: int = setting(50, "random system episodes before the first fit", ge=3)
    chosen_episodes: int = setting(
        50, "episodes the method chooses, split evenly over the rounds", ge=2
    )
    rounds: int = setting(5, "refit-and-choose rounds", ge=1)
    eval_episodes: int = setting(20, "fresh episodes scoring the final recommendation", ge=1)
    init_states: int = setting(16, "initial states a candidate is scored on in a model", ge=1)
    curve_episodes: int | None = setting(
        None,
        "evaluation episodes of the intermediate rounds (None = eval_episodes; the last "
        "round always uses eval_episodes)",
        ge=1,
    )

    def __post_init__(self) -> None:
        check_settings(self)
        if self.chosen_episodes < self.rounds * 2:
            raise ArgumentError(
                f"{{Budget.chosen_episodes}} must be >= {self.rounds * 2}, "
                f"got {self.chosen_episodes}"
            )
        if self.chosen_episodes % self.rounds:
            raise ArgumentError(
                f"{{Budget.chosen_episodes}} ({self.chosen_episodes}) must be a "
                f"multiple of {{Budget.rounds}} ({self.rounds})"
            )

    def per_round(self) -> list[int]:
        """Episodes of each round (equal: env_cma runs one generation per round)."""
        return [self.chosen_episodes // self.rounds] * self.rounds

    def total_episodes(self) -> int:
        """Every system episode of a run: random, chosen and the evaluation episodes of each
        of the ``rounds + 1`` recommendations."""
        curve = self.eval_episodes if self.curve_episodes is None else self.curve_episodes
        intermediate = self.rounds * min(curve, self.eval_episodes)
        return self.random_episodes + self.chosen_episodes + intermediate + self.eval_episodes


class RoundProgress:
    """Progress of one control run: a bar over its system episodes with an ETA (only when
    ``progress`` is on, by default on an interactive terminal) and, always, one log line per
    round (score, episodes, elapsed time and the ETA from the rounds so far)."""

    def __init__(self, name: str, budget: Budget, *, progress: bool | None = None) -> None:
        from tqdm import tqdm

        self.name, self.rounds = name, budget.rounds
        self.start = time.perf_counter()
        self.bar: Any = tqdm(
            total=budget.total_episodes(),
            unit="episode",
            desc=name,
            disable=not show_progress(progress),
            leave=False,
            file=sys.stderr,
        )

    def episode(self) -> None:
        """One more system episode."""
        self.bar.update(1)

    def round_done(self, round_: int, row: dict[str, Any]) -> str:
        """Log (and :returns:) the line of round ``round_`` (0 = after the random episodes)."""
        elapsed = time.perf_counter() - self.start
        left = self.rounds - round_
        eta = f", ETA {_duration(elapsed / (round_ + 1) * left)}" if left else ", done"
        predicted = float(row["predicted_score"])  # NaN: the method predicts no score
        said = "" if math.isnan(predicted) else f" (predicted {fmt_number(predicted)})"
        line = (
            f"{self.name}: round {round_}/{self.rounds}, {row['episodes']} episodes, true "
            f"score {fmt_number(row['true_score'])}{said}, {_duration(elapsed)} elapsed{eta}"
        )
        if self.bar.disable:
            log.info("%s", line)
        else:
            self.bar.write(line, file=sys.stderr)  # above the bar
        return line

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s`` or ``1 h 20 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def run_control(
    task: ControlTask,
    method: str,
    settings: Settings,
    budget: Budget,
    seed: int,
    *,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run ``method`` on ``task`` for one seed. :returns: one row per round (:data:`COLUMNS`).

    ``progress``: a bar over the episodes (None: only on an interactive terminal); a line per
    round is logged in any case (:class:`RoundProgress`).
    """
    system = System(task)
    bar = RoundProgress(f"control {method} seed {seed}", budget, progress=progress)
    system.on_episode = bar.episode
    try:
        init_states = system.initial_states(child_seeds(seed, budget.init_states, stream=5))
        m = make_method(method, task, system, settings, seed, init_states)
        eval_seeds = child_seeds(seed, budget.eval_episodes, stream=6)
        chosen_seeds = child_seeds(seed, budget.chosen_episodes, stream=2)
        log, rows, spent = EpisodeLog(), [], 0.0
        start = time.perf_counter()
        theta_rng = np.random.default_rng([seed, 3])
        for s in child_seeds(seed, budget.random_episodes, stream=1):
            system.run(task.to_theta(theta_rng.uniform(size=task.dim)), int(s), log)
        offset = 0
        for round_, n in enumerate([0, *budget.per_round()]):
            if n:
                m.run_round(log, chosen_seeds[offset : offset + n])
                offset += n
            m.update(log, round_)
            spent += time.perf_counter() - start
            last = round_ == budget.rounds
            true, predicted = m.evaluate(eval_seeds[: None if last else budget.curve_episodes])
            theta = None if m.theta is None or task.per_episode else m.theta.tolist()
            rows.append(
                {
                    "env": task.name,
                    "method": method,
                    "model": m.model_key,
                    "seed": seed,
                    "round": round_,
                    "episodes": log.episodes,
                    "true_score": float(true.mean()),
                    "true_std": float(true.std()),
                    "predicted_score": predicted,
                    "wall_clock": round(spent, 3),
                    "theta": json.dumps(theta),
                }
            )
            bar.round_done(round_, rows[-1])
            start = time.perf_counter()
    finally:
        bar.close()
        system.close()
    return pd.DataFrame(rows, columns=COLUMNS)
