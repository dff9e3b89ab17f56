"""Any Gymnasium environment as a system (``envs=gym env.id=<id>``): its SystemSpec from the id.

The model state is the observation (or ``state_indices`` of it), actions come from the action
space (a ``Box``). The controller, its theta box and the rewards are declared in the YAML and
passed in by the modes (:func:`gym_system`); this module knows only the environment.

The ``oracle`` replay needs the true state behind an observation. MuJoCo environments whose
observation is ``qpos[k:]`` followed by ``qvel`` (k leading positions left out, the root's
translation the dynamics do not depend on) are restored exactly through
``env.unwrapped.set_state`` with those positions at 0: ``InvertedPendulum-v5`` (k = 0),
``HalfCheetah-v5``, ``Hopper-v5``, ``Walker2d-v5`` (k = 1), ``Swimmer-v5`` (k = 2); Hopper and
Walker2d clip the observed velocities to +-10, so their replay is exact only below that.
Environments whose observation is not such a state (``Reacher-v5``, ``Pusher-v5``,
``InvertedDoublePendulum-v5``, ``Ant-v5``: cos/sin, targets, contact forces; every non-MuJoCo
env, e.g. ``Pendulum-v1``) have no oracle (:func:`restorable` says which).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trajmbrl.envs.spec import RewardFn, Sampler, Step, SystemSpec
from trajmbrl.errors import TrajmbrlError

#: the system name of every Gymnasium env (its datasets are told apart by ``data_tag``)
NAME = "gym"


def slug(env_id: str) -> str:
    """A file-name-safe tag for an env id: ``ALE/Pong-v5`` -> ``ALE_Pong-v5``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(env_id)).strip("_") or "env"


def make_env(env_id: str, kwargs: dict[str, Any] | None = None) -> Any:
    """The bare (unwrapped) env; one clear error for an unknown id or a bad argument."""
    import gymnasium as gym

    try:
        return gym.make(env_id, **(kwargs or {})).unwrapped
    except gym.error.Error as exc:
        raise TrajmbrlError(f"Gymnasium env {env_id!r}: {exc}") from None
    except TypeError as exc:
        raise TrajmbrlError(f"Gymnasium env {env_id!r} refuses its kwargs ({exc})") from None


@dataclass(frozen=True)
class Spaces:
    """What a Gymnasium env exposes: observation size and action bounds (du,)."""

    obs_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    entry_point: Any
    #: leading qpos entries missing from the observation (None: not restorable)
    hidden_positions: int | None


def spaces(env_id: str, kwargs: dict[str, Any] | None = None) -> Spaces:
    """Observation and action spaces of ``env_id`` (Box spaces only), and its restorability."""
    import gymnasium as gym

    env = make_env(env_id, kwargs)
    try:
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(act_space, gym.spaces.Box) or not isinstance(obs_space, gym.spaces.Box):
            raise TrajmbrlError(
                f"Gymnasium env {env_id!r}: envs=gym needs Box observation and action spaces, got "
                f"{type(obs_space).__name__} and {type(act_space).__name__}"
            )
        hidden = _hidden_positions(env)
        return Spaces(
            int(np.prod(obs_space.shape)),
            np.asarray(act_space.low, dtype=np.float64).reshape(-1),
            np.asarray(act_space.high, dtype=np.float64).reshape(-1),
            gym.spec(env_id).entry_point,
            hidden,
        )
    finally:
        env.close()


def _hidden_positions(env: Any) -> int | None:
    """k when the observation after a reset is ``qpos[k:] + qvel`` (a MuJoCo env), else None."""
    data = getattr(env, "data", None)
    if data is None or not hasattr(env, "set_state"):
        return None
    obs, _ = env.reset(seed=0)
    obs = np.asarray(obs, dtype=np.float64).reshape(-1)
    for k in range(3):
        state = np.concatenate([data.qpos[k:], data.qvel])
        if state.shape == obs.shape and np.allclose(state, obs, rtol=0, atol=1e-12):
            return k
    return None


def restorable(env_id: str, kwargs: dict[str, Any] | None = None) -> bool:
    """True when the ``oracle`` can restore ``env_id``'s state from an observation."""
    return spaces(env_id, kwargs).hidden_positions is not None


class MujocoReplay:
    """The batched true step of a restorable MuJoCo env on observations (module doc).

    Each row is restored with ``set_state(qpos, qvel)`` and stepped with ``env.step`` (its own
    action handling and frame skip); a non-finite row stays NaN.
    """

    def __init__(
        self, env_id: str, kwargs: dict[str, Any] | None, state_indices: tuple[int, ...] | None
    ) -> None:
        self.env = make_env(env_id, kwargs)
        k = _hidden_positions(self.env)
        if k is None:
            raise TrajmbrlError(f"oracle: {env_id} cannot restore its state from an observation")
        self.k: int = k
        if state_indices is not None:
            raise TrajmbrlError("oracle: envs=gym replays full observations (state_indices=null)")
        self.nq = int(self.env.data.qpos.size)

    def __call__(self, state: Any, action: Any) -> Any:
        """:param state: (R, do) tensor; :param action: (R, du). :returns: (R, do) float64."""
        import torch

        s = state.double().cpu().numpy()
        a = action.double().cpu().numpy()
        out = np.full_like(s, np.nan)
        split = self.nq - self.k
        for r in range(s.shape[0]):
            if not (np.all(np.isfinite(s[r])) and np.all(np.isfinite(a[r]))):
                continue
            qpos = np.concatenate([np.zeros(self.k), s[r, :split]])
            self.env.set_state(qpos, s[r, split:])
            with np.errstate(all="ignore"):
                obs = self.env.step(a[r])[0]
            out[r] = obs
        return torch.as_tensor(out, dtype=torch.float64)


def gym_system(
    env_id: str,
    *,
    kwargs: dict[str, Any] | None = None,
    state_indices: tuple[int, ...] | None = None,
    horizon: int = 100,
    controller: Callable[[], Sampler] | None = None,
    theta_box: Callable[[Sampler], tuple[np.ndarray, np.ndarray]] | None = None,
    return_reward: RewardFn,
    control_reward: RewardFn | None = None,
) -> SystemSpec:
    """The SystemSpec of Gymnasium env ``env_id`` (named :data:`NAME`).

    :param controller: () -> the declared sampler (theta drawn from its box); with
        ``theta_box`` and ``control_reward`` it makes a control task.
    :param return_reward: per-state reward of section 5.5 (..., ds) -> (...).
    """
    sp = spaces(env_id, kwargs)
    names = tuple(f"s{i}" for i in range(sp.obs_dim))
    if state_indices is not None:
        names = tuple(names[i] for i in state_indices)
    oracle: Callable[[int, np.ndarray], Step] | None = None
    if sp.hidden_positions is not None and state_indices is None:

        def oracle(copies: int, start: np.ndarray) -> Step:
            return MujocoReplay(env_id, kwargs, state_indices)

    task = control_reward is not None and controller is not None and theta_box is not None
    return SystemSpec(
        name=NAME,
        gym_id=env_id,
        entry_point=sp.entry_point,
        state_names=names,
        return_reward=return_reward,
        state_indices=state_indices,
        horizon=horizon,
        control_reward=control_reward if task else None,
        controller=controller if task else None,
        theta_box=theta_box if task else None,
        control_env_kwargs=dict(kwargs or {}),
        action_low=tuple(sp.action_low.tolist()),
        action_high=tuple(sp.action_high.tolist()),
        oracle_step=oracle,
    )
