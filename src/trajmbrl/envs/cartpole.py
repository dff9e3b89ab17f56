"""Continuous-force cart-pole (spec 2.2): Gym's classic equations, explicit Euler, tau = 0.02 s.

State ``[x, x_dot, theta, theta_dot]`` (m, m/s, rad, rad/s; theta = 0 is upright, positive theta
leans towards +x). Action ``u`` in [-1, 1] is a normalised force: ``F = force_mag * u`` newtons.

Fixes of the original (spec 8.4, 8.5): the initial-state distribution is explicit and, by
default, strictly inside the termination thresholds; ``terminate=False`` disables termination
altogether (the unstable data mode) instead of doubling thresholds on a persistent object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from trajmbrl.envs import state_option
from trajmbrl.envs.spec import SystemSpec, check_state_dim
from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    from torch import Tensor

#: |x| above this terminates an episode (2 x 4.8 m, as the original)
X_THRESHOLD = 9.6
#: |theta| above this terminates an episode (24 deg)
THETA_THRESHOLD = 24.0 * math.pi / 180.0


@dataclass(frozen=True)
class CartpoleParams:
    """Physical constants (SI units); ``l`` is the *half* pole length."""

    g: float = 9.8
    m_c: float = 1.0
    m_p: float = 0.1
    l: float = 0.5  # noqa: E741 (the spec's symbol: half pole length)
    force_mag: float = 10.0
    tau: float = 0.02

    @property
    def total_mass(self) -> float:
        return self.m_c + self.m_p


#: the spec's constants
DEFAULT_PARAMS = CartpoleParams()


def cartpole_dynamics(
    state: np.ndarray, u: np.ndarray, params: CartpoleParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Continuous-time derivative of the state (the Gym cart-pole equations).

    The action is clipped to [-1, 1] before being scaled to a force.

    :param state: (B, 4) ``[x, x_dot, theta, theta_dot]``
    :param u: (B,) normalised actions
    :returns: (B, 4) ``[x_dot, x_acc, theta_dot, theta_acc]``
    """
    state = np.asarray(state, dtype=np.float64)
    force = params.force_mag * np.clip(np.asarray(u, dtype=np.float64), -1.0, 1.0)
    x_dot, theta, theta_dot = state[:, 1], state[:, 2], state[:, 3]
    sin, cos = np.sin(theta), np.cos(theta)
    m_total = params.total_mass
    pml = params.m_p * params.l
    temp = (force + pml * theta_dot**2 * sin) / m_total
    theta_acc = (params.g * sin - cos * temp) / (
        params.l * (4.0 / 3.0 - params.m_p * cos**2 / m_total)
    )
    x_acc = temp - pml * theta_acc * cos / m_total
    return np.stack([x_dot, x_acc, theta_dot, theta_acc], axis=1)


def cartpole_step(
    state: np.ndarray, u: np.ndarray, params: CartpoleParams = DEFAULT_PARAMS
) -> np.ndarray:
    """One explicit-Euler step of length ``params.tau`` (the true discrete model of the env).

    :param state: (B, 4)
    :param u: (B,) normalised actions, clipped to [-1, 1]
    :returns: (B, 4) next states
    """
    state = np.asarray(state, dtype=np.float64)
    return state + params.tau * cartpole_dynamics(state, u, params)


def cartpole_reward(state: np.ndarray) -> np.ndarray:
    """The paper's section-5.5 cost as a reward, ``-(x^2 + theta^2) / 200``.

    :param state: (..., 4) :returns: (...)
    """
    state = np.asarray(state, dtype=np.float64)
    return -(state[..., 0] ** 2 + state[..., 2] ** 2) / 200.0


def cartpole_energy(state: np.ndarray, params: CartpoleParams = DEFAULT_PARAMS) -> np.ndarray:
    """Total mechanical energy (cart + uniform rod of half length l), conserved when F = 0.

    :param state: (B, 4) :returns: (B,) joules
    """
    state = np.asarray(state, dtype=np.float64)
    x_dot, theta, theta_dot = state[:, 1], state[:, 2], state[:, 3]
    m_p, ell = params.m_p, params.l
    kinetic = (
        0.5 * params.total_mass * x_dot**2
        + m_p * ell * np.cos(theta) * x_dot * theta_dot
        + (2.0 / 3.0) * m_p * ell**2 * theta_dot**2
    )
    return kinetic + m_p * params.g * ell * np.cos(theta)


class CartpoleEnv(gym.Env):
    """Cart-pole with a continuous normalised force (spec 2.2), Gymnasium API.

    * Actions outside [-1, 1] are clipped (never asserted); the clipped action is in ``info``.
    * Reward ``-(x^2 + theta^2)/200`` (paper 5.5) evaluated at the state the action is applied
      to, i.e. ``r_t = r(s_t)`` for the transition ``(s_t, a_t, s_{t+1})``.
    * Termination (``terminate=True``): ``|x| > 9.6`` or ``|theta| > 24 deg`` on ``s_{t+1}``.
      Never truncates: episode length is the collector's business.
    * Reset: ``x ~ U(-init_x, init_x)``, ``theta ~ U(-init_theta, init_theta)``, both velocities
      ``~ U(-init_vel, init_vel)``, drawn from ``self.np_random``. ``reset(options={"state": s})``
      starts from a given (4,) state instead.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    state_names: tuple[str, ...] = ("x", "x_dot", "theta", "theta_dot")
    action_names: tuple[str, ...] = ("u",)

    def __init__(
        self,
        terminate: bool = True,
        init_x: float = 1.0,
        init_theta: float = 0.3,
        init_vel: float = 0.05,
        params: CartpoleParams | None = None,
    ) -> None:
        for key, value in (("init_x", init_x), ("init_theta", init_theta), ("init_vel", init_vel)):
            if not (math.isfinite(value) and value >= 0.0):
                raise TrajmbrlError(f"env.{key} must be a finite number >= 0, got {value!r}")
        if terminate and init_theta >= THETA_THRESHOLD:
            raise TrajmbrlError(
                f"env.kwargs.init_theta={init_theta} must be below the termination angle "
                f"{THETA_THRESHOLD:.4f} rad (or set env.kwargs.terminate=false)"
            )
        if terminate and init_x >= X_THRESHOLD:
            raise TrajmbrlError(
                f"env.kwargs.init_x={init_x} must be below the termination position "
                f"{X_THRESHOLD} m "
                "(or set env.kwargs.terminate=false)"
            )
        self.terminate = bool(terminate)
        self.init_x, self.init_theta, self.init_vel = init_x, init_theta, init_vel
        self.params = params if params is not None else DEFAULT_PARAMS
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.state = np.zeros(4)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:returns: the (4,) initial observation and an empty info dict."""
        super().reset(seed=seed)
        state = state_option(options, 4)
        if state is not None:
            self.state = state
        else:
            lim = np.array([self.init_x, self.init_vel, self.init_theta, self.init_vel])
            self.state = self.np_random.uniform(-lim, lim)
        return self.state.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """:param action: (1,) or scalar. :returns: obs (4,), reward, terminated, False, info."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (1,):
            raise TrajmbrlError(f"cartpole action must have 1 entry, got shape {a.shape}")
        u = float(np.clip(a[0], -1.0, 1.0))
        reward = float(cartpole_reward(self.state))
        self.state = cartpole_step(self.state[None, :], np.array([u]), self.params)[0]
        x, theta = self.state[0], self.state[2]
        terminated = self.terminate and bool(abs(x) > X_THRESHOLD or abs(theta) > THETA_THRESHOLD)
        return self.state.copy(), reward, terminated, False, {"action": u}


# ---------------------------------------------------------------------- the system spec
def cartpole_return_reward(state: np.ndarray) -> np.ndarray:
    """Section 5.5: ``-(x^2 + theta^2) / 200`` on ``[x, x_dot, theta, theta_dot]``.

    (..., 4) -> (...)
    """
    return cartpole_reward(check_state_dim(state, 4, "cartpole"))


def cartpole_control_reward(state: np.ndarray) -> np.ndarray:
    """``exp(-(x^2 + theta^2))`` on ``[x, x_dot, theta, theta_dot]``. (..., 4) -> (...)"""
    state = np.asarray(state, dtype=np.float64)
    return np.exp(-(state[..., 0] ** 2 + state[..., 2] ** 2))


def _oracle_for(params: CartpoleParams) -> Any:
    """The oracle factory of a cart-pole with ``params``."""

    def oracle(copies: int, start: np.ndarray) -> Any:
        """The env's explicit-Euler step on (R, 4) states, exact."""
        import torch

        def step(state: Tensor, action: Tensor) -> Tensor:
            return torch.as_tensor(cartpole_step(state.numpy(), action[:, 0].numpy(), params))

        return step

    return oracle


_oracle = _oracle_for(DEFAULT_PARAMS)


def _k_star(sampler: Any) -> np.ndarray:
    """The LQR gain row K* (4,) of the control task's sampler (an LQRSampler)."""
    k_star = getattr(sampler, "k_star", None)
    if k_star is None:
        raise TrajmbrlError(f"the cartpole task needs an LQRSampler, got {type(sampler).__name__}")
    return np.array(k_star, dtype=np.float64)


def _box(scale: float) -> Any:
    def theta_box(sampler: Any) -> tuple[np.ndarray, np.ndarray]:
        """The box spanned by ``0`` and ``scale K*`` (K* the LQR gain row)."""
        k_star = _k_star(sampler)
        return np.minimum(0.0, scale * k_star), np.maximum(0.0, scale * k_star)

    return theta_box


_theta_box = _box(3.0)


#: control: ``exp(-(x^2 + theta^2))`` in [0, 1], theta = the LQR gain row K (4) in the box
#: spanned by 0 and 3 K*, reference K*, episodes without termination.
SPEC = SystemSpec(
    name="cartpole",
    gym_id="trajmbrl/Cartpole-v0",
    entry_point="trajmbrl.envs.cartpole:CartpoleEnv",
    state_names=CartpoleEnv.state_names,
    horizon=200,
    return_reward=cartpole_return_reward,
    control_reward=cartpole_control_reward,
    controller="trajmbrl.controllers.lqr:LQRSampler",  # mode stable
    theta_box=_theta_box,
    reference=_k_star,
    control_env_kwargs={"terminate": False},
    action_low=(-1.0,),
    action_high=(1.0,),
    oracle_step=_oracle,
)


#: the plant of ``cartpole_heavy``: a 5x heavier, 2x longer pole than K* was designed for
HEAVY_PARAMS = CartpoleParams(m_p=0.5, l=1.0)


def heavy_cartpole(**kwargs: Any) -> CartpoleEnv:
    """The cart-pole with :data:`HEAVY_PARAMS` (the Gymnasium entry point of cartpole_heavy)."""
    return CartpoleEnv(params=HEAVY_PARAMS, **kwargs)


#: control with headroom (issue 22): the same task, but the true pole is 5x heavier and 2x
#: longer than the one the reference K* (and the data's gain distribution) was designed for, so
#: K* scores far below the best gain; theta in the box spanned by 0 and 5 K*.
HEAVY_SPEC = replace(
    SPEC,
    name="cartpole_heavy",
    gym_id="trajmbrl/CartpoleHeavy-v0",
    entry_point=heavy_cartpole,
    theta_box=_box(5.0),
    oracle_step=_oracle_for(HEAVY_PARAMS),
)
