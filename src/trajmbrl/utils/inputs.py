"""Argument checks shared by every door of the library (plain Python, below data and models).

One-line TrajmbrlErrors naming the argument: a wrong type, a wrong shape (``theta has shape
(3, 24), expected (24, 3)``), an empty array, NaN/inf, an integer out of range. The API's own
per-function checkers are in ``trajmbrl/api_checks.py``; storage, checkpoints and the model
classes call the door helpers at the end of this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.limits import SEED_MAX

#: the largest count (a size, a horizon, a number of epochs) the API accepts
COUNT_MAX = 2**31 - 1


def type_name(value: Any) -> str:
    return type(value).__name__


def numeric_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array; a string, None or non-numeric object is refused."""
    if value is None or isinstance(value, str | bytes | Mapping):
        raise TrajmbrlError(f"{name} must be a numeric array, got {type_name(value)}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TrajmbrlError(
            f"{name} must be a numeric array, got {type_name(value)} that is not one"
        ) from None
    return arr


def _fmt(shape: Sequence[int | str]) -> str:
    """A shape like ``(24, 30, du)`` (a 1-tuple keeps its comma)."""
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def shaped(
    name: str,
    value: Any,
    dims: Sequence[str],
    sizes: dict[str, int],
    *,
    may_be_empty: Sequence[str] = (),
) -> np.ndarray:
    """``value`` as a float64 array of shape ``dims`` (symbols bound in ``sizes`` on first use).

    :param dims: e.g. ``("N", "ds")``; a symbol already in ``sizes`` must match it, a new one is
        bound to the array's size. :param may_be_empty: symbols allowed to be 0 (e.g. ``dp``).
    :returns: the array (float64, same shape).
    """
    arr = numeric_array(name, value)
    known = [sizes.get(d, d) for d in dims]
    ok = arr.ndim == len(dims) and all(
        not isinstance(k, int) or k == a for k, a in zip(known, arr.shape)
    )
    if not ok:
        raise TrajmbrlError(f"{name} has shape {arr.shape}, expected {_fmt(known)}")
    for d, a in zip(dims, arr.shape):
        sizes.setdefault(d, a)
        if a == 0 and d not in may_be_empty:
            raise TrajmbrlError(
                f"{name} is empty (shape {arr.shape}, expected {_fmt(dims)} with {d} >= 1)"
            )
    return arr


def finite(name: str, arr: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Refuse NaN/inf in ``arr`` (where ``valid`` is True, same leading shape, if given)."""
    values = arr if valid is None else arr[valid]
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(~np.isfinite(arr) & (True if valid is None else _expand(valid, arr)))
        at = ", ".join(str(int(i)) for i in where[0])
        raise TrajmbrlError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index [{at}])"
        )


def _expand(mask: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """``mask`` broadcast over ``arr``'s trailing axes."""
    return mask.reshape(mask.shape + (1,) * (arr.ndim - mask.ndim))


def integer(
    name: str, value: Any, *, lo: int | None = None, hi: int = COUNT_MAX, none: bool = False
) -> None:
    """Refuse a non-integer (bools too) or a value outside ``[lo, hi]``; None when ``none``."""
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        kind = " or None" if none else ""
        raise TrajmbrlError(f"{name} must be an integer{kind}, got {value!r}")
    if lo is not None and value < lo:
        raise TrajmbrlError(f"{name} must be >= {lo}, got {value}")
    if value > hi:
        raise TrajmbrlError(f"{name} must be <= {hi}, got {value}")


def seed(value: Any, name: str = "seed") -> None:
    """A seed every generator accepts: an integer in ``[0, SEED_MAX]`` (2**32 - 1)."""
    integer(name, value, lo=0, hi=SEED_MAX)


def path_like(name: str, value: Any) -> None:
    """A file path: str or os.PathLike, not empty."""
    if not isinstance(value, str | os.PathLike) or str(value) == "":
        raise TrajmbrlError(f"{name} must be a non-empty path (str or Path), got {value!r}")


def instance(name: str, value: Any, cls: type) -> None:
    """``value`` is a ``cls``."""
    if not isinstance(value, cls):
        raise TrajmbrlError(f"{name} must be a {cls.__name__}, got {type_name(value)}")


def mapping(name: str, value: Any, *, none: bool = False) -> None:
    """``value`` is a dict (or None when ``none``)."""
    if not (isinstance(value, Mapping) or (none and value is None)):
        kind = " or None" if none else ""
        raise TrajmbrlError(f"{name} must be a dict{kind}, got {type_name(value)}")


# ---- the doors of storage, checkpoints and models (one call at the top of each) ----


def load_dataset(path: Any) -> None:
    """A dataset path (``<path>``, ``<path>.npz`` or ``<path>.json``)."""
    path_like("path", path)


def save_dataset(data: Any, path: Any, manifest: Any, cls: type) -> None:
    """A dataset (a ``cls``, TrajectoryData), a path and a manifest dict (or None)."""
    instance("data", data, cls)
    path_like("path", path)
    mapping("manifest", manifest, none=True)


def save_checkpoint(path: Any, model: Any, meta: Any, cls: type) -> None:
    """A checkpoint path, a model (a ``cls``, DynamicsModel) and a meta dict."""
    path_like("path", path)
    instance("model", model, cls)
    mapping("meta", meta)


def load_checkpoint(path: Any, expect: Any) -> None:
    """A checkpoint path and ``expect`` a dict or None."""
    path_like("path", path)
    mapping("expect", expect, none=True)


def dataset_arrays(data: Any, names: Sequence[str]) -> None:
    """Every array field of a :class:`TrajectoryData` is a numpy array."""
    for name in names:
        value = getattr(data, name)
        if not isinstance(value, np.ndarray):
            raise TrajmbrlError(
                f"dataset array '{name}' must be a numpy array, got {type_name(value)}"
            )


def model_spec(spec: Any, cls: type) -> None:
    """A model spec (a ``cls``, ModelSpec) whose sizes a model can be built with."""
    instance("spec", spec, cls)
    for name in ("state_dim", "action_dim", "param_dim", "ensemble_size", "hidden", "layers"):
        integer(f"spec.{name}", getattr(spec, name), lo=0)
