"""fp32 vs bf16 at a representative reduction of the paper protocol: same data, seeds, metric.

Usage: ``python scripts/bench_precision.py trajectories/cartpole/stable
trajectories/reacher/default [--keys t d] [--seeds 0 1 2] [--max-pairs 20000] [--epochs 10]
[--protocols logged controller] [--decide]``.
Trains each key at paper width (3 x 250) on the dataset's training split (trajectory-level
validation, early stopping) in both precisions (training and evaluation) and prints, per
(dataset, key, protocol, horizon), the median test nMSE over seeds with the min-max across
seeds, the bf16/fp32 ratio of the medians, training time, and whether the bf16 median lies
inside the fp32 seed range (the issue's rule: bf16 may become the default only if no entry moves
by more than the seed-to-seed spread). One-step keys are rolled out under each of
``--protocols`` (``controller`` rebuilds cartpole's LQR controllers from theta); ``--decide``
ends with one verdict line per key: bf16 is admissible only if every entry of the key is inside.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from trajmbrl.data.pairs import Sampling, training_samples
from trajmbrl.data.storage import load_dataset
from trajmbrl.evaluation.metrics import normalised_mse
from trajmbrl.evaluation.predict import predict
from trajmbrl.models import ModelSpec
from trajmbrl.training import TrainConfig
from trajmbrl.training.fit import fit
from trajmbrl.training.precision import fast_bf16

HORIZONS = (1, 10, 50, 100, 200, 500)


def _sampler(data: object) -> object | None:
    """The dataset's controller sampler for the ``controller`` protocol (cartpole: LQR)."""
    meta = getattr(data, "meta", {})
    if meta.get("env") != "cartpole":
        return None
    from trajmbrl.controllers.lqr import LQRSampler

    return LQRSampler(mode=str(meta.get("data_mode", "stable")))


def run_one(
    path: str, key: str, seed: int, precision: str, args: argparse.Namespace
) -> tuple[dict[tuple[str, int], float], float]:
    """Train ``key`` once; :returns: median-over-trajectories nMSE per (protocol, horizon),
    train seconds."""
    data = load_dataset(path)
    test = data.test()
    spec = ModelSpec.for_key(
        key, state_dim=data.state_dim, action_dim=data.action_dim, param_dim=data.param_dim
    )
    cfg = TrainConfig(
        epochs=args.epochs,
        seed=seed,
        precision=precision,  # type: ignore[arg-type]
        resample="bootstrap" if spec.ensemble_size > 1 else "none",
    )
    t0 = time.perf_counter()
    sampling = Sampling(keep_rate=0.05, max_pairs=args.max_pairs)
    x, y, report = training_samples(data, spec.family, sampling, seed)
    model, _ = fit(spec, x, y, cfg, groups=report.traj)
    seconds = time.perf_counter() - t0
    horizon = test.horizon
    sampler = _sampler(data)
    protocols = [p for p in args.protocols if p == "logged" or sampler is not None]
    forecast = predict(
        model,
        test.states[:, 0],
        horizon,
        theta=test.params,
        actions=test.actions,
        sampler=sampler,
        protocols=protocols,
        precision=precision,
    )
    out: dict[tuple[str, int], float] = {}
    for name, fc in forecast.items():
        err = normalised_mse(
            test.states[:, 1 : horizon + 1],
            fc.mean,
            np.asarray(data.meta["state_min"]),
            np.asarray(data.meta["state_max"]),
        )
        for h in HORIZONS:
            if h <= horizon:
                out[(name, h)] = float(np.nanmedian(err[:, h - 1]))
    return out, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+", help="dataset paths without suffix")
    ap.add_argument("--keys", nargs="+", default=["t"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--max-pairs", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument(
        "--protocols", nargs="+", default=["logged", "controller"], help="one-step roll-outs"
    )
    ap.add_argument("--decide", action="store_true", help="end with one verdict per key")
    args = ap.parse_args()
    verdicts: dict[str, bool] = {}
    print(
        f"# bf16 hardware: {fast_bf16('cpu')[1]}; threads={torch.get_num_threads()}; "
        f"max_pairs={args.max_pairs}, epochs<={args.epochs}, seeds={args.seeds}"
    )
    print(
        "| data | key | protocol | h | fp32 median [min, max] | bf16 median [min, max] | "
        "bf16/fp32 | inside fp32 range |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in args.datasets:
        for key in args.keys:
            res: dict[str, list[dict[tuple[str, int], float]]] = {"fp32": [], "bf16": []}
            secs: dict[str, float] = {"fp32": 0.0, "bf16": 0.0}
            for seed in args.seeds:
                for precision in ("fp32", "bf16"):  # alternate: load bursts hit both
                    err, s = run_one(path, key, seed, precision, args)
                    res[precision].append(err)
                    secs[precision] += s
            for cell in res["fp32"][0]:
                f = np.array([r[cell] for r in res["fp32"]])
                b = np.array([r[cell] for r in res["bf16"]])
                inside = bool(f.min() <= np.median(b) <= f.max())
                verdicts[key] = verdicts.get(key, True) and inside
                proto, h = cell
                print(
                    f"| {Path(path).parent.name} | {key} | {proto} | {h} | {np.median(f):.3g} "
                    f"[{f.min():.3g}, {f.max():.3g}] | {np.median(b):.3g} [{b.min():.3g}, "
                    f"{b.max():.3g}] | {np.median(b) / np.median(f):.2f} | "
                    f"{'yes' if inside else 'NO'} |"
                )
            print(
                f"<!-- {Path(path).parent.name} {key}: training seconds fp32 "
                f"{secs['fp32']:.1f}, bf16 {secs['bf16']:.1f} -->"
            )
    if args.decide:
        for key, ok in verdicts.items():
            print(
                f"decision {key}: "
                + ("bf16 admissible (every entry inside the fp32 seed range)" if ok else "fp32")
            )


if __name__ == "__main__":
    main()
