"""Dynamics models: one-step ``f(s_t, a_t) -> s_{t+1}``, trajectory ``f(s_i, h, theta) -> s_{i+h}``.

Both are an :class:`EnsembleMLP` wrapped between an input and an output :class:`Normalizer`, so
every public method takes and returns raw units. The built-in model keys are
:data:`trajmbrl.configs.KEYS` (the same lines as their ``conf/models/<key>.yaml``).

Input layout (columns of ``x``):

* one-step: ``[s_t (ds), a_t (du)]``, target ``s_{t+1} - s_t`` (delta);
* trajectory: ``[s_i (ds), h (1), theta (dp)]`` with ``h = j - i`` in steps (a float), target the
  absolute state ``s_{i+h}`` (``target="absolute"``, the paper's) or the residual
  ``(s_{i+h} - s_i) / sqrt(h)`` (``residual``: the residual scaled per horizon before the
  normaliser, so h = 1 is learnt as precisely as h = 100; the plain ``s_{i+h} - s_i`` was
  measured 5x worse than ``zero`` at h = 1 on cartpole, its scale set by the long horizons).
  The samples stay ``y = s_{i+h}`` (the same data contract): the model transforms them before
  normalising (:meth:`DynamicsModel.targets`) and back in ``predict_members`` / :meth:`query`,
  so every prediction is an absolute state.

One-step models with ``unroll = k > 1`` (keys ``dk``, ``dke``) are the same network trained on
windows of k steps through its own predictions (:mod:`trajmbrl.training.multistep`).

* sequence (keys ``sq``, ``sqe``): input ``[s_0 (ds), theta (dp)]``, output s_1..s_H in one pass
  of an :class:`~trajmbrl.models.sequence.EnsembleGRU` (the residual ``(s_t - s_0) / sqrt(t)``
  normalised, s_0 added back); samples are windows x = [s_i, theta], y = [s_{i+1}..s_{i+W}]
  (:func:`trajmbrl.data.pairs.sequence_windows`), trained by :mod:`trajmbrl.training.sequence`.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor, nn

from trajmbrl.configs import BASE, LATER, LATER_FAMILY
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.models.ensemble import EnsembleMLP
from trajmbrl.models.normalizer import Normalizer
from trajmbrl.models.sequence import EnsembleGRU
from trajmbrl.utils import inputs
from trajmbrl.utils.schema_check import check_settings, setting

Family = Literal["one_step", "trajectory", "sequence"]
FAMILIES: tuple[str, ...] = ("one_step", "trajectory", "sequence")
Target = Literal["absolute", "residual"]
UnrollActions = Literal["logged", "controller"]

# Rows per member evaluated at once in predict/eval_score: activations of ~1 MB per layer stay
# in cache (32,768-row chunks made validation ~35 % slower, issue 10).
_CHUNK_ROWS = 1024


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model's architecture (saved in checkpoints)."""

    key: str
    family: Family = setting(
        MISSING,
        "one_step: f(s_t, a_t) -> s_t+1 - s_t; trajectory: f(s_i, h, theta) -> s_i+h; "
        "sequence: GRU(s_0, theta) -> s_1..s_H",
    )
    state_dim: int = setting(MISSING, "state dimensions", ge=1)
    action_dim: int = setting(MISSING, "action dimensions", ge=0)
    param_dim: int = setting(MISSING, "controller parameter (theta) dimensions", ge=0)
    ensemble_size: int = setting(1, "members, batched in one module, each on its resample", ge=1)
    probabilistic: bool = setting(False, "Gaussian head (mean, log-variance) trained with NLL")
    hidden: int = setting(BASE["hidden"], "width of each hidden layer (the paper: 250)", ge=1)
    layers: int = setting(BASE["layers"], "hidden ReLU layers (the paper: 3)", ge=1)
    target: Target = setting(
        LATER["target"],
        "trajectory models: predict s_h (absolute, the paper's) or (s_h - s_0) / sqrt(h) "
        "(residual; s_0 added back)",
    )
    unroll: int = setting(
        LATER["unroll"],
        "one-step models: train through k of their own steps (1: one-step loss, as d)",
        ge=1,
    )
    unroll_discount: float = setting(
        LATER["unroll_discount"],
        "one-step models, unroll > 1: step j of the window weighs discount**j",
        gt=0,
        le=1,
    )
    unroll_actions: UnrollActions = setting(
        LATER["unroll_actions"],
        "one-step models, unroll > 1: the logged actions or the controller (theta) in the loop",
    )
    window: int = setting(
        LATER["window"],
        "sequence models: steps W of the training windows (at most the trajectories' length; "
        "predictions past W roll the recurrent state on)",
        ge=1,
    )

    def __post_init__(self) -> None:
        check_settings(self)
        for name, neutral in LATER.items():  # each a setting of one family
            family = LATER_FAMILY[name]
            if getattr(self, name) != neutral and self.family != family:
                raise ArgumentError(
                    f"{{ModelSpec.{name}}}={getattr(self, name)!r} is a setting of {family} "
                    f"models, not of {self.family} ones"
                )
        if self.family == "sequence" and self.probabilistic:
            raise ArgumentError(
                "{ModelSpec.probabilistic}=True: sequence models are deterministic (an ensemble, "
                "sqe, gives their spread)"
            )
        if self.unroll > 1 and self.probabilistic:
            raise ArgumentError(
                f"{{ModelSpec.unroll}}={self.unroll} trains the mean through its own steps; a "
                "Gaussian (probabilistic) one-step model is trained with the one-step NLL only"
            )
        object.__setattr__(self, "unroll", int(self.unroll))
        object.__setattr__(self, "unroll_discount", float(self.unroll_discount))
        for name in ("state_dim", "action_dim", "param_dim", "ensemble_size", "hidden", "layers"):
            object.__setattr__(self, name, int(getattr(self, name)))  # numpy ints -> JSON-able

    @classmethod
    def for_key(
        cls, key: str, *, state_dim: int, action_dim: int, param_dim: int, **overrides: Any
    ) -> ModelSpec:
        """Spec of a built-in model key (:data:`trajmbrl.configs.KEYS`).

        :param overrides: architecture settings (``hidden``, ``layers``, ``ensemble_size``);
            one that contradicts what the key means raises :class:`TrajmbrlError`.
        """
        from trajmbrl.configs import model_config, resolve_model

        settings = resolve_model(key, model_config(key), overrides)
        return cls.from_settings(
            settings, state_dim=state_dim, action_dim=action_dim, param_dim=param_dim
        )

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], *, state_dim: int, action_dim: int, param_dim: int
    ) -> ModelSpec:
        """Spec from a key's resolved settings (``key``, ``family``, ``probabilistic``,
        ``ensemble_size``, ``hidden``, ``layers``; the rest is ignored), e.g. a YAML's key."""
        names = ("key", "family", "ensemble_size", "probabilistic", "hidden", "layers")
        later = {k: settings[k] for k in LATER if k in settings}
        return cls(
            state_dim=state_dim,
            action_dim=action_dim,
            param_dim=param_dim,
            **{k: settings[k] for k in names},
            **later,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields; the later families' settings (``configs.LATER``) only
        when not neutral, so the paper's keys' checkpoints are as before."""
        return {k: v for k, v in asdict(self).items() if k not in LATER or v != LATER[k]}

    @property
    def residual(self) -> bool:
        """A trajectory model that predicts ``(s_h - s_0) / sqrt(h)``."""
        return self.target == "residual"

    def sample_widths(self) -> tuple[int, int]:
        """Columns of the training samples x (M, in) and y (M, out) this spec is fitted on:
        one-step ``(ds + du, ds)``, or windows ``(ds + k du + dp, k ds)`` when ``unroll`` = k
        > 1 (:func:`trajmbrl.data.pairs.unroll_windows`); trajectory ``(ds + 1 + dp, ds)``."""
        ds, du, dp, k = self.state_dim, self.action_dim, self.param_dim, self.unroll
        if self.family == "trajectory":
            return ds + 1 + dp, ds
        if self.family == "sequence":
            return ds + dp, self.window * ds
        if k > 1:
            return ds + k * du + dp, k * ds
        return ds + du, ds

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`TrajmbrlError`."""
        names = {f.name for f in fields(cls)}
        extra = set(d) - names
        if extra:
            raise TrajmbrlError(f"unknown model spec keys {sorted(extra)}")
        return cls(**d)


class DynamicsModel(nn.Module):
    """Normaliser -> :class:`EnsembleMLP` -> de-normaliser, for one of the two model families.

    ``seed`` seeds the weight initialisation (an explicit generator; the global RNG is untouched).
    Training losses and validation scores are computed in normalised units; ``predict*``,
    :meth:`step` and :meth:`query` run under ``torch.no_grad()`` and return raw units.
    """

    def __init__(self, spec: ModelSpec, *, seed: int = 0) -> None:
        super().__init__()
        inputs.model_spec(spec, ModelSpec)
        self.spec = spec
        self.in_norm = Normalizer(self.in_dim)
        self.out_norm = Normalizer(self.out_dim)
        gen = torch.Generator().manual_seed(int(seed))
        self.net: EnsembleMLP | EnsembleGRU
        if spec.family == "sequence":
            self.net = EnsembleGRU(
                self.in_dim,
                self.out_dim,
                hidden=spec.hidden,
                ensemble=spec.ensemble_size,
                generator=gen,
            )
            return
        self.net = EnsembleMLP(
            self.in_dim,
            self.out_dim,
            hidden=spec.hidden,
            layers=spec.layers,
            ensemble=spec.ensemble_size,
            probabilistic=spec.probabilistic,
            generator=gen,
        )

    # ------------------------------------------------------------------ shapes
    @property
    def in_dim(self) -> int:
        """one-step: ds + du; trajectory: ds + 1 + dp; sequence: ds + dp."""
        s = self.spec
        if s.family == "one_step":
            return s.state_dim + s.action_dim
        if s.family == "sequence":
            return s.state_dim + s.param_dim
        return s.state_dim + 1 + s.param_dim

    @property
    def out_dim(self) -> int:
        """ds (a delta for one-step models, an absolute state for trajectory models)."""
        return self.spec.state_dim

    @property
    def ensemble_size(self) -> int:
        return self.spec.ensemble_size

    @property
    def device(self) -> torch.device:
        return self.net.head.weight.device

    def _as_members(self, x: Tensor, count: int | None = None) -> Tensor:
        """(B, in) -> (E, B, in) (a broadcast view) or check (E, B, in); E = ``count`` if given."""
        e = self.ensemble_size if count is None else count
        if x.ndim == 2:
            return x.unsqueeze(0).expand(e, *x.shape)
        if x.ndim == 3 and x.shape[0] == e:
            return x
        raise ValueError(
            f"expected input (B, {self.in_dim}) or ({self.ensemble_size}, B, {self.in_dim}), "
            f"got {tuple(x.shape)}"
        )

    def _check_dims(self, x: Tensor, y: Tensor | None = None) -> None:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"input has {x.shape[-1]} columns, model expects {self.in_dim}")
        if y is not None and y.shape[-1] != self.out_dim:
            raise ValueError(f"target has {y.shape[-1]} columns, model expects {self.out_dim}")

    # ------------------------------------------------------------------ training
    def targets(self, x: Tensor, y: Tensor) -> Tensor:
        """What the network learns for samples ``y``: ``y`` itself, or ``(y - s_i) / sqrt(h)``
        for a residual model (h < 1 counts as 1).

        :param x: (..., in) = [s_i, h, theta]; :param y: (..., out) raw."""
        if not self.spec.residual:
            return y
        ds = self.spec.state_dim
        return (y - x[..., :ds]) / x[..., ds : ds + 1].clamp(min=1.0).sqrt()

    def _states(self, x: Tensor, mean: Tensor, var: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Inverse of :meth:`targets` on raw network outputs: mean (..., out) and variance."""
        if not self.spec.residual:
            return mean, var
        ds = self.spec.state_dim
        scale = x[..., ds : ds + 1].clamp(min=1.0).sqrt()
        return mean * scale + x[..., :ds], None if var is None else var * scale.square()

    def fit_normalizers(self, x: Tensor, y: Tensor) -> None:
        """Fit input and output normalisers on raw training data.

        :param x: (N, in) raw inputs; :param y: (N, out) raw targets.
        """
        self._check_dims(x, y)
        self.in_norm.fit(x)
        self.out_norm.fit(self.targets(x, y))

    def forward(self, x: Tensor, members: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Normalised-space forward. :param x: (E, B, in) raw ((A, B, in) for ``members``).

        :returns: mean (E, B, out) and log-variance (E, B, out) or None, both normalised.
        """
        if not isinstance(self.net, EnsembleMLP):
            raise TypeError("a sequence model runs with sequence_forward(x, steps)")
        return self.net(self.in_norm.normalize(x), members)

    def loss(self, x: Tensor, y: Tensor, members: Tensor | None = None) -> Tensor:
        """Per-member training loss in normalised space.

        Deterministic: MSE averaged over batch and dims. Gaussian: NLL
        ``mean_{batch,dims}[(mu - y)^2 exp(-lv) + lv]`` (the constant ``log 2 pi`` and the 1/2 are
        dropped, as in PETS/MBRL-Lib) plus the member's log-variance bound penalty.

        :param x: (E, B, in) raw; :param y: (E, B, out) raw; ``members``: (A,) indices of the
            members to train (x, y then (A, B, .)), None = all. :returns: (E,) or (A,).
        """
        self._check_dims(x, y)
        count = None if members is None else members.shape[0]
        xn = self.in_norm.normalize(self._as_members(x, count))
        return self.normalized_loss(xn, self.out_norm.normalize(self.targets(x, y)), members)

    def normalized_loss(self, xn: Tensor, yn: Tensor, members: Tensor | None = None) -> Tensor:
        """:meth:`loss` on inputs normalised by ``in_norm`` and :meth:`targets` normalised by
        ``out_norm`` (the trainer
        normalises its data once per fit, not per step; the numbers are identical).

        :param xn: (E, B, in) or (A, B, in) for ``members``; :param yn: (., B, out).
        :returns: (E,) or (A,).
        """
        mean, logvar = self.net(xn, members)
        sq = (mean - yn).square()
        if logvar is None:
            return sq.mean((1, 2))
        nll = (sq * torch.exp(-logvar) + logvar).mean((1, 2))
        assert isinstance(self.net, EnsembleMLP)
        return nll + self.net.bound_penalty(members)

    @torch.no_grad()
    def eval_score(self, x: Tensor, y: Tensor, members: Tensor | None = None) -> Tensor:
        """Validation score: MSE of each member's mean in normalised space (also for Gaussians).

        :param x: (B, in) raw; :param y: (B, out) raw; ``members``: (A,) indices or None = all.
        :returns: (E,) or (A,).
        """
        self._check_dims(x, y)
        dtype = self.net.head.weight.dtype
        x, y = x.to(dtype), y.to(dtype)
        was_training = self.training
        self.eval()
        try:
            count = self.ensemble_size if members is None else members.shape[0]
            total = x.new_zeros(count, dtype=torch.float64)
            for lo in range(0, x.shape[0], _CHUNK_ROWS):
                xb, yb = x[lo : lo + _CHUNK_ROWS], y[lo : lo + _CHUNK_ROWS]
                mean, _ = self(self._as_members(xb, count), members)
                err = (mean - self.out_norm.normalize(self.targets(xb, yb))).square().sum((1, 2))
                total += err.to(torch.float64)
            return (total / max(1, x.shape[0] * self.out_dim)).to(x.dtype)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict_members(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Every member's prediction in raw units.

        :param x: (B, in) or (E, B, in) raw.
        :returns: mean (E, B, out) raw (an absolute state for trajectory models, residual or
            not); variance (E, B, out) raw for Gaussian models, else None.
        """
        self._check_dims(x)
        xe = self._as_members(x.to(self.net.head.weight.dtype))
        was_training = self.training
        self.eval()
        try:
            means, variances = [], []
            for lo in range(0, xe.shape[1], _CHUNK_ROWS):
                xc = xe[:, lo : lo + _CHUNK_ROWS]
                mean, logvar = self(xc)
                var = None if logvar is None else self.out_norm.denormalize_var(torch.exp(logvar))
                mean, var = self._states(xc, self.out_norm.denormalize(mean), var)
                means.append(mean)
                if var is not None:
                    variances.append(var)
        finally:
            self.train(was_training)
        if not means:  # B == 0
            empty = xe.new_zeros(self.ensemble_size, 0, self.out_dim)
            return empty, (empty.clone() if self.spec.probabilistic else None)
        mean = torch.cat(means, 1) if len(means) > 1 else means[0]
        if not variances:
            return mean, None
        var = torch.cat(variances, 1) if len(variances) > 1 else variances[0]
        return mean, var

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Mean over all members (elites are not applied here), raw units.

        :param x: (B, in) raw. :returns: (B, out) raw (a delta for one-step models).
        """
        return self.predict_members(x)[0].mean(0)

    @torch.no_grad()
    def step(self, states: Tensor, actions: Tensor) -> Tensor:
        """One-step models: next state ``s + mean delta``.

        :param states: (B, ds); :param actions: (B, du). :returns: (B, ds).
        """
        if self.spec.family != "one_step":
            raise TypeError("step() is for one-step models; use query() for trajectory models")
        return states + self.predict(torch.cat([states, actions], dim=-1))

    def trajectory_inputs(self, s0: Tensor, horizons: Tensor, theta: Tensor) -> Tensor:
        """Rows ``[s0_b, h, theta_b]`` for every (trajectory b, horizon h), b-major.

        :param s0: (B, ds); :param horizons: (H,); :param theta: (B, dp). :returns: (B*H, in)
        """
        b, h = s0.shape[0], horizons.shape[0]
        hcol = horizons.to(dtype=s0.dtype, device=s0.device).reshape(1, h, 1).expand(b, h, 1)
        return torch.cat(
            [s0.unsqueeze(1).expand(b, h, -1), hcol, theta.unsqueeze(1).expand(b, h, -1)],
            dim=-1,
        ).reshape(b * h, self.in_dim)

    @torch.no_grad()
    def query(
        self, s0: Tensor, horizons: Tensor, theta: Tensor, *, members: bool = False
    ) -> Tensor:
        """Trajectory models: predict ``s_{h}`` for every horizon in one batched forward.

        :param s0: (B, ds) initial states; :param horizons: (H,) steps ahead (int or float);
        :param theta: (B, dp) controller parameters.
        :returns: (B, H, ds) member mean, or (E, B, H, ds) with ``members=True``.
        """
        if self.spec.family != "trajectory":
            raise TypeError("query() is for trajectory models; use step() for one-step models")
        b, h = s0.shape[0], horizons.shape[0]
        mean, _ = self.predict_members(self.trajectory_inputs(s0, horizons, theta))
        mean = mean.reshape(self.ensemble_size, b, h, self.out_dim)
        return mean if members else mean.mean(0)

    # ------------------------------------------------------------------ sequence family
    def sequence_targets(self, x: Tensor, y: Tensor) -> Tensor:
        """What a sequence model learns: ``(s_t - s_0) / sqrt(t)`` raw (..., W, ds) for windows
        x (..., ds + dp), y (..., W ds)."""
        ds = self.spec.state_dim
        states = y.unflatten(-1, (-1, ds))
        t = torch.arange(1, states.shape[-2] + 1, dtype=y.dtype, device=y.device)
        return (states - x[..., None, :ds]) / t.sqrt()[:, None]

    def fit_sequence_normalizers(self, x: Tensor, y: Tensor) -> None:
        """Normalisers of a sequence model from training windows x (N, in), y (N, W ds)."""
        self.in_norm.fit(x)
        self.out_norm.fit(self.sequence_targets(x, y).reshape(-1, self.out_dim))

    def sequence_forward(self, x: Tensor, steps: int, members: Tensor | None = None) -> Tensor:
        """Normalised outputs (E, B, steps, ds) ((A, ...) for ``members``) of raw x (E, B, in)."""
        assert isinstance(self.net, EnsembleGRU)
        return self.net(self.in_norm.normalize(x), steps, members)

    @torch.no_grad()
    def predict_sequence(self, s0: Tensor, theta: Tensor, steps: int) -> Tensor:
        """Sequence models: every member's s_1..s_steps in raw units.

        :param s0: (B, ds); :param theta: (B, dp). :returns: (E, B, steps, ds).
        """
        if self.spec.family != "sequence":
            raise TypeError("predict_sequence() is for sequence models")
        x = torch.cat([s0, theta], -1).to(self.net.head.weight.dtype)
        t = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device).sqrt()[:, None]
        was_training = self.training
        self.eval()
        try:
            parts = []
            for lo in range(0, x.shape[0], _CHUNK_ROWS):
                xc = self._as_members(x[lo : lo + _CHUNK_ROWS])
                out = self.out_norm.denormalize(self.sequence_forward(xc, steps))
                parts.append(out * t + xc[..., None, : self.out_dim])
        finally:
            self.train(was_training)
        if not parts:
            return x.new_zeros(self.ensemble_size, 0, steps, self.out_dim)
        return torch.cat(parts, 1)
