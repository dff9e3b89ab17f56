"""Planning speed on cartpole: candidate thetas scored per second by ``te`` (one batched query of
population x initial states x 200 steps), by the closed-loop one-step ``de`` (200 sequential
batched steps, and with kappa: every member rolled out), and the planning time per control step
of ``mpc_pets`` (CEM on ``pe``) and of ``mpc_true`` (the same CEM on the true step), at the
sizes of ``make control`` (conf/experiment/control.yaml) for 10 episodes in lock-step.

Usage: python scripts/bench_control.py [--population 12] [--init-states 8] [--repeat 3]
       [--hidden 64] [--layers 2]
The sizes of `make control` (conf/experiment/control.yaml); untrained models (the time does not
depend on the weights); one torch thread, as mode=control runs.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_eval import best_of  # scripts/ is on sys.path when run as a script

from trajmbrl.control.mpc import CEMPlanner, CEMSettings
from trajmbrl.control.scorers import onestep_scores, trajectory_scores
from trajmbrl.control.tasks import make_task
from trajmbrl.control.truth import simulator_rollout
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--init-states", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = make_task("cartpole")
    rng = np.random.default_rng(0)
    theta = task.to_theta(rng.uniform(size=(args.population, 4)))
    s0 = rng.uniform(-0.05, 0.05, size=(args.init_states, 4))

    def model(key: str) -> DynamicsModel:
        spec = ModelSpec.for_key(
            key, state_dim=4, action_dim=1, param_dim=4, hidden=args.hidden, layers=args.layers
        )
        return DynamicsModel(spec, seed=0).eval()

    rows = args.population * args.init_states
    print(
        f"cartpole, {args.population} candidates x {args.init_states} initial states x "
        f"{task.horizon} steps, models {args.layers} x {args.hidden}, 1 torch thread"
    )
    print(f"{'scorer':<22} {'seconds':>8} {'thetas/s':>9}  how")
    te, de = model("te"), model("de")
    secs = best_of(args.repeat, lambda: trajectory_scores(te, task, theta, s0))
    print(
        f"{'model_cma (te)':<22} {secs:>8.3f} {args.population / secs:>9.1f}  one query of "
        f"{rows * task.horizon:,} rows x 5 members"
    )
    secs = best_of(args.repeat, lambda: onestep_scores(de, task, theta, s0))
    print(
        f"{'model_cma_onestep (de)':<22} {secs:>8.3f} {args.population / secs:>9.1f}  "
        f"{task.horizon} closed-loop steps of {rows} rows x 5 members"
    )
    secs = best_of(args.repeat, lambda: onestep_scores(de, task, theta, s0, kappa=1.0))
    print(
        f"{'... with kappa (de)':<22} {secs:>8.3f} {args.population / secs:>9.1f}  "
        "every member rolled out on its own (TS-inf, one particle per member)"
    )
    cem = CEMSettings(horizon=40, population=100, elites=10, iterations=3, particles=5)
    episodes = 10
    states = np.repeat(s0[:1], episodes, axis=0)
    for name, planner in (
        ("mpc_pets (pe)", CEMPlanner(model("pe"), task, cem, seed=0)),
        ("mpc_true (true step)", CEMPlanner(None, task, cem, 0, rollout=simulator_rollout(task))),
    ):

        def plan_step(planner: CEMPlanner = planner) -> None:
            planner.reset(episodes)
            planner.act(states)

        secs = best_of(args.repeat, plan_step)
        print(
            f"{name:<22} {secs:>8.3f} {'-':>9}  one control step of {episodes} episodes: CEM "
            f"{cem.iterations} x {cem.population} sequences x {planner.particles} particles x "
            f"{cem.horizon} steps ({secs * task.horizon:.1f} s per {task.horizon}-step episode "
            "batch)"
        )


if __name__ == "__main__":
    main()
