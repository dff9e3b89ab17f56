"""Collection speed next to the raw simulator step rate, measured in one run per env.

Usage: python scripts/bench_collect.py [--steps 20000] [--envs cartpole reacher crazyflie]
Raw rate: ``env.unwrapped.step`` with a fixed in-range action, no controller, no logging.
Collection rate: ``trajmbrl.data.collect.collect`` (controller + logging + acceptance rule).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from trajmbrl.cli import HYDRA_VERSION_BASE, conf_dir
from trajmbrl.data.collect import collect


def raw_rate(env_id: str, steps: int) -> float:
    """env.step calls per second with a constant action, resetting on termination."""
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    low, high = env.action_space.low, env.action_space.high
    action = np.where(np.isfinite(low + high), (low + high) / 2, 0.0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, _, _ = env.step(action)
        if terminated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--envs", nargs="+", default=["cartpole", "reacher", "crazyflie"])
    args = parser.parse_args()
    print(f"{'env':<10} {'raw steps/s':>12} {'collect steps/s':>16} {'overhead':>9} {'accept':>7}")
    for name in args.envs:
        with initialize_config_dir(str(conf_dir()), version_base=HYDRA_VERSION_BASE):
            cfg = compose("config", overrides=[f"envs={name}"])
        sampler = instantiate(cfg.env.sampler)
        raw = raw_rate(cfg.env.id, args.steps)
        horizon = int(cfg.env.horizon)
        n = max(2, args.steps // horizon)
        _, report = collect(
            cfg.env.id, sampler, num_train=n, num_test=0, horizon=horizon, seed=0,
            state_indices=cfg.env.state_indices, progress=False,
        )
        rate = report.env_steps / report.seconds
        print(f"{name:<10} {raw:>12,.0f} {rate:>16,.0f} {raw / rate - 1:>8.0%} "
              f"{report.acceptance_rate:>7.0%}")


if __name__ == "__main__":
    main()
