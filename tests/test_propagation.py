"""ModelEnv propagation modes, particle roll-outs and uncertainty scores."""

import numpy as np
import pytest
import torch

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.model_env import ModelEnv
from trajmbrl.evaluation.predict import predict
from trajmbrl.evaluation.uncertainty import gaussian_scores, mixture_moments
from trajmbrl.models.dynamics import DynamicsModel, ModelSpec


def make(key, family, prob, e, seed=0):
    spec = ModelSpec(
        key=key,
        family=family,
        state_dim=3,
        action_dim=1,
        param_dim=2,
        ensemble_size=e,
        probabilistic=prob,
        hidden=16,
        layers=2,
    )
    model = DynamicsModel(spec, seed=seed)
    n_in = 4 if family == "one_step" else 6
    gen = torch.Generator().manual_seed(seed)
    model.fit_normalizers(torch.randn(64, n_in, generator=gen), torch.randn(64, 3, generator=gen))
    return model.eval()


S0 = np.random.default_rng(0).normal(size=(4, 3))
ACTIONS = np.random.default_rng(1).normal(size=(4, 7, 1))


@pytest.mark.parametrize("propagation", ["mean", "ts1", "tsinf"])
def test_shapes_of_every_propagation_mode(propagation):
    model = make("pe", "one_step", True, 5)
    out = predict(model, S0, 6, actions=ACTIONS, propagation=propagation, particles=3)["logged"]
    assert out.samples.shape == ((1 if propagation == "mean" else 3), 4, 6, 3)
    single = predict(model, S0, 6, actions=ACTIONS, propagation=propagation)["logged"]
    assert single.samples.shape == (1, 4, 6, 3) and single.mean.shape == (4, 6, 3)


def test_mean_propagation_equals_the_deterministic_step_path():
    model = make("pe", "one_step", True, 5)
    state = torch.as_tensor(S0, dtype=torch.float32)
    expect = []
    for t in range(5):
        state = model.step(state, torch.as_tensor(ACTIONS[:, t], dtype=torch.float32))
        expect.append(state.numpy())
    got = predict(model, S0, 5, actions=ACTIONS, propagation="mean")["logged"].mean
    np.testing.assert_allclose(got, np.stack(expect, axis=1), rtol=1e-5, atol=1e-6)


def test_tsinf_pins_each_particle_to_one_member():
    model = make("de", "one_step", False, 3)  # deterministic: tsinf = that member's own path
    env = ModelEnv(model, propagation="tsinf")
    start = torch.as_tensor(np.repeat(S0[:1], 3, axis=0), dtype=torch.float32)
    state = env.reset(start)
    act = torch.zeros(3, 1)
    for _ in range(4):
        x = torch.cat([state, act], -1)
        member_means, _ = model.predict_members(x)
        expect = state + member_means[torch.arange(3), torch.arange(3)]
        state = env.step(act)
        torch.testing.assert_close(state, expect)
    assert len({tuple(r) for r in state.numpy().round(6)}) == 3  # members differ


def test_sampling_is_seeded_and_spreads():
    model = make("p", "one_step", True, 1)

    def run():
        out = predict(model, S0, 6, actions=ACTIONS, propagation="ts1", particles=8, seed=3)
        return out["logged"].samples

    a, b = run(), run()
    np.testing.assert_array_equal(a, b)
    assert a[:, :, -1].std(axis=0).min() > 0


def test_bad_propagation_and_model_kind_are_refused():
    with pytest.raises(TrajmbrlError, match="^propagation must be one of"):
        ModelEnv(make("d", "one_step", False, 1), propagation="ts2")
    with pytest.raises(TrajmbrlError, match="one-step"):
        ModelEnv(make("t", "trajectory", False, 1))


def test_trajectory_members_match_query():
    model = make("tpe", "trajectory", True, 5)
    params = np.random.default_rng(2).normal(size=(4, 2))
    out = predict(model, S0, 5, theta=params)["direct"]
    means, var = out.samples, out.variances
    assert means.shape == var.shape == (5, 4, 5, 3) and (var > 0).all()
    q = model.query(
        torch.as_tensor(S0, dtype=torch.float32),
        torch.arange(1, 6, dtype=torch.float32),
        torch.as_tensor(params, dtype=torch.float32),
        members=True,
    )
    np.testing.assert_allclose(means, q.numpy(), rtol=1e-5, atol=1e-6)


def test_mixture_moments_and_calibration_scores():
    means = np.array([[0.0], [2.0]])
    mean, var = mixture_moments(means, np.array([[1.0], [1.0]]))
    assert mean[0] == 1.0 and var[0] == 2.0  # within-member 1 + between-member 1
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2000, 1, 1))
    s = gaussian_scores(true, np.zeros_like(true), np.ones_like(true), np.zeros(1), np.ones(1))
    assert abs(np.nanmean(s["cov1"]) - 0.683) < 0.03
    assert abs(np.nanmean(s["cov2"]) - 0.954) < 0.02
    assert abs(np.nanmean(s["nll"]) - (0.5 * np.log(2 * np.pi) + 0.5)) < 0.05
    bad = gaussian_scores(
        true[:1], np.full((1, 1, 1), np.nan), np.ones((1, 1, 1)), np.zeros(1), np.ones(1)
    )
    assert np.isnan(bad["nll"]).all()


@pytest.mark.parametrize("key", ["de", "pe"])
def test_tsinf_runs_each_member_on_its_own_rows_with_the_same_deltas(key):
    """The TS-inf fast path (member e runs rows e, e + E, ...) equals every member on every
    row followed by the pick of row r's member r % E, noise included, within float rounding
    (a GEMM of other row counts may block differently; at the MPC sizes it was bit-identical)."""
    from trajmbrl.evaluation.model_env import ModelEnv
    from trajmbrl.models.dynamics import DynamicsModel, ModelSpec

    spec = ModelSpec.for_key(key, state_dim=3, action_dim=1, param_dim=0, hidden=16, layers=2)
    model = DynamicsModel(spec, seed=1).eval()
    x0, act = torch.randn(20, 3), torch.rand(20, 1)
    env = ModelEnv(model, propagation="tsinf", seed=5)
    env.reset(x0)
    fast = [env.step(act).clone() for _ in range(3)]
    gen, state = torch.Generator().manual_seed(5), x0.clone()
    for want in fast:
        mean, var = model.predict_members(torch.cat([state, act], -1))
        rows = torch.arange(20)
        delta = mean[rows % 5, rows]
        if var is not None:
            delta = delta + var[rows % 5, rows].clamp_min(0).sqrt() * torch.randn(
                delta.shape, generator=gen
            )
        state = state + delta
        torch.testing.assert_close(state, want, rtol=1e-6, atol=1e-6)
        state = want.clone()  # the next step from the same state
