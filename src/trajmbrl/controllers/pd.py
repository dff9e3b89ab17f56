"""Batched PD controller (spec 3.1) and the reacher's PD parameter sampler (spec 3.2).

The PD acts on ``obs[:, index]`` (for the reacher: the cosines of the first five joint angles,
as in the original) with a per-step difference as derivative (not divided by dt, as the
original): ``e_t = target - q_t``, ``u_t = P e_t + D (e_t - e_{t-1})``.

Fix of the original's first-step kick (spec 3.1): the original starts with ``e_{-1} = 0``, so the
first action contains ``D e_0``. Here ``e_{-1}`` is initialised to the first error, i.e. the
first derivative term is 0.
"""

from __future__ import annotations

import numpy as np

from trajmbrl.errors import TrajmbrlError


class PDController:
    """A batch of B PD controllers on ``du`` controlled variables.

    :param P: (B, du) proportional gains.
    :param D: (B, du) derivative gains (per-step difference).
    :param target: (B, du) set-points.
    :param params: (B, dp) theta these gains were built from (stored for bookkeeping).
    :param obs_slice: which observation columns are controlled (``obs[:, obs_slice]`` -> (B, du)).
    """

    def __init__(
        self,
        P: np.ndarray,
        D: np.ndarray,
        target: np.ndarray,
        params: np.ndarray | None = None,
        obs_slice: slice = slice(0, 5),
    ) -> None:
        self.P = np.atleast_2d(np.asarray(P, dtype=np.float64))
        self.D = np.atleast_2d(np.asarray(D, dtype=np.float64))
        self.target = np.atleast_2d(np.asarray(target, dtype=np.float64))
        if not (self.P.shape == self.D.shape == self.target.shape):
            raise TrajmbrlError(
                f"PD gains and target must share a shape (B, du), got P {self.P.shape}, "
                f"D {self.D.shape}, target {self.target.shape}"
            )
        self.obs_slice = obs_slice
        self.params = (
            np.concatenate([self.P, self.D, self.target], axis=1)
            if params is None
            else np.atleast_2d(np.asarray(params, dtype=np.float64))
        )
        self._prev_error: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous error of every row (the next ``act`` has no derivative kick)."""
        self._prev_error = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, do) observations (B = 1 broadcasts over a single controller row).

        :returns: (B, du) actions (unclipped; the env clips to its actuator range).
        """
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float64))
        q = obs[:, self.obs_slice]
        if q.shape[1] != self.P.shape[1]:
            raise TrajmbrlError(
                f"PD controls {self.P.shape[1]} variables but obs[:, {self.obs_slice}] has "
                f"{q.shape[1]} columns (obs shape {obs.shape})"
            )
        if q.shape[0] != self.P.shape[0] and self.P.shape[0] != 1:
            raise TrajmbrlError(
                f"PD batch has {self.P.shape[0]} rows but obs has {q.shape[0]} rows"
            )
        error = self.target - q
        prev = error if self._prev_error is None else self._prev_error
        self._prev_error = error
        return self.P * error + self.D * (error - prev)


class ReacherPDSampler:
    """Per-trajectory reacher PD gains (spec 3.2) and their theta (15 dims).

    Draws ``P ~ U(0, p_max)^5``, ``D ~ U(0, d_max)^5``, ``target ~ U(-1, 1)^5`` (cosine space).
    theta = ``[P / p_max (5), D (5), target (5)]``: P is stored normalised to [0, 1) as the
    original did (``P/5`` for the default ``p_max = 5``); ``build`` undoes the scaling.
    """

    def __init__(
        self,
        n_joints: int = 5,
        p_max: float = 5.0,
        d_max: float = 1.0,
        target_low: float = -1.0,
        target_high: float = 1.0,
    ) -> None:
        if n_joints < 1:
            raise TrajmbrlError(f"controller.n_joints must be >= 1, got {n_joints}")
        if not (p_max > 0 and d_max >= 0 and target_low <= target_high):
            raise TrajmbrlError(
                "controller needs p_max > 0, d_max >= 0 and target_low <= target_high, got "
                f"p_max={p_max}, d_max={d_max}, target=[{target_low}, {target_high}]"
            )
        self.n_joints = int(n_joints)
        self.p_max, self.d_max = float(p_max), float(d_max)
        self.target_low, self.target_high = float(target_low), float(target_high)
        pmax = f"{self.p_max:g}"
        n = self.n_joints
        self.param_names: tuple[str, ...] = (
            tuple(f"P{i}/{pmax}" for i in range(n))
            + tuple(f"D{i}" for i in range(n))
            + tuple(f"target{i}" for i in range(n))
        )

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        """:returns: (3 * n_joints,) theta = [P/p_max, D, target]."""
        n = self.n_joints
        p = rng.uniform(0.0, self.p_max, size=n)
        d = rng.uniform(0.0, self.d_max, size=n)
        target = rng.uniform(self.target_low, self.target_high, size=n)
        return np.concatenate([p / self.p_max, d, target])

    def build(self, params: np.ndarray) -> PDController:
        """:param params: (B, 3 * n_joints) theta. :returns: PD batch on ``obs[:, 0:n_joints]``."""
        params = np.atleast_2d(np.asarray(params, dtype=np.float64))
        n = self.n_joints
        if params.shape[1] != 3 * n:
            raise TrajmbrlError(
                f"reacher PD theta must have {3 * n} entries ([P/{self.p_max:g}, D, target]), "
                f"got shape {params.shape}"
            )
        return PDController(
            P=params[:, :n] * self.p_max,
            D=params[:, n : 2 * n],
            target=params[:, 2 * n :],
            params=params,
            obs_slice=slice(0, n),
        )

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        """Every non-terminated roll-out is kept (the reacher never terminates)."""
        return not terminated

    def describe(self) -> dict[str, object]:
        """JSON-serialisable description for the manifest."""
        n = self.n_joints
        return {
            "controller": "pd",
            "controlled": f"cos(q[0:{n}]) = obs[:, 0:{n}]",
            "law": "u = P e + D (e - e_prev), e = target - cos(q); e_prev(first step) = e_0",
            "P": f"U(0, {self.p_max:g})^{n}, stored as P/{self.p_max:g}",
            "D": f"U(0, {self.d_max:g})^{n}",
            "target": f"U({self.target_low:g}, {self.target_high:g})^{n}",
            "param_names": list(self.param_names),
        }
