"""Training-throughput benchmark: member-samples/s at paper width next to the GEMM ceilings.

Usage: ``python scripts/bench_train.py [--quick] [--families] [--threads N] [--samples N]
[--rounds N] [--clock wall|cpu]`` (``make bench``): the report of issue 23 in one run, with the
later families' rows (issue 24). Ceilings: this machine's ``torch.mm`` rate on the
hidden-layer shape (batch x 250) @ (250 x 250) in fp32 and bf16, and the batched E=5
``torch.bmm`` of the same shape, and the step-GEMM ceilings (E=1, E=5): only the GEMMs
autograd runs for a training step of the paper MLP, at their exact (thin, transposed) shapes,
credited with the counted FLOPs, so ``%steps`` is the share of a step that is not overhead.
Cases (one row each): :data:`CASES`, the MLP trainer's bare
epochs and full one-epoch ``fit()`` at E=1 and E=5 in both precisions, and
:data:`FAMILY_CASES`, a full one-epoch fp32 fit through :func:`trajmbrl.train_model` (as the
project trains the keys) of ``tr`` (residual trajectory target), ``dk`` (one-step MLP, k=5
step loss) and ``sq`` (GRU, windows W=20 and W=50) at E=1 and E=5 (``tre``, ``dke``, ``sqe``:
the members batched in one module), on synthetic cartpole-shaped samples (state 4, action 1,
theta 4). A family fit runs as many gradient steps as the FLOPs of the MLP fit on the same
``--samples``, at least :data:`MIN_STEPS`; ``--families`` reports only those rows. The
ceilings and the cases are timed round-robin for ``--rounds`` rounds and each reports its
median, so every share of the ceiling is a ratio taken in the same minutes (the machine may
be shared); ``cpu%`` is the process's CPU time over wall time x threads (below ~90 %: other
processes took the cores, the figures are noisy). ``--clock cpu`` takes the medians of
process CPU time instead: with ``--threads 1`` that leaves out the time other processes hold
the core (a busy shared machine); with more threads it also counts OpenMP's spin-waiting.
FLOPs per member-sample (:func:`trajmbrl.models.cost.training_flops_per_sample`) are counted
from layer shapes, forward + backward ~ 3x forward: ``3 * sum_l 2 * in_l * out_l`` for a pair
through the MLP, k times that for a k-step window, ``3 * (2*in*4h + W * 2*(h*3h + h*out))``
for a W-step GRU window (a member-sample is a pair or a window). Another model family adds
its rows as :class:`Case` entries (its own ``build`` and ``flops``). ``--variants`` compares
optimiser, gather and compile variants; ``--balance`` the balanced member GEMMs of E=4, 5, 6.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import trajmbrl
from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.models.cost import mlp_training_flops, training_flops_per_sample
from trajmbrl.training import ModelTrainer, TrainConfig

IN, OUT, HIDDEN, LAYERS = 9, 4, 250, 3  # cartpole trajectory model: 4 + 1 + 4 -> 4
DS, DU, DP = 4, 1, 4  # cartpole: state, action, theta (the family rows' synthetic samples)


def flops_per_sample(
    in_dim: int = IN, out_dim: int = OUT, hidden: int = HIDDEN, layers: int = LAYERS
) -> int:
    """Training FLOPs per member-sample of an MLP (:mod:`trajmbrl.models.cost`): 3 x forward,
    forward = sum 2*in*out over layers (the MLP rows use :data:`MLP_FLOPS`, the same count
    from their spec)."""
    return mlp_training_flops(in_dim, out_dim, hidden, layers)


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


#: training FLOPs per member-sample of the MLP rows (``t``; the same for every E)
MLP_FLOPS = training_flops_per_sample(_spec(1))


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


@dataclass(frozen=True)
class Case:
    """One row of the report: ``build(x, y, batch, tmp)`` returns the closure timed per round
    and the member-samples one call processes; ``flops`` is per member-sample; ``ceiling``
    names the :data:`CEILINGS` entry its share is taken of (its precision's ``mm``)."""

    what: str
    ensemble: int
    precision: str
    build: Callable[[Tensor, Tensor, int, Path], tuple[Callable[[], None], int]]
    flops: int = MLP_FLOPS

    @property
    def ceiling(self) -> str:
        return f"mm {self.precision}"


def _bare(e: int, precision: str) -> Callable[[Tensor, Tensor, int, Path], tuple[Any, int]]:
    def build(x: Tensor, y: Tensor, batch: int, tmp: Path) -> tuple[Callable[[], None], int]:
        return trainer_epoch(e, x, y, batch=batch, precision=precision), e * x.shape[0]

    return build


def _fit(e: int, precision: str) -> Callable[[Tensor, Tensor, int, Path], tuple[Any, int]]:
    def build(x: Tensor, y: Tensor, batch: int, tmp: Path) -> tuple[Callable[[], None], int]:
        fn = full_fit(e, x, y, batch=batch, precision=precision, state=tmp / f"{e}{precision}.pt")
        return fn, e * (x.shape[0] - round(0.1 * x.shape[0]))  # 10 % is held out

    return build


#: the report's rows; a new family appends its own (e.g. its bare steps and full fit)
CASES: list[Case] = [
    Case(what, e, p, (_bare if what == "bare" else _fit)(e, p))
    for what in ("bare", "fit")
    for e in (1, 5)
    for p in ("fp32", "bf16")
]

#: the later families' rows (``--families``): label, key, settings (dk's k, sq's window W: 20
#: is the benchmark's, 50 the key's default)
FAMILIES: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("fit tr", "tr", {}),
    ("fit dk k=5", "dk", {"unroll": 5}),
    ("fit sq W=20", "sq", {"window": 20}),
    ("fit sq W=50", "sq", {"window": 50}),
)
MIN_STEPS = 4  # gradient steps per family fit at least


def family_spec(key: str, e: int, settings: dict[str, int]) -> ModelSpec:
    """The spec of ``key`` (its ensemble key ``<key>e`` for E > 1) at the cartpole's sizes."""
    return ModelSpec.for_key(
        key if e == 1 else f"{key}e",
        state_dim=DS,
        action_dim=DU,
        param_dim=DP,
        ensemble_size=e,
        **settings,
    )


def family_samples(spec: ModelSpec, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic samples of ``spec``'s layout (:meth:`ModelSpec.sample_widths`: pairs,
    k-step or W-step windows): standard normal columns, horizons 1..200 for trajectory pairs."""
    rng = np.random.default_rng(seed)
    wx, wy = spec.sample_widths()
    x = rng.standard_normal((n, wx), dtype=np.float32)
    if spec.family == "trajectory":
        x[:, spec.state_dim] = rng.integers(1, 201, n)
    return x, rng.standard_normal((n, wy), dtype=np.float32)


def family_fit(
    key: str,
    e: int,
    settings: dict[str, int],
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch: int,
    state: Path,
) -> Callable[[], None]:
    """One-epoch :func:`trajmbrl.train_model` of ``key`` (``<key>e`` for E > 1) as the
    project trains it: :func:`trajmbrl.training.fit.fit` picks the trainer of the family
    (``ModelTrainer``, ``MultiStepTrainer``, ``SequenceTrainer``), split (10 % held out),
    validation, early-stopping record, state file."""
    name = key if e == 1 else f"{key}e"

    def run() -> None:
        state.unlink(missing_ok=True)
        trajmbrl.train_model(
            name,
            x,
            y,
            state_dim=DS,
            action_dim=DU,
            param_dim=DP,
            state_path=state,
            epochs=1,
            batch_size=batch,
            ensemble_size=e,
            **settings,
        )

    return run


def _family(
    label: str, key: str, e: int, settings: dict[str, int]
) -> Callable[[Tensor, Tensor, int, Path], tuple[Any, int]]:
    flops = training_flops_per_sample(family_spec(key, e, settings))

    def build(x: Tensor, y: Tensor, batch: int, tmp: Path) -> tuple[Callable[[], None], int]:
        # as many gradient steps as the FLOPs of the MLP fit on the same samples, >= MIN_STEPS
        train = x.shape[0] - round(0.1 * x.shape[0])
        steps = max(MIN_STEPS, round(train / batch * MLP_FLOPS / flops))
        n = math.ceil(steps * batch / 0.9)
        fx, fy = family_samples(family_spec(key, e, settings), n)
        state = tmp / f"{label.replace(' ', '_')}_{e}.pt"
        fn = family_fit(key, e, settings, fx, fy, batch=batch, state=state)
        return fn, e * (n - round(0.1 * n))  # 10 % is held out

    return build


#: the family rows: full fp32 fit() at E=1 and E=5, member-samples are pairs or windows
FAMILY_CASES: list[Case] = [
    Case(
        label,
        e,
        "fp32",
        _family(label, key, e, settings),
        training_flops_per_sample(family_spec(key, e, settings)),
    )
    for label, key, settings in FAMILIES
    for e in (1, 5)
]


def ceilings(batch: int, iters: int) -> dict[str, tuple[Callable[[], None], float]]:
    """The GEMM ceilings: name -> (closure, FLOPs per call): the hidden-layer ``mm`` in fp32
    and bf16, and the batched E=5 ``bmm`` in fp32 (what an ensemble layer could reach)."""
    g = torch.Generator().manual_seed(0)
    out: dict[str, tuple[Callable[[], None], float]] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(batch, HIDDEN, generator=g).to(dtype)
        b = torch.randn(HIDDEN, HIDDEN, generator=g).to(dtype)
        c = torch.empty(batch, HIDDEN, dtype=dtype)

        def mm(a: Tensor = a, b: Tensor = b, c: Tensor = c) -> None:
            for _ in range(iters):
                torch.mm(a, b, out=c)

        out[f"mm {name}"] = (mm, 2.0 * batch * HIDDEN * HIDDEN * iters)
    a5, b5 = torch.randn(5, batch, HIDDEN, generator=g), torch.randn(5, HIDDEN, HIDDEN, generator=g)
    c5 = torch.empty(5, batch, HIDDEN)

    def bmm() -> None:
        for _ in range(max(1, iters // 5)):
            torch.bmm(a5, b5, out=c5)

    out["bmm E=5 fp32"] = (bmm, 2.0 * 5 * batch * HIDDEN * HIDDEN * max(1, iters // 5))
    for e in (1, 5):
        out[f"step GEMMs E={e} fp32"] = step_gemms(batch, e, max(1, iters // (4 * e)))
    return out


def step_gemms(batch: int, e: int, iters: int) -> tuple[Callable[[], None], float]:
    """The GEMMs autograd runs for ``iters`` training steps of the paper MLP (IN -> 3 x 250 ->
    OUT), E members batched, and nothing else: per layer the forward ``X @ W`` (B x in @ in x
    out), the input gradient ``dY @ W^T`` (not for the first layer) and the weight gradient
    ``X^T @ dY`` (transposed operands, as autograd passes them). Credited with the cases'
    counted FLOPs (:data:`MLP_FLOPS` per member-sample), so a case's share of this ceiling is
    the share of a step that is not overhead (element-wise work, optimiser, dispatch, data),
    and its distance from ``mm fp32`` is what the thin and transposed shapes cost.

    :returns: (closure, counted FLOPs per call).
    """
    g = torch.Generator().manual_seed(2)
    dims = [IN, *[HIDDEN] * LAYERS, OUT]
    layers = []
    for i, o in zip(dims, dims[1:]):
        x, w, y = (
            torch.randn(e, *shape, generator=g) for shape in ((batch, i), (i, o), (batch, o))
        )
        layers.append(
            (x, w, y, torch.empty(e, batch, i), torch.empty(e, i, o), torch.empty_like(y))
        )

    def run() -> None:
        for _ in range(iters):
            for n, (x, w, dy, dx, dw, y) in enumerate(layers):
                torch.bmm(x, w, out=y)
                if n:
                    torch.bmm(dy, w.transpose(1, 2), out=dx)
                torch.bmm(x.transpose(1, 2), dy, out=dw)

    return run, float(iters * e * batch * MLP_FLOPS)


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    """:returns: wall seconds and process CPU seconds of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def report(
    x: Tensor,
    y: Tensor,
    *,
    batch: int,
    rounds: int,
    gemm_iters: int,
    cases: list[Case],
    clock: str = "wall",
) -> dict[str, float]:
    """Time the ceilings and ``cases`` round-robin, print the table and the targets.

    :returns: name -> median rate (GFLOP/s for ceilings, member-samples/s for cases).
    """
    threads = torch.get_num_threads()
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    ceil = ceilings(batch, gemm_iters)
    runs: dict[str, tuple[Callable[[], None], float]] = dict(ceil)
    labels = {}
    for c in cases:
        label = f"{c.what} E={c.ensemble} {c.precision}"
        fn, samples = c.build(x, y, batch, tmp)
        runs[label], labels[label] = (fn, float(samples)), c
    for fn, _ in runs.values():
        fn()  # warm-up
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, (fn, _) in runs.items():
            w, c_ = _timed(fn)
            wall[k].append(w)
            cpu[k].append(c_)
    med = {k: statistics.median(v) for k, v in (cpu if clock == "cpu" else wall).items()}
    busy = {k: 100 * sum(cpu[k]) / (sum(wall[k]) * threads) for k in runs}
    rate = {k: runs[k][1] / med[k] / (1e9 if k in ceil else 1) for k in runs}
    load = os.getloadavg()[0]
    print(
        f"# torch {torch.__version__}, threads={threads}, samples={x.shape[0]}, batch={batch}, "
        f"rounds={rounds} (medians of {clock} time), load average {load:.1f}"
        + ("  (WARNING: busy machine, figures are noisy)" if load > 0.5 * threads + 0.5 else "")
    )
    print(f"{'ceiling':22s} {'GFLOP/s':>8s} {'cpu%':>5s}")
    for k in ceil:
        print(f"{k:22s} {rate[k]:8.1f} {busy[k]:5.0f}")
    header = (
        f"{'case':22s} {'member-samples/s':>17s} {'GFLOP/s':>8s} {'%ceiling':>8s} "
        f"{'%bmm E=5':>8s} {'%steps':>8s} {'cpu%':>5s}"
    )
    print(header)
    print("-" * len(header))
    for k, c in labels.items():
        gf = rate[k] * c.flops / 1e9
        share = 100 * gf / rate[c.ceiling]
        bshare = f"{100 * gf / rate['bmm E=5 fp32']:7.0f}%" if c.precision == "fp32" else ""
        step = f"step GEMMs E={c.ensemble} fp32"
        sshare = f"{100 * gf / rate[step]:7.0f}%" if c.precision == "fp32" and step in rate else ""
        print(
            f"{k:22s} {rate[k]:17,.0f} {gf:8.1f} {share:7.0f}% {bshare:>8s} {sshare:>8s} "
            f"{busy[k]:5.0f}"
        )
    for e in (1, 5):
        fit32, fit16 = f"fit E={e} fp32", f"fit E={e} bf16"
        if fit32 in rate and fit16 in rate:
            share = rate[fit32] * labels[fit32].flops / 1e9 / rate["mm fp32"]
            speed = rate[fit16] / rate[fit32]
            steps = rate[f"step GEMMs E={e} fp32"] / rate["mm fp32"]
            print(
                f"targets E={e}: fit fp32 {100 * share:.0f}% of the fp32 ceiling (>= 80%: "
                f"{'PASS' if share >= 0.8 else 'FAIL'}), bf16/fp32 fit {speed:.2f}x (>= 2x: "
                f"{'PASS' if speed >= 2 else 'FAIL'}); the step's GEMMs alone reach "
                f"{100 * steps:.0f}% of the fp32 ceiling"
            )
    return rate


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
    ap.add_argument("--quick", action="store_true", help="small sizes (12,800 samples)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--samples", type=int, default=None, help="training samples (100000)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (the median is kept)")
    ap.add_argument("--reps", type=int, default=None, help="--variants: timed repetitions")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="time measured")
    ap.add_argument("--compile", action="store_true", help="--variants: also torch.compile")
    ap.add_argument(
        "--variants", action="store_true", help="optimiser / gather / compile variants instead"
    )
    ap.add_argument(
        "--families",
        action="store_true",
        help="only the later families' rows (fit of tr, dk k=5, sq W=20 and W=50; E=1, 5)",
    )
    ap.add_argument(
        "--balance",
        action="store_true",
        help="only E=4,5,6 trainer epochs with and without balanced member GEMMs",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.samples or (12_800 if args.quick else 100_000)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, IN, generator=g), torch.randn(n, OUT, generator=g)
    if args.balance:
        balance_table(x, y, batch=args.batch, reps=args.reps or 5)
    elif args.variants:
        variants_table(x, y, args)
    else:
        malloc_keep_heap()  # what fit() sets (trajmbrl.utils.heap), for the ceilings too
        report(
            x,
            y,
            batch=args.batch,
            rounds=args.rounds or (3 if args.quick else 5),
            gemm_iters=300 if args.quick else 1000,
            cases=FAMILY_CASES if args.families else CASES + FAMILY_CASES,
            clock=args.clock,
        )


def variants_table(x: Tensor, y: Tensor, args: argparse.Namespace) -> None:
    """Trainer epochs next to optimiser / gather / normalisation / compile variants (best of
    ``--reps`` round-robin rounds) and the roofline."""
    threads = torch.get_num_threads()
    n = x.shape[0]
    reps = args.reps or (1 if args.quick else 2)
    b = args.batch
    fps = MLP_FLOPS

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
