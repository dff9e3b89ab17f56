"""The control methods. Each spends a round's system episodes (``run_round``), refits on all
episodes so far (``update``) and recommends a policy that ``evaluate`` runs on fresh episodes.

Model-based searches (``model_cma``, ``model_cma_onestep``, ``model_gp``) maximise a predicted
score with CMA-ES from the best theta seen on the system; on per-episode tasks (reacher) they
search again for every episode's initial state. Model-free ones (``env_cma``, ``env_bo``,
``random``) spend episodes on candidate theta directly; ``reference`` runs the hand-designed
theta; ``mpc_pets`` plans actions every step (:mod:`trajmbrl.control.mpc`). ``mpc_true`` and
``model_cma_true`` are the ceilings: the same planner and search with the true system's step as
their model (:mod:`trajmbrl.control.truth`); they spend system episodes like the others, but
their choices never depend on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trajmbrl.configs import model_config
from trajmbrl.control.fit import ModelRecipe, fit_model, key_like
from trajmbrl.control.mpc import CEMPlanner, CEMSettings, run_mpc_episodes
from trajmbrl.control.scorers import gp_scores, onestep_scores, trajectory_scores
from trajmbrl.control.search import BayesOpt, CMASettings, cma_maximize, cma_strategy
from trajmbrl.control.system import EpisodeLog, System
from trajmbrl.control.tasks import ControlTask
from trajmbrl.control.truth import simulator_rollout, true_scores
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.utils.schema_check import check_settings, setting

METHODS = (
    "model_cma",
    "model_cma_onestep",
    "model_gp",
    "env_cma",
    "env_bo",
    "random",
    "reference",
    "mpc_pets",
    "mpc_true",
    "model_cma_true",
)
#: ceilings: the same planner / search on the true system's step instead of a learned model
TRUE_MODEL = ("mpc_true", "model_cma_true")
#: per-episode tasks: random search answers a new episode from this many nearest spent ones
NEIGHBOURS = 5
#: model family each model-based method needs (its model is the recipe's key or counterpart)
NEEDS_MODEL = {"model_cma": "trajectory", "model_cma_onestep": "one_step", "mpc_pets": "one_step"}


def method_model_key(method: str, selected: str) -> str | None:
    """The model key ``method`` trains given the ``models=`` choice: the choice itself when it
    is of the family the method needs (``models=dke`` plans ``model_cma_onestep`` in the
    5-step-loss ensemble), else its counterpart: ``model_cma`` the trajectory key (``de`` ->
    ``te``), ``model_cma_onestep`` the one-step key (``te`` -> ``de``), ``mpc_pets`` the
    probabilistic one-step key (``te`` -> ``pe``)."""
    if method not in NEEDS_MODEL:
        return None
    chosen = model_config(selected)
    probabilistic = True if method == "mpc_pets" else None
    if chosen["family"] == NEEDS_MODEL[method] and probabilistic in (None, chosen["probabilistic"]):
        return selected
    return key_like(selected, family=NEEDS_MODEL[method], probabilistic=probabilistic)


@dataclass(frozen=True)
class Settings:
    """Everything a method needs besides the task (plain values; see conf/control)."""

    cma: CMASettings = CMASettings()
    mpc: CEMSettings = CEMSettings()
    recipe: ModelRecipe | None = None
    kappa: float = setting(
        0.0, "pessimism with ensembles: score = mean - kappa * std over members", ge=0
    )
    explore_std: float = setting(
        0.05, "exploration noise (unit box) on all but the first episode of a round", ge=0
    )
    replan_every: int | None = setting(
        None, "per-episode tasks (reacher): re-plan theta every k steps (None = never)", ge=1
    )
    bo_sampler: Literal["gp", "tpe"] = setting("gp", "env_bo: Optuna sampler")

    def __post_init__(self) -> None:
        check_settings(self)


class Method:
    """Base: a fixed theta policy (subclasses set ``theta`` and ``predicted``)."""

    model_key = ""

    def __init__(
        self,
        task: ControlTask,
        system: System,
        settings: Settings,
        seed: int,
        init_states: np.ndarray,
    ) -> None:
        self.task, self.system, self.cfg, self.seed = task, system, settings, seed
        self.s0 = init_states  # (S, ds) initial states a candidate is scored on in a model
        self.rng = np.random.default_rng([seed, 4])
        self.theta: np.ndarray | None = None
        self.predicted = float("nan")

    def recommended(self) -> np.ndarray:
        """The current recommendation (dp,); set by :meth:`update` before the first round."""
        if self.theta is None:
            raise TrajmbrlError(f"{type(self).__name__}: no recommendation before update()")
        return self.theta

    def update(self, log: EpisodeLog, round_: int) -> None:
        """Refit on every episode so far; default: recommend the best episode's theta."""
        self.theta = log.thetas[int(np.nanargmax(log.scores))]

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        """Spend one system episode per seed (default: the recommendation)."""
        for s in seeds:
            self.system.run(self.recommended(), int(s), log)

    def evaluate(self, seeds: np.ndarray) -> tuple[np.ndarray, float]:
        """True scores (N,) of the recommendation on fresh episodes, and its predicted score."""
        return np.array(
            [self.system.run(self.recommended(), int(s)) for s in seeds]
        ), self.predicted


class RandomSearch(Method):
    """Uniform random theta; recommends the best episode seen. On per-episode tasks (reacher:
    theta holds a set-point for the episode's goal) the best theta of one goal is no answer for
    another, so each new episode gets the best theta among the :data:`NEIGHBOURS` spent episodes
    whose initial states (goal included) are nearest to its own."""

    def update(self, log: EpisodeLog, round_: int) -> None:
        super().update(log, round_)
        self.log = log

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        for s in seeds:
            self.system.run(self.task.to_theta(self.rng.uniform(size=self.task.dim)), int(s), log)

    def evaluate(self, seeds: np.ndarray) -> tuple[np.ndarray, float]:
        if not self.task.per_episode or len(self.log.states) != len(self.log.scores):
            return super().evaluate(seeds)
        starts = np.stack([st[0] for st in self.log.states])  # (n, ds) spent episodes' s_0
        scale = starts.std(axis=0) + 1e-12
        scores = np.asarray(self.log.scores)
        thetas = np.stack(self.log.thetas)

        def choose(state: np.ndarray, steps: int) -> np.ndarray:
            near = np.argsort((((starts - state) / scale) ** 2).sum(axis=1))[:NEIGHBOURS]
            return thetas[near[int(np.argmax(scores[near]))]]

        true = [self.system.run_planned(choose, int(s)) for s in seeds]
        return np.asarray(true), float("nan")


class Reference(Method):
    """The hand-designed theta, every episode."""

    def update(self, log: EpisodeLog, round_: int) -> None:
        if self.task.reference is None:
            raise ArgumentError(
                f"{{make_method.name}}=reference: the {self.task.name} task has no "
                "hand-designed controller"
            )
        self.theta = self.task.reference


class EnvCMA(Method):
    """CMA-ES on the system: one generation per round (population = the round's episodes),
    started at the best random theta; recommends the distribution mean."""

    es: object | None = None

    def update(self, log: EpisodeLog, round_: int) -> None:
        if self.es is None:
            super().update(log, round_)
            return
        self.theta = self.task.to_theta(np.asarray(self.es.result.xfavorite))  # type: ignore

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        if self.es is None:
            x0 = self.task.to_unit(self.recommended())
            self.es = cma_strategy(x0, self.cfg.cma.sigma, len(seeds), self.seed)
        z = np.asarray(self.es.ask(), dtype=np.float64)  # type: ignore[attr-defined]
        f = [self.system.run(self.task.to_theta(zi), int(s), log) for zi, s in zip(z, seeds)]
        self.es.tell(list(z), [-v for v in f])  # type: ignore[attr-defined]


class EnvBO(Method):
    """Bayesian optimisation on the system (optuna), seeded with the random episodes;
    recommends the best episode seen."""

    bo: BayesOpt | None = None

    def update(self, log: EpisodeLog, round_: int) -> None:
        if self.bo is None:
            self.bo = BayesOpt(self.task.dim, self.seed, self.cfg.bo_sampler)
            for th, sc in zip(log.thetas, log.scores):
                self.bo.add(self.task.to_unit(th), sc)
        self.theta = self.task.to_theta(self.bo.best())

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        assert self.bo is not None
        for s in seeds:
            z = self.bo.ask()
            self.bo.tell(self.system.run(self.task.to_theta(z), int(s), log))


class ModelSearch(Method):
    """CMA-ES over theta on a learned score model (trajectory, closed-loop one-step or GP)."""

    def __init__(self, kind: str, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.kind = kind
        self.objective: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None
        if kind in ("gp", "true"):
            self.model_key = "oracle" if kind == "true" else kind  # ("true" reads back as a bool)
        else:
            self.recipe = _recipe(self.cfg, kind)
            self.model_key = self.recipe.key

    def update(self, log: EpisodeLog, round_: int) -> None:
        seed = self.seed * 1000 + round_
        if self.kind == "gp":
            from trajmbrl.evaluation.regressors import fit_gp  # sklearn, only when used

            x = np.concatenate([np.stack([s[0] for s in log.states]), np.stack(log.params)], 1)
            seg_scores = [self.system.score(s) for s in log.states]
            gp = fit_gp(x, np.asarray(seg_scores), seed)
            self.objective = lambda th, s0, h: gp_scores(gp, th, s0)
        elif self.kind == "true":
            self.objective = lambda th, s0, h: true_scores(self.task, th, s0, h)
        elif self.kind == "trajectory":
            model = fit_model(self.recipe, log.to_data(), seed)
            kappa = self.cfg.kappa
            self.objective = lambda th, s0, h: trajectory_scores(model, self.task, th, s0, h, kappa)
        else:
            model = fit_model(self.recipe, log.to_data(), seed)
            kappa = self.cfg.kappa
            self.objective = lambda th, s0, h: onestep_scores(model, self.task, th, s0, h, kappa)
        self.best_seen = self.task.to_unit(log.thetas[int(np.nanargmax(log.scores))])
        if not self.task.per_episode:
            self.theta, self.predicted = self.plan(self.s0, self.task.horizon)

    def plan(self, s0: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
        """Best theta (dp,) for initial states s0 (S, ds) over ``steps``, and its prediction."""
        assert self.objective is not None
        obj = self.objective
        z, f = cma_maximize(
            lambda z: obj(self.task.to_theta(z), s0, steps),
            self.best_seen,
            self.cfg.cma,
            int(self.rng.integers(2**31 - 1)),
        )
        return self.task.to_theta(z), f

    def _chooser(self, explore: bool) -> Callable[[np.ndarray, int], np.ndarray]:
        def choose(state: np.ndarray, steps: int) -> np.ndarray:
            theta = (
                self.theta
                if self.theta is not None and not self.task.per_episode
                else self.plan(state[None, :], steps)[0]
            )
            if explore:
                noise = self.rng.normal(0.0, self.cfg.explore_std, self.task.dim)
                theta = self.task.to_theta(self.task.to_unit(theta) + noise)
            return theta

        return choose

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        for k, s in enumerate(seeds):
            self.system.run_planned(
                self._chooser(explore=k > 0), int(s), self.cfg.replan_every, log
            )

    def evaluate(self, seeds: np.ndarray) -> tuple[np.ndarray, float]:
        if not self.task.per_episode:
            return super().evaluate(seeds)
        preds: list[float] = []

        def choose(state: np.ndarray, steps: int) -> np.ndarray:
            theta, f = self.plan(state[None, :], steps)
            if steps == self.task.horizon:
                preds.append(f)
            return theta

        true = np.array(
            [self.system.run_planned(choose, int(s), self.cfg.replan_every) for s in seeds]
        )
        return true, float(np.mean(preds))


class MPCPets(Method):
    """CEM-MPC on a one-step probabilistic ensemble, refit every round (``mpc_pets``), or on
    the true system's step (``truth=True``: ``mpc_true``, nothing to fit)."""

    def __init__(self, *args: object, truth: bool = False) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.truth = truth
        self.planner: CEMPlanner | None = None
        if truth:
            self.model_key = "oracle"
        else:
            self.recipe = _recipe(self.cfg, "one_step")
            self.model_key = self.recipe.key

    def update(self, log: EpisodeLog, round_: int) -> None:
        seed = self.seed * 1000 + round_
        if self.truth:
            if self.planner is None:
                rollout = simulator_rollout(self.task)
                self.planner = CEMPlanner(None, self.task, self.cfg.mpc, seed, rollout=rollout)
            return
        model = fit_model(self.recipe, log.to_data(), seed)
        self.planner = CEMPlanner(model, self.task, self.cfg.mpc, seed)

    def run_round(self, log: EpisodeLog, seeds: np.ndarray) -> None:
        assert self.planner is not None
        run_mpc_episodes(self.task, self.planner, seeds, log)

    def evaluate(self, seeds: np.ndarray) -> tuple[np.ndarray, float]:
        assert self.planner is not None
        return run_mpc_episodes(self.task, self.planner, seeds), float("nan")


def _recipe(settings: Settings, family: str) -> ModelRecipe:
    """The method's model recipe, checked to be of ``family``."""
    recipe = settings.recipe
    if recipe is None or recipe.family != family:
        raise TrajmbrlError(
            f"this method needs a {family} model, got {None if recipe is None else recipe.key}"
        )
    return recipe


def make_method(
    name: str,
    task: ControlTask,
    system: System,
    settings: Settings,
    seed: int,
    init_states: np.ndarray,
) -> Method:
    """The method called ``name`` (one of :data:`METHODS`)."""
    args = (task, system, settings, seed, init_states)
    if name == "model_cma":
        return ModelSearch("trajectory", *args)
    if name == "model_cma_onestep":
        return ModelSearch("one_step", *args)
    if name == "model_gp":
        return ModelSearch("gp", *args)
    if name == "model_cma_true":
        return ModelSearch("true", *args)
    if name == "mpc_true":
        return MPCPets(*args, truth=True)
    simple = {
        "env_cma": EnvCMA,
        "env_bo": EnvBO,
        "random": RandomSearch,
        "reference": Reference,
        "mpc_pets": MPCPets,
    }
    if name not in simple:
        raise ArgumentError(
            f"{{make_method.name}}={name!r} is unknown; choose one of {', '.join(METHODS)}"
        )
    return simple[name](*args)
