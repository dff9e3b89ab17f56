"""Training-throughput benchmark: member-samples/s at paper width next to the GEMM roofline.

Usage: ``python scripts/bench_train.py [--quick] [--threads N] [--samples N] [--compile]``.
FLOPs per member-sample are counted from layer shapes: ``3 * sum_l 2 * in_l * out_l``
(forward + backward ~ 3x forward). The roofline is this machine's measured float32 ``torch.mm``
rate on the hidden-layer shape (batch x 250) @ (250 x 250); a big square GEMM is shown for
reference. Variants are timed round-robin, best of ``--reps`` rounds (the machine may be shared).
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.training import ModelTrainer, TrainConfig

IN, OUT, HIDDEN, LAYERS = 9, 4, 250, 3  # cartpole trajectory model: 4 + 1 + 4 -> 4


def flops_per_sample(
    in_dim: int = IN, out_dim: int = OUT, hidden: int = HIDDEN, layers: int = LAYERS
) -> int:
    """Training FLOPs per member-sample: 3 x forward, forward = sum 2*in*out over layers."""
    dims = [in_dim] + [hidden] * layers + [out_dim]
    return 3 * sum(2 * a * b for a, b in zip(dims[:-1], dims[1:]))


def best_time(fn: Callable[[], None], reps: int) -> float:
    """Best wall time of ``reps`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_rate(
    m: int, k: int, n: int, iters: int, reps: int, dtype: torch.dtype = torch.float32
) -> float:
    """Measured ``torch.mm`` GFLOP/s for (m x k) @ (k x n) in ``dtype`` (the bf16 ceiling with
    bfloat16 tensors)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    a, b = a.to(dtype), b.to(dtype)
    c = torch.empty(m, n, dtype=dtype)

    def run() -> None:
        for _ in range(iters):
            torch.mm(a, b, out=c)

    return 2 * m * k * n * iters / best_time(run, reps) / 1e9


def _spec(e: int) -> ModelSpec:
    return ModelSpec.for_key(
        "t" if e == 1 else "te",
        state_dim=OUT,
        action_dim=1,
        param_dim=IN - OUT - 1,
        **({} if e == 1 else {"ensemble_size": e}),
    )


def make_epoch(
    e: int,
    x: Tensor,
    y: Tensor,
    *,
    batch: int,
    optim: str = "fused",
    gather: str = "index_select",
    prenormalized: bool = False,
    compiled: bool = False,
    sequential: bool = False,
) -> Callable[[], None]:
    """A closure that runs one epoch of the trainer's inner loop with the chosen variant."""
    g = torch.Generator().manual_seed(0)
    model = DynamicsModel(_spec(e), seed=0)
    model.fit_normalizers(x, y)
    n = x.shape[0]
    members = torch.randint(0, n, (e, n), generator=g)
    xn, yn = model.in_norm.normalize(x), model.out_norm.normalize(y)
    if sequential:  # reference: E=1 as a plain nn.Sequential of nn.Linear (torch.mm path)
        dims = [IN] + [HIDDEN] * LAYERS
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.ReLU()]
        seq = nn.Sequential(*mods, nn.Linear(HIDDEN, OUT))
        params = list(seq.parameters())

        def loss_fn(xb: Tensor, yb: Tensor) -> Tensor:
            return (seq(xb) - yb).square().mean((1, 2))
    elif prenormalized:
        params = list(model.parameters())

        def loss_fn(xb: Tensor, yb: Tensor) -> Tensor:
            return (model.net(xb)[0] - yb).square().mean((1, 2))
    else:
        params = list(model.parameters())
        loss_fn = model.loss
    if compiled:
        loss_fn = torch.compile(loss_fn)  # type: ignore[assignment]
    src_x, src_y = (xn, yn) if (prenormalized or sequential) else (x, y)
    kw = {"single": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    opt = torch.optim.Adam(params, lr=1e-4, **kw[optim])

    def epoch() -> None:
        shuffled = members.gather(1, torch.rand(members.shape, generator=g).argsort(1))
        for lo in range(0, n, batch):
            idx = shuffled[:, lo : lo + batch]
            b = idx.shape[1]
            if gather == "index_select":
                flat = idx.reshape(-1)
                xb = src_x.index_select(0, flat).view(e, b, -1)
                yb = src_y.index_select(0, flat).view(e, b, -1)
            else:
                xb, yb = src_x[idx], src_y[idx]
            loss = loss_fn(xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()

    return epoch


def trainer_epoch(
    e: int, x: Tensor, y: Tensor, *, batch: int, precision: str = "fp32"
) -> Callable[[], None]:
    """One epoch of the real :class:`ModelTrainer` inner loop (no validation, no state file)."""
    model = DynamicsModel(_spec(e), seed=0)
    trainer = ModelTrainer(
        model,
        TrainConfig(batch_size=batch, val_fraction=0.0, precision=precision),  # type: ignore[arg-type]
        progress=False,
    )
    run = trainer._prepare(x, y, None)
    active = list(range(e))
    return lambda: trainer._train_epoch(x, y, run, active, None) and None


def full_fit(
    e: int, x: Tensor, y: Tensor, *, batch: int, precision: str, state: Path
) -> Callable[[], None]:
    """One-epoch :meth:`ModelTrainer.fit` with everything: split (10 % held out, so the epoch
    trains on 90 % of the samples), validation, early-stopping record, state file."""

    def run() -> None:
        state.unlink(missing_ok=True)
        model = DynamicsModel(_spec(e), seed=0)
        cfg = TrainConfig(epochs=1, batch_size=batch, precision=precision)  # type: ignore
        ModelTrainer(model, cfg, state_path=state, progress=False).fit(x, y)

    return run


def malloc_keep_heap() -> bool:
    """glibc only: keep freed memory in the heap (no trim, no per-allocation mmap).

    Without this, every ~1 MB activation of an E=5 batch is a fresh ``mmap`` whose pages fault
    on first touch. Process-global and irreversible, so it is measured last.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and bool(
        libc.mallopt(m_trim_threshold, 1 << 30)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (12,800 samples), about 20 s")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--samples", type=int, default=None, help="training samples (100000)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (best is kept)")
    ap.add_argument("--compile", action="store_true", help="also try torch.compile (slow)")
    ap.add_argument(
        "--precision-only",
        action="store_true",
        help="only the fp32/bf16 bare-step and full-fit table",
    )
    ap.add_argument(
        "--balance",
        action="store_true",
        help="only E=4,5,6 trainer epochs with and without balanced member GEMMs",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.balance:
        n = args.samples or 25_600
        g = torch.Generator().manual_seed(0)
        balance_table(
            torch.randn(n, IN, generator=g),
            torch.randn(n, OUT, generator=g),
            batch=args.batch,
            reps=args.reps or 5,
        )
        return
    threads = torch.get_num_threads()
    n = args.samples or (12_800 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 2)
    b = args.batch
    fps = flops_per_sample()

    gemm_iters = 300 if args.quick else 1500
    roof = gemm_rate(b, HIDDEN, HIDDEN, gemm_iters, reps + 1)
    square = gemm_rate(2048, 2048, 2048, 3 if args.quick else 10, reps)
    roof1 = float("nan")
    if threads > 1:
        torch.set_num_threads(1)
        roof1 = gemm_rate(b, HIDDEN, HIDDEN, gemm_iters, reps + 1)
        torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    print(
        f"# torch {torch.__version__}, threads={threads}, samples={n}, batch={b}, "
        f"FLOPs/member-sample={fps:,}, load average {load:.1f}"
        + ("  (WARNING: busy machine, numbers are noisy)" if load > 0.5 * threads + 0.5 else "")
    )
    print(
        f"GEMM ({b}x{HIDDEN})@({HIDDEN}x{HIDDEN}): {roof:7.1f} GFLOP/s  <- roofline"
        + (f"   [1 thread: {roof1:.1f}]" if threads > 1 else "")
    )
    print(f"GEMM 2048^3 square:          {square:7.1f} GFLOP/s")

    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, IN, generator=g)
    y = torch.randn(n, OUT, generator=g)
    precision_table(x, y, batch=b, reps=reps, roof=roof)
    if args.precision_only:
        return

    variants: list[tuple[str, dict[str, object]]] = [
        ("trainer (fused Adam, index_select)", {"trainer": True}),
        ("Adam foreach", {"optim": "foreach"}),
        ("Adam single-tensor", {"optim": "single"}),
        ("advanced indexing x[idx]", {"gather": "adv"}),
        ("pre-normalised data", {"prenormalized": True}),
        ("1 thread", {"trainer": True, "threads": 1}),
    ]
    if args.compile:
        variants.append(("torch.compile(loss)", {"compiled": True}))

    # Build every (variant, E) closure, then time them round-robin (best of ``reps`` rounds), so
    # a burst of load from other processes does not hit one variant only.
    runs: list[tuple[str, int, int, Callable[[], None]]] = []
    notes: dict[tuple[str, int], str] = {}
    for name, opts in variants:
        for e in (1, 5):
            opts_ = dict(opts)
            nthr = int(opts_.pop("threads", threads))  # type: ignore[call-overload]
            torch.set_num_threads(nthr)
            if opts_.pop("trainer", False):
                fn = trainer_epoch(e, x, y, batch=b)
            else:
                fn = make_epoch(e, x, y, batch=b, **opts_)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            fn()  # warm-up (includes compilation for torch.compile)
            if opts_.get("compiled"):
                notes[(name, e)] = f" [1st epoch {time.perf_counter() - t0:.0f}s]"
            torch.set_num_threads(threads)
            runs.append((name, e, nthr, fn))
    if not args.quick:
        runs.append(
            (
                "nn.Sequential + nn.Linear (mm)",
                1,
                threads,
                make_epoch(1, x, y, batch=b, sequential=True),
            )
        )
    times: dict[tuple[str, int], float] = {}
    for _ in range(reps):
        for name, e, nthr, fn in runs:
            torch.set_num_threads(nthr)
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            times[(name, e)] = min(times.get((name, e), float("inf")), dt)
    torch.set_num_threads(threads)
    # Process-global and irreversible: measured last, on the trainer.
    malloc_name = "trainer + glibc malloc keep-heap"
    if malloc_keep_heap():
        for e in (1, 5):
            times[(malloc_name, e)] = best_time(trainer_epoch(e, x, y, batch=b), reps)

    roof_after = gemm_rate(b, HIDDEN, HIDDEN, gemm_iters, reps + 1)
    roof = max(roof, roof_after)
    print(
        f"GEMM roofline re-measured after the runs: {roof_after:.1f} GFLOP/s (max {roof:.1f} "
        "is used below)"
    )
    if threads > 1 and roof < roof1:
        print(
            "WARNING: the multi-thread GEMM is slower than 1 thread: the cores are shared with "
            "other processes; re-run on an idle machine"
        )
    header = (
        f"{'variant':40s} {'E':>2s} {'epoch s':>8s} {'member-samples/s':>17s} "
        f"{'GFLOP/s':>8s} {'%roof':>6s}"
    )
    print()
    print(header)
    print("-" * len(header))
    for (name, e), dt in times.items():
        rate = e * n / dt
        gf = rate * fps / 1e9
        label = name + notes.get((name, e), "")
        print(f"{label:40s} {e:2d} {dt:8.3f} {rate:17,.0f} {gf:8.1f} {100 * gf / roof:5.0f}%")
    key = "trainer (fused Adam, index_select)"
    ratio = times[(key, 5)] / times[(key, 1)]
    frac5 = 5 * n / times[(key, 5)] * fps / 1e9 / roof
    frac1 = n / times[(key, 1)] * fps / 1e9 / roof
    print()
    print(
        f"ensemble cost ratio (epoch time E=5 / E=1): {ratio:.2f}x   (target <= 4x: "
        f"{'PASS' if ratio <= 4 else 'FAIL'})"
    )
    print(
        f"trainer fraction of roofline: E=1 {100 * frac1:.0f}%, E=5 {100 * frac5:.0f}%   "
        f"(target >= 60%: E=1 {'PASS' if frac1 >= 0.6 else 'FAIL'}, "
        f"E=5 {'PASS' if frac5 >= 0.6 else 'FAIL'})"
    )


def precision_table(x: Tensor, y: Tensor, *, batch: int, reps: int, roof: float) -> None:
    """Bare epochs and full one-epoch fits, E=1 and E=5, fp32 and bf16, timed round-robin;
    each against its own ceiling (fp32 / bf16 tensor GEMM of the hidden-layer shape)."""
    roof_bf16 = gemm_rate(batch, HIDDEN, HIDDEN, 300, reps + 1, torch.bfloat16)
    print(
        f"\nGEMM ({batch}x{HIDDEN})@({HIDDEN}x{HIDDEN}) bfloat16: {roof_bf16:7.1f} GFLOP/s "
        f"<- bf16 ceiling ({roof_bf16 / roof:.1f}x fp32)"
    )
    n, fps = x.shape[0], flops_per_sample()
    tmp = Path(tempfile.mkdtemp())
    runs = {}
    for e in (1, 5):
        for p in ("fp32", "bf16"):
            runs[("bare", e, p)] = (trainer_epoch(e, x, y, batch=batch, precision=p), n)
            runs[("fit", e, p)] = (
                full_fit(e, x, y, batch=batch, precision=p, state=tmp / f"{e}{p}.pt"),
                n - round(0.1 * n),
            )
    times = {k: math.inf for k in runs}
    for fn, _ in runs.values():
        fn()  # warm-up
    for _ in range(reps):
        for k, (fn, _) in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k] = min(times[k], time.perf_counter() - t0)
    print(
        f"{'what':5s} {'E':>2s} {'prec':5s} {'s':>7s} {'member-samples/s':>17s} {'%ceiling':>8s}"
        f" {'fit/bare':>8s}"
    )
    for (what, e, p), (_, samples) in runs.items():
        rate = e * samples / times[(what, e, p)]
        ceil = roof if p == "fp32" else roof_bf16
        ratio = times[(what, e, p)] / samples / (times[("bare", e, p)] / n)
        print(
            f"{what:5s} {e:2d} {p:5s} {times[(what, e, p)]:7.3f} {rate:17,.0f} "
            f"{100 * rate * fps / 1e9 / ceil:7.0f}% {ratio:8.2f}"
        )
    for e in (1, 5):
        speed = times[("fit", e, "fp32")] / times[("fit", e, "bf16")]
        print(f"bf16 / fp32 fit throughput, E={e}: {speed:.2f}x")


def balance_table(x: Tensor, y: Tensor, *, batch: int, reps: int) -> None:
    """Trainer epochs at E=4, 5, 6 with the members' GEMMs balanced over the threads
    (models.ensemble.balanced_baddbmm) and plain (one baddbmm), timed round-robin."""
    from trajmbrl.models import ensemble

    default = ensemble._SPLIT_MIN_MACS

    def with_split(fn: Callable[[], None], on: bool) -> Callable[[], None]:
        def run() -> None:
            ensemble._SPLIT_MIN_MACS = default if on else 1 << 62
            try:
                fn()
            finally:
                ensemble._SPLIT_MIN_MACS = default

        return run

    runs = {
        (e, on): with_split(trainer_epoch(e, x, y, batch=batch), on)
        for e in (4, 5, 6)
        for on in (False, True)
    }
    times = {k: math.inf for k in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(reps):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k] = min(times[k], time.perf_counter() - t0)
    print(
        f"# threads={torch.get_num_threads()}, samples={x.shape[0]}, batch={batch}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'E':>2s} {'balanced':8s} {'s':>7s} {'member-samples/s':>17s} {'per member':>10s}")
    base = x.shape[0] * 4 / times[(4, False)]
    for (e, on), t in times.items():
        rate = e * x.shape[0] / t
        print(f"{e:2d} {str(on):8s} {t:7.3f} {rate:17,.0f} {rate / base:9.2f}x")


if __name__ == "__main__":
    main()
