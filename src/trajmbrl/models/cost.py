"""Training FLOPs per member-sample of every model family, counted from the layer shapes.

A training step costs ~3x its forward (forward + backward); a forward costs ``2 * in * out`` per
dense product. A *sample* is what one training row is for the family: a pair for the MLP
families (one-step and trajectory), a k-step window for a one-step model trained with the
k-step loss (``unroll`` = k: k MLP steps), a W-step window for the sequence family (the GRU's
input projection and initial state once, then per step the recurrent and head products; see
:meth:`trajmbrl.models.sequence.EnsembleGRU.forward`). The element-wise work (activations,
gates, the loss, Adam) is not counted. Used by the results page's training FLOPs
(:mod:`trajmbrl.reports.benchmark_page`), ``scripts/bench_train.py`` and
``scripts/paper_cost.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trajmbrl.models.dynamics import ModelSpec

#: a training step (forward + backward) over its forward
TRAIN_OVER_FORWARD = 3


def mlp_training_flops(in_dim: int, out_dim: int, hidden: int, layers: int) -> int:
    """Training FLOPs of one sample through an MLP ``in -> hidden x layers -> out``:
    ``3 * sum_l 2 * in_l * out_l``."""
    dims = [in_dim] + [hidden] * layers + [out_dim]
    return TRAIN_OVER_FORWARD * sum(2 * a * b for a, b in zip(dims[:-1], dims[1:]))


def training_flops_per_sample(spec: ModelSpec | Mapping[str, Any]) -> int:
    """Training FLOPs of one member on one sample of ``spec`` (a :class:`ModelSpec` or its
    dict, e.g. a checkpoint's ``spec``; settings a dict leaves out take ModelSpec's defaults).

    MLP families: ``3 * sum 2*in*out`` (in = ds + du one-step, ds + 1 + dp trajectory), times
    k for ``unroll`` = k; sequence: ``3 * (2*in*4h + W * 2*(h*3h + h*out))`` (in = ds + dp).
    """
    s = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(dict(spec))
    out = s.state_dim * (2 if s.probabilistic else 1)
    h = s.hidden
    if s.family == "sequence":
        in_dim = s.state_dim + s.param_dim
        per_step = 2 * (h * 3 * h + h * out)  # recurrent (h -> 3h) and head (h -> out)
        return TRAIN_OVER_FORWARD * (2 * in_dim * 4 * h + s.window * per_step)
    in_dim = s.state_dim + (s.action_dim if s.family == "one_step" else s.param_dim + 1)
    return mlp_training_flops(in_dim, out, h, s.layers) * s.unroll


def checkpoint_training_flops(
    spec: Mapping[str, Any], meta: Mapping[str, Any], member_epochs: int = 0
) -> float:
    """Training FLOPs of a saved model (every member) from its checkpoint's ``spec`` and
    ``meta``: with ``member_epochs`` (epochs summed over members, e.g. the rows of its
    history) and no step budget, epochs x its kept training samples; else its Adam steps x
    min(batch, kept samples) x members."""
    per_sample = training_flops_per_sample(spec)
    cfg = meta.get("config", {}) or {}
    kept = int((meta.get("samples") or {}).get("kept") or 0)
    if member_epochs and not (cfg.get("train") or {}).get("steps"):
        fit = kept * (1 - float((cfg.get("train") or {}).get("val_fraction") or 0))
        return float(member_epochs * fit * per_sample)
    key_cfg = (cfg.get("models") or {}).get(spec["key"], {}) or {}
    batch = int((cfg.get("model") or {}).get("batch_size") or key_cfg.get("batch_size") or 256)
    steps = int(meta.get("steps") or 0)
    return float(steps * min(batch, kept) * int(spec["ensemble_size"]) * per_sample)
