"""Statistics over tidy metrics frames: row labels, skill, seed aggregation, Holm correction.

A *row* of every result table is one (model, protocol, variant): seeds are never pooled with
trajectories. Per seed a statistic is taken over test trajectories; tables then report the
median over seeds and the min-max across seeds. Significance tests pair per-trajectory errors
averaged over seeds (:func:`seed_mean`).

Divergence is one rule everywhere (:func:`trajmbrl.evaluation.metrics.at_ceiling`): a NaN or
non-finite error, or one at or above the error ceiling, is the worst possible value; it is kept
(as ``inf``) through medians and ranks, never dropped.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from trajmbrl import configs
from trajmbrl.configs import model_config
from trajmbrl.evaluation.metrics import worst_as_inf

#: the columns that identify one table row (a run dir fixes env and data)
ROW = ["env", "data", "model", "action_source", "variant"]
#: baseline keys in table order (oracle replays the true simulator: shown, never a baseline)
BASELINE_KEYS = ("zero", "hmean", "lin", "lint", "oracle")
#: reference of the skill score
REFERENCE = "hmean"
_PROTOCOLS = {"logged": "logged", "controller": "closed loop"}


@cache
def model_keys() -> tuple[str, ...]:
    """The trained model keys (conf/models/), one-step first: d de p pe t te tp tpe."""
    keys = configs.model_keys()
    return tuple(sorted(keys, key=lambda k: (model_config(k)["family"] != "one_step", k)))


@cache
def counterpart(key: str) -> str | None:
    """The one-step key that means the same as trajectory key ``key`` (t -> d, tpe -> pe)."""
    if key not in model_keys() or model_config(key)["family"] != "trajectory":
        return None
    meaning = _meaning(key)
    return next(
        (
            k
            for k in model_keys()
            if model_config(k)["family"] == "one_step" and _meaning(k) == meaning
        ),
        None,
    )


def _meaning(key: str) -> tuple[bool, bool]:
    cfg = model_config(key)
    return bool(cfg["probabilistic"]), int(cfg["ensemble_size"]) > 1


def protocol_name(source: str) -> str:
    """Protocol of an action source: ``controller-ts1`` -> ``closed loop, ts1``, ``direct`` ->
    ``""`` (trajectory models and baselines need no actions)."""
    base, _, propagation = str(source).partition("-")
    if base == "direct":
        return propagation
    name = _PROTOCOLS.get(base, base)
    return f"{name}, {propagation}" if propagation else name


def row_label(model: str, source: str) -> str:
    """Legend / table name of a row: ``t``, ``hmean``, ``d (logged)``, ``d (closed loop)``."""
    protocol = protocol_name(source)
    return f"{model} ({protocol})" if protocol else str(model)


def sort_key(model: str, source: str) -> tuple[int, int, str]:
    """Table order: model keys, then baselines; direct, logged, then closed loop."""
    order = (*model_keys(), *BASELINE_KEYS)
    protocol = {"direct": 0, "logged": 1, "controller": 2}.get(str(source).partition("-")[0], 3)
    return (order.index(model) if model in order else len(order), protocol, str(source))


def label_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a ``row`` label column; the variant is appended when the frame holds several."""
    pairs = frame[["model", "action_source"]].drop_duplicates()
    names = {(m, s): row_label(m, s) for m, s in pairs.itertuples(index=False)}
    label = pd.Series(
        [names[(m, s)] for m, s in zip(frame["model"], frame["action_source"])],
        index=frame.index,
        dtype=object,
    )
    if frame["variant"].nunique() > 1:
        label = label + " [" + frame["variant"].astype(str) + "]"
    return frame.assign(row=label)


def skill_scores(nmse: pd.DataFrame) -> pd.DataFrame:
    """nMSE divided by :data:`REFERENCE`'s nMSE on the same trajectory and horizon.

    :param nmse: tidy ``nmse`` rows (:data:`ROW`, seed, traj, horizon, value) including the
        reference rows (any seed; averaged over its seeds). A variant is matched to the
        reference of the same variant, or to the reference's only variant.
    :returns: the same rows with ``metric = "skill"``; diverged errors give ``inf``. Empty when
        the reference was not evaluated.
    """
    ref = nmse[nmse["model"] == REFERENCE]
    if ref.empty:
        return nmse.iloc[:0].assign(metric="skill")
    ref = ref.groupby(["variant", "traj", "horizon"], as_index=False)["value"].mean()
    ref_variants = set(ref["variant"])
    only = next(iter(ref_variants)) if len(ref_variants) == 1 else None
    match = nmse["variant"].map(lambda v: v if v in ref_variants else only)
    keyed = nmse.assign(_ref_variant=match)
    merged = keyed.merge(
        ref.rename(columns={"variant": "_ref_variant", "value": "_ref"}),
        on=["_ref_variant", "traj", "horizon"],
        how="left",
        validate="m:1",
    )
    value = worst_as_inf(merged["value"])
    with np.errstate(divide="ignore", invalid="ignore"):
        skill = np.where(np.isinf(value), np.inf, value / merged["_ref"].to_numpy())
    out = merged.drop(columns=["_ref_variant", "_ref"]).assign(metric="skill", value=skill)
    return out[out["value"].notna()].reset_index(drop=True)


def per_seed_median(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median over test trajectories per (``by``, seed, metric, horizon); diverged = ``inf``.

    :returns: columns ``by + [seed, metric, horizon, value]``.
    """
    keys = [*by, "seed", "metric", "horizon"]
    values = frame.assign(value=worst_as_inf(frame["value"]))
    return values.groupby(keys, sort=True)["value"].median().reset_index()


def seed_summary(per_seed: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Median over seeds and the min-max across seeds of a per-seed statistic.

    :param per_seed: rows ``keys + [seed, value]`` (one value per seed and key).
    :returns: columns ``keys + [median, min, max, n_seeds]``.
    """
    grouped = per_seed.groupby(keys, sort=True)["value"]
    out = grouped.agg(["median", "min", "max"])
    out["n_seeds"] = per_seed.groupby(keys, sort=True)["seed"].nunique()
    return out.reset_index()


def seed_mean(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per-trajectory errors averaged over seeds (diverged in any seed -> ``inf``).

    :returns: columns ``by + [traj, horizon, value]``.
    """
    values = frame.assign(value=worst_as_inf(frame["value"]))
    return values.groupby([*by, "traj", "horizon"], sort=True)["value"].mean().reset_index()


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family = the given tests; NaN entries are ignored).

    ``p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))`` for the sorted p-values, m = number
    of non-NaN tests.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out
