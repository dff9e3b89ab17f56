"""Checking a plain config dict against typed dataclasses: types, bounds, unknown keys.

The schema itself (every key of every group) lives in modes/schema.py; this module is the
machinery it uses, plain Python (no Hydra). A schema field is declared with :func:`key`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any


def key(
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    optional: bool = False,
) -> Any:
    """A schema field: bounds apply to numbers (and to each element of a list of numbers)."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "optional": optional}
    return field(default=MISSING, metadata=meta)


def check_node(
    schema: type, node: Any, prefix: str, known_keys: Callable[[], list[str]]
) -> list[str]:
    """Problems of ``node`` (a plain dict) against the dataclass ``schema``.

    :param known_keys: every known dotted key (see :func:`all_keys`), asked only to name the
        closest one when a key is unknown.
    """
    if not isinstance(node, dict):
        return [
            f"config key {prefix.rstrip('.') or '<root>'} must be a group of keys, got {node!r}"
        ]
    hints = typing.get_type_hints(schema)
    known = {f.name: f for f in fields(schema)}
    errors = []
    for name in node:
        if name not in known:
            errors.append(_unknown(f"{prefix}{name}", schema, prefix, known_keys()))
    for name, spec in known.items():
        full = f"{prefix}{name}"
        if name not in node:
            if not spec.metadata.get("optional"):
                errors.append(f"config key {full} is missing (it has no default in conf/)")
            continue
        tp = hints[name]
        if tp is Any:
            continue
        if is_dataclass(tp):
            errors += check_node(tp, node[name], f"{full}.", known_keys)
            continue
        item = typing.get_args(tp)[-1] if typing.get_origin(tp) is dict else None
        if is_dataclass(item) and isinstance(node[name], dict):
            for sub, value in node[name].items():
                errors += check_node(item, value, f"{full}.{sub}.", known_keys)
            continue
        problem = _check_value(tp, node[name], spec.metadata)
        if problem:
            errors.append(f"config key {full} {problem}, got {node[name]!r}")
    return errors


def _unknown(full: str, schema: type, prefix: str, known: list[str]) -> str:
    """'unknown config key' naming the closest known key (same leaf name in any group first)."""
    leaf = full.rsplit(".", 1)[-1]
    by_leaf: dict[str, str] = {}
    for k in known:  # the first group that has the name wins (model.epochs over models.*)
        by_leaf.setdefault(k.rsplit(".", 1)[-1], k)
    close = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.75)
    if close and by_leaf[close[0]] == full:
        hint = " (not a key of this env)"
    elif close:
        hint = f" (did you mean {by_leaf[close[0]]}?)"
    else:
        near = difflib.get_close_matches(
            full, [f"{prefix}{f.name}" for f in fields(schema)], n=1, cutoff=0.8
        )
        hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown config key {full}{hint}; the known keys are listed in modes/schema.py"


def all_keys(schema: type, prefix: str) -> list[str]:
    """Every dotted key of ``schema`` (``<key>`` stands for the keys of a dict of dataclasses)."""
    hints = typing.get_type_hints(schema)
    out = []
    for f in fields(schema):
        tp = hints[f.name]
        item = typing.get_args(tp)[-1] if typing.get_origin(tp) is dict else None
        if is_dataclass(item):
            out += all_keys(item, f"{prefix}{f.name}.<key>.")
        elif is_dataclass(tp):
            out += all_keys(tp, f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _describe(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) is list:
        return f"a list of {_describe(typing.get_args(tp)[0]).split(' ', 1)[-1]}s"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return names.get(tp, str(tp))


def _check_value(tp: Any, value: Any, meta: Any) -> str | None:
    """Why ``value`` does not fit the type ``tp`` and the bounds in ``meta`` (None if it does)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_check_value(a, value, meta) for a in args if a is not type(None)]
        if None in problems:
            return None
        return " or ".join([problems[0], *(p.removeprefix("must be ") for p in problems[1:])])
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            return f"must be {_describe(tp)} (e.g. [a, b])"
        for item in value:
            problem = _check_value(args[0], item, meta)
            if problem:
                return f"must be {_describe(tp)}, each {problem.removeprefix('must be ')}"
        return None
    if typing.get_origin(tp) is dict:
        return None if isinstance(value, dict) else f"must be {_describe(tp)}"
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str | int) and not isinstance(value, bool),
    }[tp]
    if not ok:
        return f"must be {_describe(tp)}"
    if meta.get("choices") and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}"
    if tp in (int, float) and not _in_bounds(value, meta):
        return f"must be {_describe(tp)}{_bounds(meta)}"
    return None


def _in_bounds(value: float, meta: Any) -> bool:
    return not (
        (meta.get("ge") is not None and value < meta["ge"])
        or (meta.get("gt") is not None and value <= meta["gt"])
        or (meta.get("le") is not None and value > meta["le"])
        or (meta.get("lt") is not None and value >= meta["lt"])
        or value != value
    )  # NaN


def _bounds(meta: Any) -> str:
    ops = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
    parts = [f"{sym} {meta[k]}" for k, sym in ops if meta.get(k) is not None]
    return f" {' and '.join(parts)}" if parts else ""
