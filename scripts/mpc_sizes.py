"""CEM sizes checked on the true system first: ``mpc_true`` (the control study's planner on the
exact step) on the cartpole and the heavy cartpole, per plan length x sequences x iterations.

Usage: python scripts/mpc_sizes.py [--episodes 10] [--envs cartpole cartpole_heavy]
Prints the reference K*'s score on the same evaluation episodes (seed 0's reset seeds of
``make control``), each size's mean and worst score and its planning time per control step of
all episodes in lock-step (one torch thread, as mode=control runs). docs/control.md's table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from trajmbrl.control.mpc import CEMPlanner, CEMSettings, run_mpc_episodes
from trajmbrl.control.system import System
from trajmbrl.control.tasks import make_task
from trajmbrl.control.truth import simulator_rollout, true_scores
from trajmbrl.utils.seeding import child_seeds

SIZES = ((15, 100, 3), (20, 100, 3), (30, 100, 3), (40, 100, 3), (60, 100, 3), (80, 100, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--envs", nargs="+", default=["cartpole", "cartpole_heavy"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for env in args.envs:
        task = make_task(env, 200)
        seeds = child_seeds(0, args.episodes, stream=6)
        system = System(task)
        ref = true_scores(task, task.reference[None], system.initial_states(seeds))[0]
        system.close()
        print(f"{env}: K* scores {ref:.3f} on these {args.episodes} episodes")
        for horizon, population, iterations in SIZES:
            cem = CEMSettings(horizon=horizon, population=population, iterations=iterations)
            planner = CEMPlanner(None, task, cem, 0, rollout=simulator_rollout(task))
            start = time.perf_counter()
            scores = run_mpc_episodes(task, planner, np.asarray(seeds))
            per_step = (time.perf_counter() - start) / task.horizon
            print(
                f"  {horizon:>3} x {population} x {iterations}: mean {scores.mean():.3f} "
                f"worst {scores.min():.3f}  {per_step * 1000:.1f} ms per step"
            )


if __name__ == "__main__":
    main()
