"""Black-box searches over theta in the unit box: CMA-ES (``cma``) and Bayesian optimisation
(``optuna``), both seeded. The objective is maximised."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.utils.schema_check import check_settings, setting

#: objective(z (P, dp) in [0, 1]) -> (P,) scores to maximise
Objective = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CMASettings:
    """CMA-ES on the unit box: population, generations, initial step size (unit-box units)."""

    popsize: int = setting(16, "candidates per generation", ge=2)
    iterations: int = setting(30, "generations", ge=1)
    sigma: float = setting(0.2, "initial step size (unit-box units)", gt=0, le=1)

    def __post_init__(self) -> None:
        check_settings(self)


def cma_strategy(x0: np.ndarray, sigma: float, popsize: int, seed: int) -> object:
    """A seeded, silent ``cma.CMAEvolutionStrategy`` bounded to [0, 1]^dp."""
    import cma

    opts = {
        "bounds": [0.0, 1.0],
        "popsize": int(popsize),
        "seed": int(seed) % (2**31 - 2) + 1,
        "verbose": -9,
        "verb_log": 0,
        "verb_disp": 0,
        "CMA_stds": None,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cma.CMAEvolutionStrategy(np.clip(x0, 0.0, 1.0).tolist(), float(sigma), opts)


def cma_maximize(
    objective: Objective, x0: np.ndarray, settings: CMASettings, seed: int
) -> tuple[np.ndarray, float]:
    """Maximise a deterministic objective with CMA-ES from ``x0`` (dp,).

    :returns: the best evaluated point (dp,) in the unit box and its objective value.
    """
    es = cma_strategy(x0, settings.sigma, settings.popsize, seed)
    best_z, best_f = np.asarray(x0, dtype=np.float64), -np.inf
    for _ in range(settings.iterations):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z = np.asarray(es.ask(), dtype=np.float64)  # type: ignore[attr-defined]
        f = np.asarray(objective(z), dtype=np.float64)
        f = np.where(np.isfinite(f), f, -np.inf)
        k = int(np.argmax(f))
        if f[k] > best_f:
            best_z, best_f = z[k].copy(), float(f[k])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es.tell(list(z), list(np.where(np.isfinite(f), -f, 1e12)))  # type: ignore[attr-defined]
    return best_z, best_f


class BayesOpt:
    """Sequential Bayesian optimisation over the unit box with optuna (GP or TPE sampler).

    ``add(z, value)`` records an evaluated point (e.g. the random episodes), ``ask()`` proposes
    the next point, ``tell(value)`` records its result.
    """

    def __init__(self, dim: int, seed: int, sampler: str = "gp") -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smp: optuna.samplers.BaseSampler
            if sampler == "gp":
                smp = optuna.samplers.GPSampler(seed=int(seed))
            elif sampler == "tpe":
                smp = optuna.samplers.TPESampler(seed=int(seed))
            else:
                raise ArgumentError(f"{{BayesOpt.sampler}} must be gp or tpe, got {sampler!r}")
        self._optuna = optuna
        self.names = [f"z{i}" for i in range(dim)]
        self.dists: dict[str, optuna.distributions.BaseDistribution] = {
            n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in self.names
        }
        self.study = optuna.create_study(direction="maximize", sampler=smp)
        self._trial: optuna.trial.Trial | None = None

    def add(self, z: np.ndarray, value: float) -> None:
        params = {n: float(v) for n, v in zip(self.names, np.clip(z, 0.0, 1.0))}
        self.study.add_trial(
            self._optuna.trial.create_trial(
                params=params, distributions=self.dists, value=float(value)
            )
        )

    def ask(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.dists)
        self._trial = trial
        return np.array([trial.params[n] for n in self.names])

    def tell(self, value: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self._trial is None:
                raise TrajmbrlError("tell() without a pending ask()")
            self.study.tell(self._trial, float(value))
        self._trial = None

    def best(self) -> np.ndarray:
        """The best recorded point (dp,)."""
        return np.array([self.study.best_trial.params[n] for n in self.names])
