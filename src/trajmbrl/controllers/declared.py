"""A controller declared in plain data (a log config, a Gymnasium env's YAML) -> its sampler.

A declaration is a mapping with either ``family`` (``linear`` | ``pd``, see
:mod:`trajmbrl.controllers.families`) and its keys ``theta_map``, ``position``, ``velocity``,
``action_low``, ``action_high``; or ``_target_`` (also spelt ``target``) naming your own class
(``"my_pkg.my_module.MyCtl"`` or ``"my_pkg.my_module:MyCtl"``) that implements
:class:`~trajmbrl.controllers.base.ControllerSampler`, built with ``kwargs``. Neither: no
controller is known (the logged-action protocol only).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.controllers.families import FAMILIES, FamilySampler
from trajmbrl.errors import TrajmbrlError


def is_declared(decl: Mapping[str, Any] | None) -> bool:
    """True when ``decl`` names a family or a ``_target_`` class."""
    return decl is not None and bool(decl.get("family") or _target(decl))


def _target(decl: Mapping[str, Any]) -> Any:
    """The own class of a declaration: ``_target_`` (or ``target``, Hydra-safe spelling)."""
    return decl.get("_target_") or decl.get("target")


def import_object(path: str) -> Any:
    """``"pkg.mod.Name"`` or ``"pkg.mod:Name"`` -> the object (one-line errors)."""
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, ValueError) as exc:
        raise TrajmbrlError(
            f"controller _target_={path!r}: cannot import {module!r} ({exc})"
        ) from None
    except AttributeError:
        raise TrajmbrlError(f"controller _target_={path!r}: {module!r} has no {name!r}") from None


def declared_sampler(
    decl: Mapping[str, Any] | None,
    *,
    param_names: Sequence[str],
    state_names: Sequence[str],
    action_dim: int,
    box: Mapping[str, Sequence[float]] | None = None,
) -> ControllerSampler | None:
    """The sampler of declaration ``decl`` (module doc), None when it declares none.

    :param param_names: (dp,) theta names; a ``_target_`` class must report the same.
    :param box: theta name -> (low, high) for :meth:`~FamilySampler.sample_params`.
    """
    if not is_declared(decl):
        return None
    assert decl is not None
    target, family = _target(decl), decl.get("family")
    if target and family:
        raise TrajmbrlError(
            f"controller: give a family ({', '.join(FAMILIES)}) or your own _target_, not both "
            f"(family={family}, _target_={target})"
        )
    if target:
        sampler = import_object(str(target))(**dict(decl.get("kwargs") or {}))
        if not isinstance(sampler, ControllerSampler):
            raise TrajmbrlError(
                f"controller _target_={target}: {type(sampler).__name__} lacks the "
                "ControllerSampler methods (param_names, sample_params, build, describe, accept)"
            )
        if tuple(sampler.param_names) != tuple(param_names):
            raise TrajmbrlError(
                f"controller _target_={target} names theta {list(sampler.param_names)}, but the "
                f"data's theta is {list(param_names)}"
            )
        return sampler
    theta_map = dict(decl.get("theta_map") or {})
    if not theta_map and family == "linear":
        theta_map = {"gain": list(param_names)}  # theta is the gain matrix, row-major
    return FamilySampler(
        str(family),
        param_names,
        theta_map,
        state_names=state_names,
        action_dim=action_dim,
        position=list(decl.get("position") or ()),
        velocity=list(decl.get("velocity") or ()),
        action_low=decl.get("action_low"),
        action_high=decl.get("action_high"),
        box=box,
    )


def describe_declared(sampler: ControllerSampler, decl: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's record of a declared controller: the declaration and the sampler's own
    description."""
    return {"declaration": dict(decl), **sampler.describe()}


def action_mismatch(
    sampler: ControllerSampler,
    states: np.ndarray,
    actions: np.ndarray,
    params: np.ndarray,
    lengths: np.ndarray,
) -> float:
    """How well the declared controller explains the logged actions: the RMS of
    ``controller(s_t) - a_t`` over every valid step, in units of the logged actions' standard
    deviation (0: it reproduces them exactly; about 1 or more: it is not this log's controller).

    :param states: (N, T+1, ds); actions (N, T, du); params (N, dp); lengths (N,).
    """
    controller = sampler.build(params)
    controller.reset()
    t_max = int(lengths.max())
    valid = np.arange(t_max)[None, :] < lengths[:, None]  # (N, T)
    err = np.zeros_like(actions[:, :t_max])
    for t in range(t_max):
        obs = np.nan_to_num(states[:, t])
        err[:, t] = np.asarray(controller.act(obs), dtype=np.float64) - actions[:, t]
    scale = np.std(actions[:, :t_max][valid], axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return float(np.sqrt(np.mean((err[valid] / scale) ** 2)))


def gym_sampler(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    state_indices: Sequence[int] | None = None,
    theta: Sequence[str] = (),
    theta_low: Sequence[float] = (),
    theta_high: Sequence[float] = (),
    **declaration: Any,
) -> ControllerSampler:
    """The declared controller of Gymnasium env ``env_id`` (``envs=gym``): states ``s0..`` are
    the observation entries (or ``state_indices`` of them), actions are clipped to the action
    space unless ``action_low`` / ``action_high`` are given, theta (entries named ``theta``) is
    drawn uniformly from the box ``[theta_low, theta_high]``.

    :param declaration: the keys of a declaration (module doc).
    """
    from trajmbrl.envs.gym import spaces

    sp = spaces(env_id, dict(env_kwargs or {}))
    names = [f"s{i}" for i in range(sp.obs_dim)]
    if state_indices is not None:
        names = [names[i] for i in state_indices]
    decl = dict(declaration)
    if decl.get("action_low") is None:
        decl["action_low"] = sp.action_low.tolist()
    if decl.get("action_high") is None:
        decl["action_high"] = sp.action_high.tolist()
    names_theta = [str(n) for n in theta]
    if not (len(theta_low) == len(theta_high) == len(names_theta)):
        raise TrajmbrlError(
            f"controller theta_low and theta_high need one bound per theta name {names_theta}, "
            f"got {list(theta_low)} and {list(theta_high)}"
        )
    box = {n: (lo, hi) for n, lo, hi in zip(names_theta, theta_low, theta_high)}
    sampler = declared_sampler(
        decl, param_names=names_theta, state_names=names, action_dim=sp.action_low.size, box=box
    )
    if sampler is None:
        raise TrajmbrlError(f"envs=gym ({env_id}) needs a controller: a family or a _target_")
    return sampler
