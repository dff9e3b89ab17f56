"""Model zoo: normaliser, batched ensemble, dynamics models, checkpoints, baselines."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trajmbrl.configs import model_keys, paper_keys
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models import (
    DynamicsModel,
    EnsembleMLP,
    LinearModel,
    ModelSpec,
    Normalizer,
    ZeroModel,
    load_checkpoint,
    save_checkpoint,
)
from trajmbrl.utils.atomic import sha256_file

DS, DU, DP = 4, 1, 4


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(key: str, *, hidden: int = 16, seed: int = 0) -> DynamicsModel:
    spec = ModelSpec.for_key(
        key, state_dim=DS, action_dim=DU, param_dim=DP, hidden=hidden, layers=2
    )
    m = DynamicsModel(spec, seed=seed)
    g = _gen(seed + 1)
    x = torch.randn(64, m.in_dim, generator=g) * 3 + 1
    y = torch.randn(64, m.out_dim, generator=g) * 0.5 - 2
    m.fit_normalizers(x, y)
    return m


def test_normalizer_constant_dim_and_roundtrip():
    x = torch.randn(100, 3, generator=_gen()) * torch.tensor([2.0, 0.0, 5.0]) + 7.0
    norm = Normalizer(3)
    norm.fit(x)
    assert norm.std[1].item() == 1.0  # constant dim: std floored to 1, no division by ~0
    z = norm.normalize(x)
    assert torch.isfinite(z).all()
    assert torch.allclose(z[:, [0, 2]].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z[:, [0, 2]].std(0, correction=0), torch.ones(2), atol=1e-4)
    assert torch.allclose(norm.denormalize(z), x, atol=1e-5)
    var = torch.ones(5, 3)
    assert torch.allclose(norm.denormalize_var(var)[0], norm.std.square())
    with pytest.raises(TrajmbrlError, match="NaN"):
        norm.fit(torch.tensor([[float("nan"), 1.0, 2.0]]))


@pytest.mark.parametrize("probabilistic", [False, True])
def test_batched_ensemble_equals_separate_mlps(probabilistic: bool):
    e, din, dout = 3, 5, 2
    net = EnsembleMLP(
        din, dout, hidden=7, layers=3, ensemble=e, probabilistic=probabilistic, generator=_gen()
    )
    layers = [*net.hidden, net.head]
    x = torch.randn(e, 11, din, generator=_gen(1))
    mean, logvar = net(x)
    assert mean.shape == (e, 11, dout)
    assert (logvar is not None) == probabilistic
    for k in range(e):
        mods: list[nn.Module] = []
        for i, lay in enumerate(layers):
            lin = nn.Linear(lay.in_dim, lay.out_dim)
            with torch.no_grad():
                lin.weight.copy_(lay.weight[k].T)
                lin.bias.copy_(lay.bias[k, 0])
            mods.append(lin)
            if i < len(layers) - 1:
                mods.append(nn.ReLU())
        out = nn.Sequential(*mods)(x[k])
        torch.testing.assert_close(mean[k], out[:, :dout], rtol=1e-5, atol=1e-6)
    # members are initialised independently, each like nn.Linear: U(-1/sqrt(in), 1/sqrt(in))
    w = net.hidden[1].weight
    assert not torch.equal(w[0], w[1])
    assert w.abs().max() <= 7**-0.5


def test_logvar_soft_bounds_are_learnable():
    net = EnsembleMLP(3, 2, hidden=8, ensemble=2, probabilistic=True, generator=_gen())
    with torch.no_grad():
        net.head.bias[..., 2:] = 100.0  # huge raw log-variance
    _, lv = net(torch.zeros(2, 4, 3))
    assert lv is not None and (lv <= 0.5 + 1e-3).all() and (lv > 0.4).all()  # soft bound
    with torch.no_grad():
        net.head.bias[..., 2:] = -100.0
    _, lv = net(torch.zeros(2, 4, 3))
    assert lv is not None and (lv >= -10 - 1e-6).all() and (lv < -9.9).all()
    torch.testing.assert_close(net.bound_penalty(), torch.full((2,), 0.01 * (2 * 0.5 + 2 * 10)))
    names = {n for n, _ in net.named_parameters()}
    assert {"max_logvar", "min_logvar"} <= names
    model = DynamicsModel(ModelSpec.for_key("p", state_dim=2, action_dim=1, param_dim=0))
    loss = model.loss(torch.randn(1, 8, 3), torch.randn(1, 8, 2))
    loss.sum().backward()
    assert model.net.max_logvar.grad is not None and model.net.min_logvar.grad is not None


def test_spec_dims_and_dict_roundtrip():
    for key in paper_keys():  # the later families: tests/test_families.py
        spec = ModelSpec.for_key(key, state_dim=DS, action_dim=DU, param_dim=DP)
        assert ModelSpec.from_dict(spec.to_dict()) == spec
        m = DynamicsModel(spec)
        family = "trajectory" if key.startswith("t") else "one_step"
        assert (spec.family, spec.probabilistic, spec.ensemble_size) == (
            family,
            "p" in key,
            5 if key.endswith("e") else 1,
        )
        assert m.in_dim == (DS + DU if family == "one_step" else DS + 1 + DP)
        assert m.out_dim == DS
    with pytest.raises(TrajmbrlError, match="unknown model key"):
        ModelSpec.for_key("zz", state_dim=1, action_dim=1, param_dim=1)


@pytest.mark.parametrize("key", ["t", "tpe"])
def test_query_shapes_and_equals_per_horizon_predict(key: str):
    m = _model(key)
    g = _gen(5)
    s0, theta = torch.randn(3, DS, generator=g), torch.randn(3, DP, generator=g)
    horizons = torch.tensor([1, 2, 5, 10])
    out = m.query(s0, horizons, theta)
    assert out.shape == (3, 4, DS)
    per_member = m.query(s0, horizons, theta, members=True)
    assert per_member.shape == (m.ensemble_size, 3, 4, DS)
    torch.testing.assert_close(per_member.mean(0), out)
    for j, h in enumerate(horizons.tolist()):
        x = torch.cat([s0, torch.full((3, 1), float(h)), theta], 1)
        torch.testing.assert_close(out[:, j], m.predict(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError):
        m.step(s0, torch.zeros(3, DU))


@pytest.mark.parametrize("key", ["d", "pe"])
def test_step_is_state_plus_mean_delta(key: str):
    m = _model(key)
    g = _gen(6)
    s, a = torch.randn(7, DS, generator=g), torch.randn(7, DU, generator=g)
    mean, var = m.predict_members(torch.cat([s, a], 1))
    assert mean.shape == (m.ensemble_size, 7, DS)
    assert (var is not None) == m.spec.probabilistic
    if var is not None:
        assert var.shape == mean.shape and (var > 0).all()
    torch.testing.assert_close(m.step(s, a), s + mean.mean(0))
    with pytest.raises(TypeError):
        m.query(s, torch.arange(3), torch.zeros(7, DP))


@pytest.mark.parametrize("key", [k for k in model_keys() if not k.startswith("sq")])
def test_checkpoint_roundtrip(key: str, tmp_path):
    m = _model(key, seed=3)
    path = tmp_path / f"{key}.pt"
    save_checkpoint(path, m, meta={"dataset_sha256": "abc", "epochs": 3})
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.pt"]  # no temp files left
    loaded, meta = load_checkpoint(path, expect={"state_dim": DS, "param_dim": DP})
    assert meta.pop("checkpoint_sha256") == sha256_file(path)  # the key of cached results
    assert meta == {"dataset_sha256": "abc", "epochs": 3}
    assert loaded.spec == m.spec
    x = torch.randn(9, m.in_dim, generator=_gen(9))
    a, av = m.predict_members(x)
    b, bv = loaded.predict_members(x)
    assert torch.equal(a, b)
    assert (av is None and bv is None) or torch.equal(av, bv)


def test_checkpoint_errors(tmp_path):
    m = _model("t")
    path = tmp_path / "model.pt"
    save_checkpoint(path, m, meta={})
    with pytest.raises(TrajmbrlError, match="state_dim") as err:
        load_checkpoint(path, expect={"state_dim": 6, "action_dim": DU})
    assert str(path) in str(err.value)
    with pytest.raises(TrajmbrlError, match="family"):
        load_checkpoint(path, expect={"family": "one_step"})
    with pytest.raises(TrajmbrlError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(TrajmbrlError, match="corrupt") as err:
        load_checkpoint(tmp_path / "trunc.pt")
    assert "trunc.pt" in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(TrajmbrlError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(TrajmbrlError, match="not a trajmbrl model checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_linear_baseline_recovers_linear_system():
    g = _gen(2)
    a_mat = torch.randn(DS + DU + 1, DS, generator=g, dtype=torch.float64)
    s, a = torch.randn(200, DS, generator=g), torch.randn(200, DU, generator=g)
    xa = torch.cat([s, a, torch.ones(200, 1)], 1).double()
    delta = (xa @ a_mat).float()
    lin = LinearModel(DS, DU)
    lin.fit(torch.cat([s, a], 1), delta)
    torch.testing.assert_close(lin.weight, a_mat, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(lin.step(s, a), s + delta, rtol=1e-4, atol=1e-4)


def test_zero_baseline():
    z = ZeroModel(DS)
    s0 = torch.randn(3, DS, generator=_gen())
    out = z.query(s0, torch.arange(1, 6), torch.zeros(3, DP))
    assert out.shape == (3, 5, DS) and torch.equal(out[:, 4], s0)


@pytest.mark.parametrize("members", [3, 5, 7])
def test_balanced_member_gemms_are_bit_identical(members: int):
    """Odd ensembles split over 2 threads (issue 10 item 3) give exactly one baddbmm's numbers."""
    from trajmbrl.models import ensemble

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(members)
        bias = torch.randn(members, 1, 250, generator=g)
        x = torch.randn(members, 256, 250, generator=g)
        weight = torch.randn(members, 250, 250, generator=g)
        assert ensemble._SPLIT_MIN_MACS <= 256 * 250 * 250  # the split path runs
        assert torch.equal(
            ensemble.balanced_baddbmm(bias, x, weight), torch.baddbmm(bias, x, weight)
        )
    finally:
        torch.set_num_threads(threads)
