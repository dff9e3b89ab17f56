"""Matrix-product precision: ``fp32``, or ``bf16`` products on fp32 master weights.

``bf16`` runs a block under ``torch.autocast(dtype=bfloat16)``: the linear layers
(``baddbmm``) take bfloat16 copies of their inputs and weights (fp32 accumulation), so the
hidden activations are bfloat16, while the parameters, the optimiser state, the network's
output (cast back by :class:`trajmbrl.models.ensemble.EnsembleMLP`), the losses and all
storage stay float32. oneDNN's ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"`` was
tried first: in torch 2.13 it leaves ``bmm``/``baddbmm`` on CPU in exact fp32 (no speed-up,
identical results), so autocast is the mechanism. Throughput: ``scripts/bench_train.py``
(``make bench``); whether bf16 changes a result: ``scripts/bench_precision.py --decide`` (per
key, every table entry against the fp32 seed range; docs/results.md states the outcome).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path
from typing import Literal, get_args

import torch

log = logging.getLogger("trajmbrl")
#: matrix-product precisions (``TrainConfig.precision``, ``PredictSettings.precision``)
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@functools.cache
def fast_bf16(device: str = "cpu") -> tuple[bool, str]:
    """Whether ``device`` has native bf16 matrix instructions, and a one-line reason."""
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
        return ok, "CUDA compute capability >= 8.0" if ok else "GPU older than Ampere (sm_80)"
    try:
        flags = next(
            (ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")),
            "",
        ).split()
    except OSError:
        flags = []
    found = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    if found:
        return True, f"CPU has {', '.join(found)}"
    return False, "CPU lacks avx512_bf16/amx_bf16: bf16 products are emulated (likely slower)"


@functools.cache
def _warn_slow(device: str) -> None:
    ok, why = fast_bf16(device)
    if not ok:
        log.warning("precision=bf16 on %s: %s", device, why)


def matmul_precision(
    precision: str, device: torch.device | str = "cpu"
) -> contextlib.AbstractContextManager[None]:
    """Context manager: the block's matrix products in ``fp32`` (exact) or ``bf16``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dev = torch.device(device).type
    if precision == "fp32":
        return contextlib.nullcontext()
    _warn_slow(dev)
    return torch.autocast(dev, dtype=torch.bfloat16)
