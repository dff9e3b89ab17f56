"""Cart-pole LQR (spec 3.3): ``u = clip(-K s, -1, 1)``, theta = the gain row K (4,).

The design model is the *correct* continuous-time linearisation of
:func:`trajmbrl.envs.cartpole.cartpole_dynamics` about the upright rest state, with the
normalised action ``u`` as input (force = ``force_mag * u``), so K maps states directly to the
env's action. The original placed ``g m_p/m_c`` on the velocity diagonal and ignored the force
scale (spec 8.6); its K* = [-0.7071, -4.2906, -37.4539, -8.0665] is therefore *not* reproduced.

Data modes draw ``K = K* * m`` (elementwise) with ``m ~ U(lo, hi)^4``:
``stable`` U(1, 1.5), ``periodic`` (alias ``chaotic``) U(0, 0.75), ``unstable`` U(-0.75, 0.75).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from trajmbrl.envs.cartpole import DEFAULT_PARAMS, CartpoleParams
from trajmbrl.errors import TrajmbrlError

#: default LQR weights of the original (state cost diag, input cost)
Q_DEFAULT = (0.5, 0.05, 1.0, 0.05)
R_DEFAULT = 1.0
#: modifier ranges per data mode
MODES: dict[str, tuple[float, float]] = {
    "stable": (1.0, 1.5),
    "periodic": (0.0, 0.75),
    "unstable": (-0.75, 0.75),
}
ALIASES = {"chaotic": "periodic"}


def cartpole_linearization(params: CartpoleParams = DEFAULT_PARAMS) -> tuple[np.ndarray, ...]:
    """Continuous-time ``(A (4,4), B (4,1))`` of the cart-pole about upright rest, input = u.

    With ``M = m_c + m_p`` and ``den = l (4/3 - m_p/M)``:
    ``theta_acc = (g theta - F/M)/den``, ``x_acc = F/M - m_p l theta_acc / M``, ``F = force_mag u``.
    """
    m_total = params.total_mass
    den = params.l * (4.0 / 3.0 - params.m_p / m_total)
    pml = params.m_p * params.l
    a_tt = params.g / den  # d theta_acc / d theta
    b_t = -1.0 / (m_total * den)  # d theta_acc / d F
    a = np.zeros((4, 4))
    a[0, 1] = 1.0
    a[2, 3] = 1.0
    a[3, 2] = a_tt
    a[1, 2] = -pml * a_tt / m_total
    b = np.zeros((4, 1))
    b[3, 0] = b_t
    b[1, 0] = 1.0 / m_total - pml * b_t / m_total
    return a, b * params.force_mag


def _weights(q: object, r: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate Q (4 diag entries or (4,4)) and R (scalar) -> ((4,4), (1,1))."""
    q_arr = np.asarray(q, dtype=np.float64)
    q_mat = np.diag(q_arr) if q_arr.shape == (4,) else q_arr
    if q_mat.shape != (4, 4) or not np.all(np.isfinite(q_mat)):
        raise TrajmbrlError(f"controller.Q must be 4 diagonal entries or a 4x4 matrix, got {q!r}")
    if not np.allclose(q_mat, q_mat.T) or np.linalg.eigvalsh(q_mat).min() < 0:
        raise TrajmbrlError("controller.Q must be symmetric positive semi-definite")
    r_mat = np.asarray(r, dtype=np.float64).reshape(-1)
    if r_mat.shape != (1,) or not (np.isfinite(r_mat[0]) and r_mat[0] > 0):
        raise TrajmbrlError(f"controller.R must be one positive number, got {r!r}")
    return q_mat, r_mat.reshape(1, 1)


def _care(params: CartpoleParams, q: object, r: object) -> tuple[np.ndarray, ...]:
    a, b = cartpole_linearization(params)
    q_mat, r_mat = _weights(q, r)
    p = scipy.linalg.solve_continuous_are(a, b, q_mat, r_mat)
    return a, b, q_mat, r_mat, p


def lqr_gain(
    params: CartpoleParams = DEFAULT_PARAMS,
    Q: object = Q_DEFAULT,
    R: object = R_DEFAULT,
) -> np.ndarray:
    """Continuous-time LQR gain ``K = R^-1 B^T P`` for ``u = -K s``. :returns: (4,)"""
    _, b, _, r_mat, p = _care(params, Q, R)
    return np.linalg.solve(r_mat, b.T @ p).reshape(4)


def riccati_residual(
    params: CartpoleParams = DEFAULT_PARAMS,
    Q: object = Q_DEFAULT,
    R: object = R_DEFAULT,
) -> float:
    """Max-abs entry of ``A^T P + P A - P B R^-1 B^T P + Q`` relative to max |P| (0 if exact)."""
    a, b, q_mat, r_mat, p = _care(params, Q, R)
    res = a.T @ p + p @ a - p @ b @ np.linalg.solve(r_mat, b.T @ p) + q_mat
    return float(np.abs(res).max() / np.abs(p).max())


class LQRController:
    """A batch of linear state feedbacks ``u_b = clip(-K_b . s_b, -1, 1)``; stateless."""

    def __init__(self, params: np.ndarray) -> None:
        """:param params: (B, 4) gain rows K."""
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != 4:
            raise TrajmbrlError(f"LQR params must have shape (B, 4), got {params.shape}")
        self.params = params

    def reset(self) -> None:
        """No internal state."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, 4) cart-pole states. :returns: (B, 1) actions in [-1, 1]."""
        obs = np.asarray(obs, dtype=np.float64)
        u = -np.einsum("bi,bi->b", self.params, obs)
        return np.clip(u, -1.0, 1.0)[:, None]


def canonical_mode(mode: str) -> str:
    """Resolve aliases (``chaotic`` -> ``periodic``); unknown modes raise TrajmbrlError."""
    name = ALIASES.get(mode, mode)
    if name not in MODES:
        options = ", ".join([*MODES, *ALIASES])
        raise TrajmbrlError(f"env.data_mode={mode!r} is unknown; choose one of: {options}")
    return name


def env_kwargs_for_mode(mode: str) -> dict[str, object]:
    """Cart-pole env kwargs a data mode needs: unstable disables termination explicitly."""
    return {"terminate": False} if canonical_mode(mode) == "unstable" else {}


class LQRSampler:
    """Draws ``K = K* * m`` per trajectory (module doc) and rebuilds LQR controllers."""

    param_names: tuple[str, ...] = ("K_x", "K_xdot", "K_theta", "K_thetadot")

    def __init__(
        self,
        mode: str = "stable",
        Q: object = Q_DEFAULT,
        R: object = R_DEFAULT,
        params: CartpoleParams | None = None,
    ) -> None:
        self.mode = canonical_mode(mode)
        self.cartpole = params if params is not None else CartpoleParams()
        self.q, self.r = _weights(Q, R)
        self.k_star = lqr_gain(self.cartpole, self.q, self.r)
        self.low, self.high = MODES[self.mode]

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        """:returns: (4,) K = K* * U(low, high)^4"""
        return self.k_star * rng.uniform(self.low, self.high, size=4)

    def build(self, params: np.ndarray) -> LQRController:
        """:param params: (B, 4)"""
        return LQRController(params)

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        """Keep a finished rollout (states (T+1, 4)) iff it did not terminate and is finite."""
        return (not terminated) and bool(np.all(np.isfinite(states)))

    def diverged(self, states: np.ndarray) -> bool:
        """Did the closed loop leave the balancing region (|x| > 9.6 m or |theta| > 24 deg) at
        any step? :param states: (T+1, 4)."""
        from trajmbrl.envs.cartpole import THETA_THRESHOLD, X_THRESHOLD

        with np.errstate(invalid="ignore"):
            return bool(
                ~np.isfinite(states).all()
                or (np.abs(states[:, 0]) > X_THRESHOLD).any()
                or (np.abs(states[:, 2]) > THETA_THRESHOLD).any()
            )

    def env_overrides(self) -> dict[str, object]:
        """Env kwargs this data mode needs (see :func:`env_kwargs_for_mode`)."""
        return env_kwargs_for_mode(self.mode)

    def describe(self) -> dict[str, object]:
        """JSON-serialisable description for the manifest."""
        return {
            "controller": "lqr",
            "law": "u = clip(-K s, -1, 1)",
            "param_names": list(self.param_names),
            "data_mode": self.mode,
            "K_star": self.k_star.tolist(),
            "Q": self.q.tolist(),
            "R": float(self.r[0, 0]),
            "distribution": f"K = K_star * m, m ~ U({self.low}, {self.high})^4",
            "env_overrides": self.env_overrides(),
        }
