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
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trajmbrl.control.methods import Settings, make_method
from trajmbrl.control.system import EpisodeLog, System
from trajmbrl.control.tasks import ControlTask
from trajmbrl.errors import ArgumentError
from trajmbrl.utils.schema_check import check_settings, setting
from trajmbrl.utils.seeding import child_seeds

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


def run_control(
    task: ControlTask, method: str, settings: Settings, budget: Budget, seed: int
) -> pd.DataFrame:
    """Run ``method`` on ``task`` for one seed. :returns: one row per round (:data:`COLUMNS`)."""
    system = System(task)
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
            start = time.perf_counter()
    finally:
        system.close()
    return pd.DataFrame(rows, columns=COLUMNS)
