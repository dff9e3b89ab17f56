"""Typed settings: declaring a knob once, checking values against it, composing schemas.

A library settings dataclass declares each knob with :func:`setting` (default, range, a short
doc) and calls :func:`check_settings` in ``__post_init__``; errors name the argument
(:class:`~trajmbrl.errors.ArgumentError`). The CLI schema (modes/schema.py) is composed from
those fields with :func:`take` and :func:`group` (plus :func:`key` for CLI-only keys), and
:func:`check_node` checks a plain config dict against it: types, bounds, unknown keys. Plain
Python (no Hydra).
"""

from __future__ import annotations

import difflib
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, field, fields, is_dataclass, make_dataclass
from typing import Any

from trajmbrl.errors import ArgumentError


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


def setting(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A knob of a library settings dataclass: its default, range and a one-line doc (the type
    is the field's annotation; a ``Literal[...]`` lists the choices; a list default is copied
    for every instance)."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def check_settings(obj: Any) -> None:
    """Check every :func:`setting` field of the dataclass instance ``obj`` against its type
    and range.

    :raises ArgumentError: naming the first bad field (``{Owner.name}``).
    """
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if "doc" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        problem = _check_value(hints[f.name], value, f.metadata, strict_str=True)
        if problem:
            raise ArgumentError(f"{{{cls.__name__}.{f.name}}} {problem}, got {value!r}")


#: one field of a composed schema: (name, type, dataclass field)
Part = tuple[str, Any, Any]


def take(source: type, *names: str, nullable: bool = False) -> list[Part]:
    """Schema fields for the :func:`setting` fields ``names`` of the dataclass ``source``: the
    same type and range (``nullable``: ``| None`` added, for overrides where null keeps a value).
    Each records its source (``Owner.name``), so a library error maps back to its key."""
    hints = typing.get_type_hints(source)
    by_name = {f.name: f for f in fields(source)}
    parts = []
    for name in names:
        meta = {**by_name[name].metadata, "source": f"{source.__name__}.{name}"}
        tp = hints[name] | None if nullable else hints[name]
        parts.append((name, tp, field(default=MISSING, metadata=meta)))
    return parts


def own(name: str, tp: Any, spec: Any) -> list[Part]:
    """A CLI-only schema field (``spec`` from :func:`key`)."""
    return [(name, tp, spec)]


def group(name: str, *parts: list[Part]) -> type:
    """A schema dataclass from the fields in ``parts``, in order."""
    return make_dataclass(name, [p for ps in parts for p in ps])


def sources(schema: Any, prefix: str = "") -> dict[str, str]:
    """``Owner.name`` -> dotted key for every field :func:`take` put into ``schema`` (the first
    key wins; groups of ``dict`` values such as ``models.<key>`` are skipped)."""
    hints = typing.get_type_hints(schema)
    out: dict[str, str] = {}
    for f in fields(schema):
        tp = hints[f.name]
        if is_dataclass(tp):
            for src, dotted in sources(tp, f"{prefix}{f.name}.").items():
                out.setdefault(src, dotted)
        elif "source" in f.metadata:
            out.setdefault(f.metadata["source"], f"{prefix}{f.name}")
    return out


def check_node(
    schema: Any, node: Any, prefix: str, known_keys: Callable[[], list[str]]
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


def all_keys(schema: Any, prefix: str) -> list[str]:
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
    if typing.get_origin(tp) is typing.Literal:
        return names.get(type(typing.get_args(tp)[0]), str(tp))
    if typing.get_origin(tp) is list:
        return f"a list of {_describe(typing.get_args(tp)[0]).split(' ', 1)[-1]}s"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return names.get(tp, str(tp))


def _check_value(tp: Any, value: Any, meta: Any, strict_str: bool = False) -> str | None:
    """Why ``value`` does not fit the type ``tp`` and the bounds in ``meta`` (None if it does).

    ``strict_str``: a ``str`` must be a string (the CLI also takes an integer, e.g. ``tag=1``).
    """
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Literal:  # the choices of a string setting
        tp, meta = type(args[0]), {**meta, "choices": args}
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        checked = [_check_value(a, value, meta, strict_str) for a in args if a is not type(None)]
        problems = [p for p in checked if p is not None]
        if len(problems) < len(checked):
            return None
        return " or ".join([problems[0], *(p.removeprefix("must be ") for p in problems[1:])])
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            return f"must be {_describe(tp)} (e.g. [a, b])"
        for item in value:
            problem = _check_value(args[0], item, meta, strict_str)
            if problem:
                return f"must be {_describe(tp)}, each {problem.removeprefix('must be ')}"
        return None
    if typing.get_origin(tp) is dict:
        return None if isinstance(value, dict) else f"must be {_describe(tp)}"
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, numbers.Integral) and not isinstance(value, bool),
        float: isinstance(value, numbers.Real) and not isinstance(value, bool),
        str: isinstance(value, str)
        or (not strict_str and isinstance(value, int) and not isinstance(value, bool)),
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
