"""Evaluation speed: 100 test trajectories x 500 steps, trajectory vs one-step models.

Usage: python scripts/bench_eval.py [--n 100] [--horizon 500] [--repeat 3]
Paper-width models (3 x 250) at the reacher's sizes (state 18, action 5, theta 15). Trajectory
models answer all horizons in one batched query; one-step models roll out recursively, batched
over trajectories (one Python iteration per step, none per trajectory).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from trajmbrl.controllers.pd import ReacherPDSampler
from trajmbrl.evaluation.predict import predict
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec


def best_of(repeat: int, fn: object) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ds, du, dp = 18, 5, 15
    s0 = rng.normal(size=(args.n, ds))
    params = rng.uniform(0.0, 1.0, size=(args.n, dp))
    actions = rng.normal(size=(args.n, args.horizon, du))
    print(f"{args.n} trajectories x {args.horizon} steps, torch threads {torch.get_num_threads()}")
    print(f"{'model':<6} {'prec':<5} {'seconds':>8}  how")
    for key, family, e, prec in [
        (k, f, e, p)
        for k, f, e in [
            ("t", "trajectory", 1),
            ("te", "trajectory", 5),
            ("d", "one_step", 1),
            ("de", "one_step", 5),
        ]
        for p in ("fp32", "bf16")
    ]:
        spec = ModelSpec(
            key=key, family=family, state_dim=ds, action_dim=du, param_dim=dp, ensemble_size=e
        )
        model = DynamicsModel(spec, seed=0).eval()
        if family == "trajectory":
            fn = lambda m=model, p=prec: predict(  # noqa: E731
                m, s0, args.horizon, theta=params, precision=p
            )
            how = f"one batched query of {args.n * args.horizon:,} rows"
        else:
            fn = lambda m=model, p=prec: predict(  # noqa: E731
                m, s0, args.horizon, actions=actions, precision=p
            )
            how = f"{args.horizon} sequential logged-action steps, batched over {args.n} traj."
        secs = best_of(args.repeat, fn)
        print(f"{key:<6} {prec:<5} {secs:>8.3f}  {how}")
        if family == "one_step" and prec == "fp32":  # eval's default: both protocols at once
            secs = best_of(
                args.repeat,
                lambda m=model: predict(
                    m,
                    s0,
                    args.horizon,
                    theta=params,
                    actions=actions,
                    sampler=ReacherPDSampler(),
                    protocols=("logged", "controller"),
                ),
            )
            print(f"{key:<6} {prec:<5} {secs:>8.3f}  logged + closed loop (reacher PD) together")


if __name__ == "__main__":
    main()
