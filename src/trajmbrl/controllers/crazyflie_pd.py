"""Crazyflie attitude PD + motor mixer (spec 3.1, 3.4); theta = [P_pitch, P_roll, D_pitch, D_roll].

Per axis, with set-point 0 and the angle in **radians** (observation index 3 = roll, 4 = pitch):
``e = 0 - angle``, ``u = P e + D (e - e_prev)`` (raw per-step difference, as the original).
Fix of the original's derivative kick: ``e_prev`` starts at the first error, so the first
action has no ``D e_0`` term. The mixer adds the outputs to the hover PWM:
``pwm_k = clip(equil + pitch_mult_k u_pitch + roll_mult_k u_roll, 0, 65535)`` with
``pitch_mult = [1, -1, -1, 1]`` and ``roll_mult = [-1, -1, 1, 1]``. With the env's torques
(``tau_x ~ -f1 - f2 + f3 + f4``, ``tau_y ~ f1 - f2 - f3 + f4``) these signs restore the angle
for P, D > 0. ``equil`` defaults to the env's hover PWM (~13887) instead of the spec's 16383.

Scale: the spec's theta ranges (P in [100, 10100), D in [10, 50010), on radians) were tuned
on the original plant, whose angular accelerations carried an extra factor L = 0.065 (spec 8.8).
The env now has the correct ``tau/I``; to keep the paper's theta distribution *and* its closed
loops, the PD output is multiplied by ``gain_scale = 0.065`` PWM per unit (the factor moves from
the plant into the controller, where it is a legitimate unit conversion). With
``gain_scale = 1`` (the spec's law taken literally on the fixed plant) only ~7 % of sampled gains
stabilise; with 0.065 about 90 % do. Angles are radians: near hover one PWM unit of mixer input
gives ~0.029 rad/s^2, so degrees would make the loop 57x stiffer and unstable at 20 Hz.
"""

from __future__ import annotations

import math

import numpy as np

from trajmbrl.envs.crazyflie import PWM_MAX, hover_pwm
from trajmbrl.errors import TrajmbrlError

PITCH_MULT = np.array([1.0, -1.0, -1.0, 1.0])
ROLL_MULT = np.array([-1.0, -1.0, 1.0, 1.0])
ROLL_INDEX, PITCH_INDEX = 3, 4
P_RANGE = (100.0, 10100.0)
D_RANGE = (10.0, 50010.0)
#: PWM per unit of ``P e + D (e - e_prev)``: the original plant's extra lever factor L
GAIN_SCALE = 0.065


class CrazyfliePDController:
    """A batch of attitude PDs with mixer; keeps the previous error per row."""

    def __init__(
        self, params: np.ndarray, equil: float | None = None, gain_scale: float = GAIN_SCALE
    ) -> None:
        """:param params: (B, 4) ``[P_pitch, P_roll, D_pitch, D_roll]``.
        :param equil: base PWM of every motor (default: hover PWM).
        :param gain_scale: PWM per unit of PD output (module doc)."""
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != 4:
            raise TrajmbrlError(f"Crazyflie PD params must have shape (B, 4), got {params.shape}")
        self.params = params
        self.equil = hover_pwm() if equil is None else float(equil)
        self.gain_scale = float(gain_scale)
        self._e_prev: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous errors (the next call has no derivative term)."""
        self._e_prev = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, 9) Crazyflie observations. :returns: (B, 4) PWMs in [0, 65535]."""
        obs = np.asarray(obs, dtype=np.float64)
        e = -obs[:, PITCH_INDEX : ROLL_INDEX - 1 : -1]  # (B, 2) pitch, roll errors to zero
        e_prev = e if self._e_prev is None else self._e_prev
        self._e_prev = e
        u = self.params[:, 0:2] * e + self.params[:, 2:4] * (e - e_prev)  # (B, 2) pitch, roll
        u *= self.gain_scale
        pwm = self.equil + u[:, 0:1] * PITCH_MULT + u[:, 1:2] * ROLL_MULT
        return np.minimum(np.maximum(pwm, 0.0, out=pwm), PWM_MAX, out=pwm)


class CrazyfliePDSampler:
    """Draws ``P ~ U(100, 10100)``, ``D ~ U(10, 50010)`` per axis; keeps stabilising rollouts."""

    param_names: tuple[str, ...] = ("P_pitch", "P_roll", "D_pitch", "D_roll")

    def __init__(
        self,
        p_range: tuple[float, float] = P_RANGE,
        d_range: tuple[float, float] = D_RANGE,
        final_angle_deg: float = 5.0,
        equil: float | None = None,
        gain_scale: float = GAIN_SCALE,
    ) -> None:
        for key, (lo, hi) in (("p_range", p_range), ("d_range", d_range)):
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi):
                raise TrajmbrlError(f"controller.{key} must be (low, high) with 0 <= low < high")
        if not final_angle_deg > 0.0:
            raise TrajmbrlError(f"controller.final_angle_deg must be > 0, got {final_angle_deg}")
        if not (math.isfinite(gain_scale) and gain_scale > 0.0):
            raise TrajmbrlError(f"controller.gain_scale must be > 0, got {gain_scale}")
        self.gain_scale = float(gain_scale)
        self.p_range = (float(p_range[0]), float(p_range[1]))
        self.d_range = (float(d_range[0]), float(d_range[1]))
        self.final_angle = math.radians(final_angle_deg)
        self.equil = hover_pwm() if equil is None else float(equil)

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        """:returns: (4,) ``[P_pitch, P_roll, D_pitch, D_roll]``"""
        p = rng.uniform(*self.p_range, size=2)
        d = rng.uniform(*self.d_range, size=2)
        return np.concatenate([p, d])

    def build(self, params: np.ndarray) -> CrazyfliePDController:
        """:param params: (B, 4)"""
        return CrazyfliePDController(params, equil=self.equil, gain_scale=self.gain_scale)

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        """Keep a full-length rollout (states (T+1, 9)) whose final |roll|, |pitch| < 5 deg."""
        if terminated or not np.all(np.isfinite(states)):
            return False
        final = np.abs(states[-1, [ROLL_INDEX, PITCH_INDEX]])
        return bool(np.all(final < self.final_angle))

    def describe(self) -> dict[str, object]:
        """JSON-serialisable description for the manifest."""
        return {
            "controller": "crazyflie_pd",
            "law": "u = gain_scale (P e + D (e - e_prev)), e = -angle [rad], e_prev(0) = e(0)",
            "gain_scale": self.gain_scale,
            "param_names": list(self.param_names),
            "distribution": {
                "P": f"U({self.p_range[0]}, {self.p_range[1]}) per axis",
                "D": f"U({self.d_range[0]}, {self.d_range[1]}) per axis",
            },
            "set_point": [0.0, 0.0],
            "equil_pwm": self.equil,
            "pitch_mult": PITCH_MULT.tolist(),
            "roll_mult": ROLL_MULT.tolist(),
            "accept": "not terminated and final |roll|, |pitch| < "
            f"{math.degrees(self.final_angle):g} deg",
        }
