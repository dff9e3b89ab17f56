"""``make bench``'s training report: ceilings and every case in one run, shares and targets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "scripts/bench_train.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_report_times_ceilings_and_cases_and_prints_the_targets(capsys):
    bench = _bench()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, bench.IN, generator=g), torch.randn(300, bench.OUT, generator=g)
    extra = bench.Case("bare", 2, "fp32", bench._bare(2, "fp32"))  # a table row added later
    cases = [*bench.CASES, extra]
    rate = bench.report(x, y, batch=128, rounds=1, gemm_iters=2, cases=cases, clock="cpu")
    out = capsys.readouterr().out
    for name in (
        "mm fp32",
        "mm bf16",
        "bmm E=5 fp32",
        "step GEMMs E=1 fp32",
        "step GEMMs E=5 fp32",
    ):
        assert rate[name] > 0 and name in out
    assert out.count("the step's GEMMs alone reach") == 2
    for what in ("bare", "fit"):
        for e in (1, 5):
            for p in ("fp32", "bf16"):
                assert rate[f"{what} E={e} {p}"] > 0 and f"{what} E={e} {p}" in out
    assert rate["bare E=2 fp32"] > 0
    assert (
        out.count("targets E=") == 2
        and "of the fp32 ceiling" in out
        and "medians of cpu time" in out
    )


def test_family_rows_fit_every_later_family_at_e1_and_e5_with_its_own_flops(capsys):
    """``--families``: a full fit of tr, dk (k=5), sq (W=20, 50) at E=1 and E=5, each row's
    share taken with the family's FLOPs per sample (models.cost)."""
    from trajmbrl.models.cost import training_flops_per_sample

    bench = _bench()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, bench.IN, generator=g), torch.randn(300, bench.OUT, generator=g)
    cases = bench.FAMILY_CASES
    assert {(c.what, c.ensemble) for c in cases} == {
        (what, e) for what in ("fit tr", "fit dk k=5", "fit sq W=20", "fit sq W=50") for e in (1, 5)
    }
    sq50 = bench.family_spec("sq", 5, {"window": 50})
    assert (sq50.key, sq50.ensemble_size, sq50.window) == ("sqe", 5, 50)
    assert next(c for c in cases if c.what == "fit sq W=50").flops == (
        training_flops_per_sample(sq50)
    )
    rate = bench.report(x, y, batch=16, rounds=1, gemm_iters=2, cases=cases, clock="cpu")
    out = capsys.readouterr().out
    for c in cases:
        label = f"{c.what} E={c.ensemble} fp32"
        assert rate[label] > 0 and label in out


def test_the_step_gemm_ceiling_counts_the_cases_flops_and_runs_no_more_gemm_work():
    """Credited with MLP_FLOPS per member-sample (as the cases); the GEMMs it runs are those
    counted, less the first layer's input gradient (autograd skips it too)."""
    bench = _bench()
    run, flops = bench.step_gemms(batch=16, e=5, iters=3)
    assert flops == 3 * 5 * 16 * bench.MLP_FLOPS
    dims = [bench.IN, *[bench.HIDDEN] * bench.LAYERS, bench.OUT]
    ran = sum((3 if n else 2) * 2 * i * o for n, (i, o) in enumerate(zip(dims, dims[1:])))
    assert ran * 3 * 5 * 16 == flops - 3 * 5 * 16 * 2 * bench.IN * bench.HIDDEN
    run()
