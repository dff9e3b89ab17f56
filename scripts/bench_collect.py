"""Collection speed next to the raw simulator step rate, measured in one run per env.

Usage: python scripts/bench_collect.py [--steps 20000] [--envs cartpole reacher crazyflie]
Collection rate: ``trajmbrl.data.collect.collect`` (controller + logging + acceptance rule).
Raw rate: ``env.unwrapped.step`` replaying the collected actions open loop (same regime of
states and contacts, no controller, no logging).
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


def raw_rate(env_id: str, actions: np.ndarray, env_kwargs: dict) -> float:
    """env.step calls per second replaying ``actions`` (N, T, du), one reset per trajectory."""
    env = gym.make(env_id, **env_kwargs).unwrapped
    steps = 0
    start = time.perf_counter()
    for i, trajectory in enumerate(actions):
        env.reset(seed=i)
        for action in trajectory:
            steps += 1
            if env.step(action)[2]:
                break
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
        horizon = int(cfg.env.horizon)
        n = max(2, args.steps // horizon)
        kwargs = sampler.env_overrides() if hasattr(sampler, "env_overrides") else {}
        data, report = collect(
            cfg.env.id,
            sampler,
            num_train=n,
            num_test=0,
            horizon=horizon,
            seed=0,
            env_kwargs=kwargs,
            state_indices=cfg.env.state_indices,
            progress=False,
        )
        rate = report.env_steps / report.seconds
        raw = max(raw_rate(cfg.env.id, data.actions, kwargs) for _ in range(2))  # best of 2
        print(
            f"{name:<10} {raw:>12,.0f} {rate:>16,.0f} {raw / rate - 1:>8.0%} "
            f"{report.acceptance_rate:>7.0%}"
        )


if __name__ == "__main__":
    main()
