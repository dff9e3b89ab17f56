"""One :class:`SystemSpec` per simulated system, and the registry that finds it by name.

A system is one module that defines ``SPEC = SystemSpec(...)`` beside its Gymnasium env plus
one YAML ``envs/<name>.yaml`` whose ``system:`` key is the module's import path
(``my_pkg.my_robot`` or ``my_pkg.my_robot:SPEC``). The built-in ones (``trajmbrl.envs.cartpole``,
``.crazyflie``, ``.reacher``) are found by name through :data:`BUILTIN` instead, so their YAMLs
(and the config hashes of their datasets) are unchanged. Every consumer reads the spec: collection
(the Gymnasium id it registers), section 5.5 (``return_reward``), ``mode=control``
(``control_reward``, the controller family, its theta box and reference), the ``oracle``
baseline (``oracle_step``) and ``eval.render`` (``render``). See docs/new-system.md.

This module imports neither Gymnasium nor MuJoCo; a spec module is imported on first use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    from torch import Tensor

#: r(states (..., ds)) -> (...) per-state reward
RewardFn = Callable[[np.ndarray], np.ndarray]
#: batched true step on model states: (state (R, ds), action (R, du)) -> (R, ds) float64
Step = Callable[["Tensor", "Tensor"], "Tensor"]
#: (copies, start (N, ds)) -> the batched step for ``copies`` protocols run side by side
OracleFactory = Callable[[int, np.ndarray], Step]
#: a ControllerSampler (trajmbrl.controllers.base; controllers sit above envs, so only named)
Sampler = Any

#: the systems shipped with trajmbrl: name -> module that defines its SPEC
BUILTIN: dict[str, str] = {
    "cartpole": "trajmbrl.envs.cartpole",
    "cartpole_heavy": "trajmbrl.envs.cartpole:HEAVY_SPEC",
    "crazyflie": "trajmbrl.envs.crazyflie",
    "reacher": "trajmbrl.envs.reacher",
}


@dataclass(frozen=True)
class SystemSpec:
    """Everything trajmbrl knows about one simulated system (plain data and functions).

    :param name: the ``envs=<name>`` of the CLI (and ``env.name``).
    :param gym_id: the Gymnasium id registered for ``entry_point`` (``"pkg.mod:EnvClass"`` or a
        callable returning the env).
    :param state_names: (do,) names of the observation entries.
    :param state_indices: observation entries that form the model state (None = all).
    :param horizon: default episode length of ``mode=control`` from Python (the CLI passes
        ``env.horizon`` of the YAML).
    :param return_reward: per-state reward of section 5.5 on model states (..., ds) -> (...).
    :param control_reward: per-state reward of ``mode=control`` (..., ds) -> (...); scores are
        its mean over ``s_1..s_H``. None: no control task.
    :param controller: () -> the sampler whose theta ``mode=control`` searches, or its
        ``"pkg.module:Factory"`` (imported on use; the built-in ones name trajmbrl.controllers).
    :param theta_box: sampler -> (low (dp,), high (dp,)) box of the search.
    :param reference: sampler -> (dp,) hand-designed theta, or None.
    :param per_episode: theta is chosen per episode from its initial state (reacher).
    :param control_env_kwargs: env constructor arguments of control episodes (over the YAML's).
    :param action_low, action_high: (du,) action bounds for action-sequence planners (or None).
    :param oracle_step: (copies, start) -> batched true step for the ``oracle`` baseline; None:
        no simulator replay.
    :param render: ``"pkg.mod:function"`` writing a true-vs-predicted video
        ``f(true (T+1, ds), pred (T+1, ds), path, title=...) -> Path``; None: not supported.
    """

    name: str
    gym_id: str
    entry_point: str | Callable[..., Any]
    state_names: tuple[str, ...]
    return_reward: RewardFn
    state_indices: tuple[int, ...] | None = None
    horizon: int = 200
    control_reward: RewardFn | None = None
    controller: str | Callable[[], Sampler] | None = None
    theta_box: Callable[[Sampler], tuple[np.ndarray, np.ndarray]] | None = None
    reference: Callable[[Sampler], np.ndarray | None] | None = None
    per_episode: bool = False
    control_env_kwargs: dict[str, Any] = field(default_factory=dict)
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    oracle_step: OracleFactory | None = None
    render: str | None = None

    def __post_init__(self) -> None:
        control = {
            "control_reward": self.control_reward,
            "controller": self.controller,
            "theta_box": self.theta_box,
        }
        given = [k for k, v in control.items() if v is not None]
        if given and len(given) < len(control):
            raise TrajmbrlError(
                f"SystemSpec {self.name!r}: control_reward, controller and theta_box go together "
                f"(a control task), got only {', '.join(given)}"
            )

    def register_gym(self) -> None:
        """Register ``gym_id`` with Gymnasium (no-op when already registered)."""
        import gymnasium as gym

        if self.gym_id not in gym.registry:
            gym.register(id=self.gym_id, entry_point=self.entry_point, disable_env_checker=True)

    def make_controller(self) -> Sampler:
        """A new sampler of the control task (``controller`` called, imported first if named)."""
        if self.controller is None:
            raise TrajmbrlError(f"system {self.name!r} has no controller")
        factory = self.controller
        if isinstance(factory, str):
            factory = _attribute(factory, "controller")
        return factory()

    def render_function(self) -> Callable[..., Any] | None:
        """The ``render`` function, imported on use (None when the system has none)."""
        return None if self.render is None else _attribute(self.render, "render")


_REGISTRY: dict[str, SystemSpec] = {}


def register_system(spec: SystemSpec, *, replace: bool = False) -> SystemSpec:
    """Add ``spec`` to the registry under its name (and its id to Gymnasium if it is loaded).

    :param replace: replace a spec of that name (``envs=gym``: one spec per configured env id).
    :raises TrajmbrlError: when another spec of that name is registered (and not ``replace``).
    """
    known = _REGISTRY.get(spec.name)
    if known is not None and known is not spec and not replace:
        raise TrajmbrlError(f"system {spec.name!r} is registered twice (another SystemSpec)")
    _REGISTRY[spec.name] = spec
    if "gymnasium" in sys.modules:
        spec.register_gym()
    return spec


def load_system(path: str) -> SystemSpec:
    """Import the spec at ``path`` (``"pkg.module"`` for its ``SPEC``, or ``"pkg.module:NAME"``)
    and register it.

    :raises TrajmbrlError: when the module cannot be imported or holds no SystemSpec.
    """
    spec = _attribute(path if ":" in path else f"{path}:SPEC", "system")
    if not isinstance(spec, SystemSpec):
        raise TrajmbrlError(f"system {path!r} is not a SystemSpec (got {type(spec).__name__})")
    return register_system(spec)


def find_system(name: str) -> SystemSpec | None:
    """The registered or built-in spec named ``name``; None for logged data (no simulator)."""
    if name not in _REGISTRY and name in BUILTIN:
        load_system(BUILTIN[name])
    return _REGISTRY.get(name)


def system_names() -> list[str]:
    """Every known system: built-in and registered, sorted."""
    return sorted({*BUILTIN, *_REGISTRY})


def all_systems() -> list[SystemSpec]:
    """Every known spec (imports the built-in modules)."""
    return [s for s in (find_system(n) for n in system_names()) if s is not None]


def _attribute(path: str, what: str) -> Any:
    """``"pkg.module:NAME"`` -> the object (one-line errors naming the path)."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise TrajmbrlError(f"{what} {path!r}: cannot import {module!r} ({exc})") from None
    except AttributeError:
        raise TrajmbrlError(f"{what} {path!r}: module {module!r} has no {name!r}") from None


def check_state_dim(state: np.ndarray, ds: int, env: str) -> np.ndarray:
    """``state`` as float64, or a TrajmbrlError unless its last axis has ``ds`` entries."""
    state = np.asarray(state, dtype=np.float64)
    if state.shape[-1] != ds:
        raise TrajmbrlError(f"the {env} reward expects {ds}-dim states, got shape {state.shape}")
    return state
