"""Generic controller families for any system: linear state feedback and PD to a set-point.

Both act on a batch of B rows; their numbers come from theta (B, dp) through a *theta map*:
role -> entries, each entry a theta name (``"K_x"``; ``"-K_x"`` negates it) or a constant
(``0.3``). So a log's columns or a declared box name the parameters, and the family says what
they mean:

- ``linear``: ``u = offset - gain (s - ref)``, clipped to ``[action_low, action_high]``.
  Roles: ``gain`` (du * ds entries, row-major: du rows of ds), ``ref`` (ds, default 0),
  ``offset`` (du, default 0). ``u = K s`` is ``gain: [-K0, -K1, ...]``.
- ``pd``: ``u = offset + kp (target - s[position]) - kd s[velocity]`` per actuator, clipped.
  Roles: ``kp``, ``kd`` (du entries, or one shared by all), ``target`` (du, default 0),
  ``offset`` (du, default 0). ``position``: du state entries; ``velocity``: du state entries,
  or none: ``kd (e - e_prev)`` on the per-step error difference (``e_prev`` of the first step
  is the first error, so no derivative kick).

:class:`FamilySampler` is the :class:`~trajmbrl.controllers.base.ControllerSampler` of a
declared family: it rebuilds controllers from stored theta and, given a box, draws theta
uniformly from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trajmbrl.errors import TrajmbrlError

#: family -> (required roles, optional roles)
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "linear": (("gain",), ("ref", "offset")),
    "pd": (("kp", "kd"), ("target", "offset")),
}
Entry = str | float | int


@dataclass(frozen=True)
class Role:
    """One role's entries resolved against the theta names: (n,) index (-1 = constant), sign
    and constant value. :meth:`values` gives (B, n) from theta (B, dp)."""

    index: np.ndarray
    sign: np.ndarray
    const: np.ndarray

    def values(self, params: np.ndarray) -> np.ndarray:
        """:param params: (B, dp). :returns: (B, n)"""
        picked = params[:, np.maximum(self.index, 0)] * self.sign if params.shape[1] else 0.0
        return np.where(self.index >= 0, picked, self.const[None, :])


def resolve_role(role: str, entries: Sequence[Entry], param_names: Sequence[str]) -> Role:
    """Entries of ``role`` (theta names, ``-name``, numbers) -> a :class:`Role`."""
    index, sign, const = [], [], []
    for entry in entries:
        if isinstance(entry, bool) or not isinstance(entry, str | int | float):
            raise TrajmbrlError(f"controller theta_map.{role}: {entry!r} is no name or number")
        if isinstance(entry, str):
            neg = entry.startswith("-")
            name = entry[1:] if neg else entry
            if name not in param_names:
                raise TrajmbrlError(
                    f"controller theta_map.{role} names {name!r}, which is not a theta entry "
                    f"(theta: {list(param_names)})"
                )
            index.append(list(param_names).index(name))
            sign.append(-1.0 if neg else 1.0)
            const.append(0.0)
        else:
            index.append(-1)
            sign.append(1.0)
            const.append(float(entry))
    return Role(np.array(index, dtype=np.int64), np.array(sign), np.array(const))


class LinearFeedback:
    """A batch of ``u = offset - gain (s - ref)`` (clipped); stateless."""

    def __init__(
        self,
        params: np.ndarray,
        gain: np.ndarray,
        ref: np.ndarray,
        offset: np.ndarray,
        low: np.ndarray | None,
        high: np.ndarray | None,
    ) -> None:
        """:param params: (B, dp) theta; gain (B, du, ds), ref (B, ds), offset (B, du);
        low, high: (du,) action bounds or None."""
        self.params, self.gain, self.ref, self.offset = params, gain, ref, offset
        self.low, self.high = low, high

    def reset(self) -> None:
        """No internal state."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, ds). :returns: (B, du)"""
        err = np.asarray(obs, dtype=np.float64) - self.ref
        u = self.offset - np.einsum("bij,bj->bi", self.gain, err)
        return _clip(u, self.low, self.high)


class PDFeedback:
    """A batch of ``u = offset + kp e - kd v``, ``e = target - s[position]``, ``v`` =
    ``s[velocity]`` or the per-step error difference ``-(e - e_prev)``."""

    def __init__(
        self,
        params: np.ndarray,
        kp: np.ndarray,
        kd: np.ndarray,
        target: np.ndarray,
        offset: np.ndarray,
        position: np.ndarray,
        velocity: np.ndarray | None,
        low: np.ndarray | None,
        high: np.ndarray | None,
    ) -> None:
        """:param params: (B, dp); kp, kd, target, offset: (B, du); position, velocity: (du,)
        state indices (velocity None: error difference); low, high: (du,) or None."""
        self.params, self.kp, self.kd, self.target, self.offset = params, kp, kd, target, offset
        self.position, self.velocity, self.low, self.high = position, velocity, low, high
        self._e_prev: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous error (the next step has no difference term)."""
        self._e_prev = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        """:param obs: (B, ds). :returns: (B, du)"""
        obs = np.asarray(obs, dtype=np.float64)
        e = self.target - obs[:, self.position]
        if self.velocity is not None:
            u = self.offset + self.kp * e - self.kd * obs[:, self.velocity]
        else:
            prev = e if self._e_prev is None else self._e_prev
            self._e_prev = e
            u = self.offset + self.kp * e + self.kd * (e - prev)
        return _clip(u, self.low, self.high)


def _clip(u: np.ndarray, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    if low is not None or high is not None:
        u = np.clip(u, low, high)
    return u


class FamilySampler:
    """The :class:`~trajmbrl.controllers.base.ControllerSampler` of a declared family.

    :param family: ``linear`` or ``pd`` (module doc).
    :param param_names: (dp,) names of theta's entries (a log's theta columns, a box's keys).
    :param theta_map: role -> entries (theta names, ``-name`` or numbers).
    :param state_names: (ds,) names of the state entries (``position`` / ``velocity`` may name
        them or give indices).
    :param action_dim: du.
    :param box: theta name -> (low, high), to draw theta uniformly (None: cannot sample).
    """

    def __init__(
        self,
        family: str,
        param_names: Sequence[str],
        theta_map: Mapping[str, Sequence[Entry]],
        *,
        state_names: Sequence[str],
        action_dim: int,
        position: Sequence[str | int] = (),
        velocity: Sequence[str | int] = (),
        action_low: Sequence[float] | None = None,
        action_high: Sequence[float] | None = None,
        box: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        if family not in FAMILIES:
            raise TrajmbrlError(
                f"controller family {family!r} is unknown; choose one of {', '.join(FAMILIES)} "
                "or give your own class as _target_"
            )
        self.family = family
        self.param_names: tuple[str, ...] = tuple(str(n) for n in param_names)
        self.state_names = tuple(str(n) for n in state_names)
        self.ds, self.du = len(self.state_names), int(action_dim)
        self.theta_map = {str(k): list(v) for k, v in theta_map.items()}
        required, optional = FAMILIES[family]
        unknown = sorted(set(self.theta_map) - set(required) - set(optional))
        missing = [r for r in required if r not in self.theta_map]
        if unknown or missing:
            raise TrajmbrlError(
                f"controller theta_map of family {family} takes roles {', '.join(required)} "
                f"(required) and {', '.join(optional)}; got unknown {unknown}, missing {missing}"
            )
        self.roles = {r: resolve_role(r, e, self.param_names) for r, e in self.theta_map.items()}
        sizes = self._sizes()
        for role, res in self.roles.items():
            if res.index.size not in sizes[role]:
                want = " or ".join(str(s) for s in sizes[role])
                raise TrajmbrlError(
                    f"controller theta_map.{role} of family {family} needs {want} entries "
                    f"(ds={self.ds}, du={self.du}), got {res.index.size}"
                )
        self.position = self._indices("position", position)
        self.velocity = self._indices("velocity", velocity) if len(velocity) else None
        for what, idx, given in (
            ("position", self.position, position),
            ("velocity", self.velocity, velocity),
        ):
            if family == "pd" and idx is not None and idx.size != self.du:
                raise TrajmbrlError(
                    f"controller {what} must name {self.du} state entries (one per action), "
                    f"got {list(given)}"
                )
        self.low = self._bound("action_low", action_low)
        self.high = self._bound("action_high", action_high)
        self.box = None if box is None else self._box(box)

    def _sizes(self) -> dict[str, tuple[int, ...]]:
        ds, du = self.ds, self.du
        if self.family == "linear":
            return {"gain": (du * ds,), "ref": (ds,), "offset": (du,)}
        return {"kp": (du, 1), "kd": (du, 1), "target": (du,), "offset": (du,)}

    def _indices(self, what: str, refs: Sequence[str | int]) -> np.ndarray:
        out = []
        for ref in refs:
            if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < self.ds:
                out.append(ref)
            elif isinstance(ref, str) and ref in self.state_names:
                out.append(self.state_names.index(ref))
            else:
                raise TrajmbrlError(
                    f"controller {what}: {ref!r} is not a state entry (names "
                    f"{list(self.state_names)} or indices 0..{self.ds - 1})"
                )
        return np.array(out, dtype=np.int64)

    def _bound(self, what: str, value: Sequence[float] | None) -> np.ndarray | None:
        if value is None:
            return None
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.shape != (self.du,):
            raise TrajmbrlError(f"controller {what} needs {self.du} entries, got {list(value)}")
        return arr

    def _box(self, box: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        missing = [n for n in self.param_names if n not in box]
        if missing or set(box) - set(self.param_names):
            raise TrajmbrlError(
                f"controller theta box must give [low, high] for exactly {list(self.param_names)}"
            )
        lo, hi = [], []
        for name in self.param_names:
            pair = [float(v) for v in box[name]]
            if len(pair) != 2 or not (np.isfinite(pair).all() and pair[0] <= pair[1]):
                raise TrajmbrlError(
                    f"controller theta.{name} must be [low, high] with low <= high, got {pair}"
                )
            lo.append(pair[0])
            hi.append(pair[1])
        return np.array(lo), np.array(hi)

    def sample_params(self, rng: np.random.Generator) -> np.ndarray:
        """Theta drawn uniformly from the box. :returns: (dp,)"""
        if self.box is None:
            raise TrajmbrlError(
                "this declared controller has no theta box to draw theta from (declare one)"
            )
        return rng.uniform(*self.box)

    def build(self, params: np.ndarray) -> LinearFeedback | PDFeedback:
        """A controller batch for theta (B, dp)."""
        params = np.atleast_2d(np.asarray(params, dtype=np.float64))
        if params.shape[1] != len(self.param_names):
            raise TrajmbrlError(
                f"declared {self.family} controller takes theta of {len(self.param_names)} "
                f"entries {list(self.param_names)}, got shape {params.shape}"
            )
        b = params.shape[0]

        def role(name: str, size: int) -> np.ndarray:
            res = self.roles.get(name)
            if res is None:
                return np.zeros((b, size))
            v = res.values(params)
            return np.broadcast_to(v, (b, size)).copy() if v.shape[1] == 1 else v

        if self.family == "linear":
            gain = role("gain", self.du * self.ds).reshape(b, self.du, self.ds)
            return LinearFeedback(
                params, gain, role("ref", self.ds), role("offset", self.du), self.low, self.high
            )
        return PDFeedback(
            params,
            role("kp", self.du),
            role("kd", self.du),
            role("target", self.du),
            role("offset", self.du),
            self.position,
            self.velocity,
            self.low,
            self.high,
        )

    def accept(self, states: np.ndarray, terminated: bool) -> bool:
        """Keep every finished, finite roll-out (states (T+1, ds))."""
        return (not terminated) and bool(np.all(np.isfinite(states)))

    def describe(self) -> dict[str, object]:
        """JSON-serialisable declaration for the manifest."""
        law = {
            "linear": "u = clip(offset - gain (s - ref)), gain (du, ds) row-major",
            "pd": "u = clip(offset + kp (target - s[position]) - kd "
            + ("s[velocity])" if self.velocity is not None else "(e_prev - e))"),
        }[self.family]
        names = self.state_names
        return {
            "controller": self.family,
            "law": law,
            "param_names": list(self.param_names),
            "theta_map": self.theta_map,
            "position": [names[i] for i in self.position],
            "velocity": None if self.velocity is None else [names[i] for i in self.velocity],
            "action_low": None if self.low is None else self.low.tolist(),
            "action_high": None if self.high is None else self.high.tolist(),
            "box": None
            if self.box is None
            else {n: [lo, hi] for n, lo, hi in zip(self.param_names, *self.box)},
        }
