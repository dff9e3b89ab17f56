"""Simulated Crazyflie quadrotor (spec 2.3): rigid body in NED, 4 PWM inputs, dt 0.05 s.

Internal state (12): ``[x, y, z, vx, vy, vz, roll, pitch, yaw, p, q, r]`` (m, m/s, rad, rad/s;
NED, so ``z``/``vz`` point down). Observation (9) = ``state[3:12]``; angles are in **radians**.

Decisions and fixes relative to the original (all documented in the report):

* Motor model ``f = 0.35 d + 0.26 d^2`` with ``d = pwm/65535`` gives **newtons** (the original's
  own comment: "kg m/s^2"). Read as newtons, hover needs ``4 f = m g = 0.343 N``, i.e.
  ``d = 0.2119``, PWM ~13887 (:func:`hover_pwm`), close to the original mixer's 16383; read as
  grams-force the quad could never lift off (max 2.4 gf for a 35 g body).
* Thrust is applied as a positive magnitude ``T = sum f`` along body -z: ``a_z = g - cos(roll)
  cos(pitch) T/m``. The original passed ``-T`` into the same formula, so the body always
  accelerated downward (NED sign bug); with the fix the hover PWM holds ``vz`` near 0.
* Angular accelerations are ``tau/I`` without the extra factor ``L`` of the original (spec 8.8).
* The original zeroed state entries below 1e-12 after each sub-step; that is dropped (it only
  adds a discontinuity).
* Reward ``cos(roll) cos(pitch)`` is evaluated at the state the action is applied to (``s_t``),
  the same convention as the cart-pole env.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from trajmbrl.envs import state_option
from trajmbrl.envs.spec import SystemSpec, check_state_dim
from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    from torch import Tensor

PWM_MAX = 65535.0
#: |roll| or |pitch| above this terminates an episode
ANGLE_THRESHOLD = math.radians(45.0)


@dataclass(frozen=True)
class CrazyflieParams:
    """Physical constants (SI units) and integration settings."""

    m: float = 0.035
    ixx: float = 2.3951e-5
    iyy: float = 2.3951e-5
    izz: float = 3.2347e-5
    g: float = 9.81
    l_xy: float = 35.527e-3 / math.sqrt(2.0)
    l_z: float = 46e-3
    c: float = 0.025
    dt: float = 0.05
    substeps: int = 10


DEFAULT_PARAMS = CrazyflieParams()


def motor_force(pwm: float) -> float:
    """Thrust of one motor in newtons: ``0.35 d + 0.26 d^2``, ``d = pwm/65535``."""
    d = pwm / PWM_MAX
    return 0.35 * d + 0.26 * d * d


def hover_pwm(params: CrazyflieParams = DEFAULT_PARAMS) -> float:
    """The PWM (same on all motors) whose total thrust equals ``m g`` (~13887 by default)."""
    per_motor = params.m * params.g / 4.0
    d = (-0.35 + math.sqrt(0.35**2 + 4.0 * 0.26 * per_motor)) / (2.0 * 0.26)
    return d * PWM_MAX


def thrust_torques(
    pwm: np.ndarray, params: CrazyflieParams = DEFAULT_PARAMS
) -> tuple[float, float, float, float]:
    """:param pwm: (4,) motor PWMs (already clipped). :returns: thrust T >= 0 (N), tau_xyz (N m)."""
    f1, f2, f3, f4 = (motor_force(float(v)) for v in pwm)
    thrust = f1 + f2 + f3 + f4
    tau_x = params.l_xy * (-f1 - f2 + f3 + f4)
    tau_y = params.l_xy * (f1 - f2 - f3 + f4)
    tau_z = -params.l_z * params.c * (-f1 + f2 - f3 + f4)
    return thrust, tau_x, tau_y, tau_z


def _euler(
    state: list, t_m: Any, tau: tuple, params: CrazyflieParams, sin: Callable, cos: Callable
) -> tuple:
    """``substeps`` explicit-Euler sub-steps of ``dt/substeps`` of the rigid body, written once
    for floats (``math.sin``: fast single env steps) and arrays (``np.sin``: (B,) columns).

    :param state: the 12 state components; :param t_m: thrust / mass; :param tau: torques.
    :returns: the 12 next state components.
    """
    x, y, z, vx, vy, vz, phi, th, psi, p, q, r = state
    tau_x, tau_y, tau_z = tau
    ixx, iyy, izz, g = params.ixx, params.iyy, params.izz, params.g
    h = params.dt / params.substeps
    for _ in range(params.substeps):
        sphi, cphi, sth, cth = sin(phi), cos(phi), sin(th), cos(th)
        spsi, cpsi = sin(psi), cos(psi)
        ax = -(cphi * sth * cpsi + sphi * spsi) * t_m
        ay = -(cphi * sth * spsi - sphi * cpsi) * t_m
        az = g - cphi * cth * t_m
        p_dot = (iyy - izz) / ixx * q * r + tau_x / ixx
        q_dot = (izz - ixx) / iyy * p * r + tau_y / iyy
        r_dot = (ixx - iyy) / izz * p * q + tau_z / izz
        tth = sth / cth
        phi_dot = p + sphi * tth * q + cphi * tth * r
        th_dot = cphi * q - sphi * r
        psi_dot = (sphi * q + cphi * r) / cth
        x, y, z = x + h * vx, y + h * vy, z + h * vz
        vx, vy, vz = vx + h * ax, vy + h * ay, vz + h * az
        phi, th, psi = phi + h * phi_dot, th + h * th_dot, psi + h * psi_dot
        p, q, r = p + h * p_dot, q + h * q_dot, r + h * r_dot
    return x, y, z, vx, vy, vz, phi, th, psi, p, q, r


def crazyflie_step(
    state: np.ndarray, pwm: np.ndarray, params: CrazyflieParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Noise-free env step: ``substeps`` explicit-Euler sub-steps of ``dt/substeps``.

    :param state: (12,) full state. :param pwm: (4,) PWMs, clipped to [0, 65535].
    :returns: (12,) next state
    """
    thrust, tau_x, tau_y, tau_z = thrust_torques(np.clip(pwm, 0.0, PWM_MAX), params)
    x, y, z, vx, vy, vz, phi, th, psi, p, q, r = _euler(
        [float(v) for v in state],
        thrust / params.m,
        (tau_x, tau_y, tau_z),
        params,
        math.sin,
        math.cos,
    )
    return np.array([x, y, z, vx, vy, vz, phi, th, psi, p, q, r])


class CrazyflieEnv(gym.Env):
    """Crazyflie attitude dynamics (spec 2.3), Gymnasium API.

    * Action (4,) PWMs in [0, 65535]; values outside are clipped (never asserted).
    * After every step, Gaussian noise of std ``noise_std`` is added to all 12 states
      (drawn from ``self.np_random``; ``noise_std=0`` draws nothing).
    * Reset: position 0, velocities and body rates ``U(-0.01, 0.01)``, roll and pitch
      ``U(-init_angle, init_angle)`` (spec: pi/8 = 22.5 deg), yaw 0.
      ``reset(options={"state": s})`` starts from a given (12,) state instead.
    * Terminates when ``|roll|`` or ``|pitch|`` > 45 deg; never truncates.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    state_names: tuple[str, ...] = ("vx", "vy", "vz", "roll", "pitch", "yaw", "p", "q", "r")
    action_names: tuple[str, ...] = ("pwm1", "pwm2", "pwm3", "pwm4")
    full_state_names: tuple[str, ...] = ("x", "y", "z", *state_names)

    def __init__(
        self,
        noise_std: float = 1e-4,
        init_angle: float = math.pi / 8.0,
        params: CrazyflieParams | None = None,
    ) -> None:
        for key, value in (("noise_std", noise_std), ("init_angle", init_angle)):
            if not (math.isfinite(value) and value >= 0.0):
                raise TrajmbrlError(f"env.{key} must be a finite number >= 0, got {value!r}")
        if init_angle >= ANGLE_THRESHOLD:
            raise TrajmbrlError(
                f"env.init_angle={init_angle} must be below the termination angle "
                f"{ANGLE_THRESHOLD:.4f} rad"
            )
        self.noise_std = float(noise_std)
        self.init_angle = float(init_angle)
        self.params = params if params is not None else DEFAULT_PARAMS
        self.action_space = gym.spaces.Box(0.0, PWM_MAX, shape=(4,), dtype=np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(9,), dtype=np.float64)
        self.state = np.zeros(12)

    def hover_pwm(self) -> float:
        """PWM per motor that balances gravity for this env's constants."""
        return hover_pwm(self.params)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:returns: the (9,) initial observation and an info dict with the full ``state``."""
        super().reset(seed=seed)
        state = state_option(options, 12)
        if state is not None:
            self.state = state
        else:
            rng = self.np_random
            self.state = np.zeros(12)
            self.state[3:6] = rng.uniform(-0.01, 0.01, size=3)
            self.state[6:8] = rng.uniform(-self.init_angle, self.init_angle, size=2)
            self.state[9:12] = rng.uniform(-0.01, 0.01, size=3)
        return self.state[3:].copy(), {"state": self.state.copy()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """:param action: (4,) PWMs. :returns: obs (9,), reward, terminated, False, info."""
        pwm = np.asarray(action, dtype=np.float64).reshape(-1)
        if pwm.shape != (4,):
            raise TrajmbrlError(f"crazyflie action must have 4 PWM entries, got shape {pwm.shape}")
        reward = math.cos(self.state[6]) * math.cos(self.state[7])
        state = crazyflie_step(self.state, pwm, self.params)
        if self.noise_std > 0.0:
            state = state + self.np_random.normal(0.0, self.noise_std, size=12)
        self.state = state
        terminated = bool(abs(state[6]) > ANGLE_THRESHOLD or abs(state[7]) > ANGLE_THRESHOLD)
        return state[3:].copy(), reward, terminated, False, {"state": state.copy()}


def crazyflie_step_batch(
    state: np.ndarray, pwm: np.ndarray, params: CrazyflieParams = DEFAULT_PARAMS
) -> np.ndarray:
    """:func:`crazyflie_step` for a batch (the same equations, vectorised over rows).

    :param state: (B, 12) full states. :param pwm: (B, 4) PWMs. :returns: (B, 12) next states.
    """
    d = np.clip(np.asarray(pwm, dtype=np.float64), 0.0, PWM_MAX) / PWM_MAX
    f = 0.35 * d + 0.26 * d * d  # (B, 4) motor forces
    f1, f2, f3, f4 = f.T
    t_m = (f1 + f2 + f3 + f4) / params.m
    tau_x = params.l_xy * (-f1 - f2 + f3 + f4)
    tau_y = params.l_xy * (f1 - f2 - f3 + f4)
    tau_z = -params.l_z * params.c * (-f1 + f2 - f3 + f4)
    x, y, z, vx, vy, vz, phi, th, psi, p, q, r = _euler(
        list(np.asarray(state, dtype=np.float64).T),
        t_m,
        (tau_x, tau_y, tau_z),
        params,
        np.sin,
        np.cos,
    )
    return np.stack([x, y, z, vx, vy, vz, phi, th, psi, p, q, r], axis=1)


# ---------------------------------------------------------------------- the system spec
#: observation (9 dims): sim ``[vx vy vz roll pitch yaw p q r]``; the hardware log has
#: ``[wx wy wz pitch roll yaw ...]`` (degrees) - dims 3, 4 are roll and pitch either way.
ROLL_PITCH = (3, 4)
#: angle scale of the control reward (rad)
ANGLE_SCALE = 0.1


def crazyflie_return_reward(state: np.ndarray) -> np.ndarray:
    """Section 5.5: ``-(roll^2 + pitch^2)`` on observation dims 3 and 4. (..., 9) -> (...)"""
    state = check_state_dim(state, 9, "crazyflie")
    i, j = ROLL_PITCH
    return -(state[..., i] ** 2 + state[..., j] ** 2)


def crazyflie_control_reward(state: np.ndarray) -> np.ndarray:
    """``exp(-(roll^2 + pitch^2) / 0.1^2)`` on observation dims 3, 4. (..., 9) -> (...)"""
    state = np.asarray(state, dtype=np.float64)
    i, j = ROLL_PITCH
    return np.exp(-(state[..., i] ** 2 + state[..., j] ** 2) / ANGLE_SCALE**2)


def _oracle(copies: int, start: np.ndarray) -> Any:
    """The noise-free step on (R, 9) observations; the unobserved positions start at 0 (they
    do not enter the dynamics)."""
    import torch

    def step(state: Tensor, action: Tensor) -> Tensor:
        full = np.concatenate([np.zeros((state.shape[0], 3)), state.numpy()], 1)
        return torch.as_tensor(crazyflie_step_batch(full, action.numpy())[:, 3:])

    return step


def _theta_box(sampler: Any) -> tuple[np.ndarray, np.ndarray]:
    """theta = [P_pitch, P_roll, D_pitch, D_roll] in the sampler's (the data's) ranges."""
    p_range, d_range = getattr(sampler, "p_range", None), getattr(sampler, "d_range", None)
    if p_range is None or d_range is None:
        raise TrajmbrlError(f"the crazyflie task needs a PD sampler, got {type(sampler).__name__}")
    lo = np.array([p_range[0], p_range[0], d_range[0], d_range[0]])
    hi = np.array([p_range[1], p_range[1], d_range[1], d_range[1]])
    return lo, hi


#: control: ``exp(-(roll^2 + pitch^2) / 0.1^2)`` in [0, 1] (0.1 rad = 5.7 deg scale), attitude
#: PD gains in the data's ranges, no reference.
SPEC = SystemSpec(
    name="crazyflie",
    gym_id="trajmbrl/Crazyflie-v0",
    entry_point="trajmbrl.envs.crazyflie:CrazyflieEnv",
    state_names=CrazyflieEnv.state_names,
    horizon=500,
    return_reward=crazyflie_return_reward,
    control_reward=crazyflie_control_reward,
    controller="trajmbrl.controllers.crazyflie_pd:CrazyfliePDSampler",
    theta_box=_theta_box,
    action_low=(0.0, 0.0, 0.0, 0.0),
    action_high=(PWM_MAX,) * 4,
    oracle_step=_oracle,
)
