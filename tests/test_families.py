"""The later model families (issue 24): residual trajectory keys (tr, tre) and one-step keys
trained with a k-step loss (dk, dke): known answers on a linear closed loop, checkpoints with
provenance, determinism and the CLI at smoke scale."""

import numpy as np
import pandas as pd
import pytest
import torch

from toy import ToySampler, closed_loop, toy_dataset
from trajmbrl import api
from trajmbrl.configs import model_config, resolve_model
from trajmbrl.data.pairs import unroll_windows
from trajmbrl.errors import ArgumentError, TrajmbrlError
from trajmbrl.models.checkpoint import CheckpointMismatch, load_checkpoint, save_checkpoint
from trajmbrl.models.dynamics import ModelSpec
from trajmbrl.training.fit import fit

SMALL = {"hidden": 32, "layers": 2, "batch_size": 64}


def _zero_error(test):
    """The ``zero`` baseline's nMSE (N, H): s_h = s_0."""
    return api.score(np.repeat(test.states[:, :1], test.horizon, 1), test)


def test_the_residual_model_is_no_worse_than_zero_at_h1():
    data = toy_dataset(n=24, horizon=10, test=8, seed=1)
    test = data.test()
    model, _ = api.train_on_dataset(
        "tr", data, seed=0, sampling={"keep_rate": None}, epochs=20, **SMALL
    )
    pred = api.predict(model, test.states[:, 0], test.horizon, test.params)
    error, zero = api.score(pred.mean, test), _zero_error(test)
    assert np.median(error[:, 0]) <= np.median(zero[:, 0])
    # and it is a trajectory model that learnt the loop: far better than zero at h = 10
    assert np.median(error[:, -1]) < 0.2 * np.median(zero[:, -1])


def test_the_residual_target_is_the_model_s_own_transform():
    """Same samples (y = s_h); the network learns (s_h - s_0) / sqrt(h); predictions are states."""
    spec = ModelSpec.for_key("tr", state_dim=2, action_dim=1, param_dim=2, hidden=8, layers=1)
    from trajmbrl.models.dynamics import DynamicsModel

    net = DynamicsModel(spec, seed=0)
    x = torch.tensor([[1.0, 2.0, 4.0, 0.5, 0.5]])  # s_0 = (1, 2), h = 4, theta
    y = torch.tensor([[3.0, 0.0]])
    assert torch.allclose(net.targets(x, y), torch.tensor([[1.0, -1.0]]))
    with torch.no_grad():
        raw, _ = net(x.unsqueeze(0))
        expected = x[:, :2] + 2.0 * net.out_norm.denormalize(raw[0])
    assert torch.allclose(net.predict(x), expected)
    assert spec.to_dict()["target"] == "residual"
    assert "target" not in ModelSpec.for_key("t", state_dim=2, action_dim=1, param_dim=2).to_dict()


def test_unroll_windows_are_cut_from_whole_trajectories():
    data = toy_dataset(n=3, horizon=6, test=0)
    data.lengths[1] = 4
    x, y, report = unroll_windows(data, 3)
    assert x.shape == (4 + 2 + 4, 2 + 3 * 1 + 2) and y.shape == (10, 3 * 2)
    assert report.traj.tolist() == [0] * 4 + [1] * 2 + [2] * 4
    n, i = 1, 1  # the second window of trajectory 1
    row = 4 + i
    np.testing.assert_allclose(x[row, :2], data.states[n, i], rtol=1e-6)
    np.testing.assert_allclose(x[row, 2:5], data.actions[n, i : i + 3, 0], rtol=1e-6)
    np.testing.assert_allclose(y[row], data.states[n, i + 1 : i + 4].ravel(), rtol=1e-6)


@pytest.mark.parametrize("actions", ["logged", "controller"])
def test_the_multistep_model_recovers_the_linear_loop(actions):
    data = toy_dataset(n=30, horizon=12, test=8, seed=2)
    test = data.test()
    spec = ModelSpec.for_key(
        "dk", state_dim=2, action_dim=1, param_dim=2, hidden=32, layers=2, unroll_actions=actions
    )
    x, y, report = api.training_samples(data, "dk", seed=0)
    settings = {**model_config("dk"), "epochs": 60, "batch_size": 32, "lr": 3e-3}
    config = api.trainer_config(settings, patience=None)
    model, history = fit(spec, x, y, config, groups=report.traj, sampler=ToySampler())
    assert history.best_score[0] < 0.05  # the 5-step loss on validation trajectories
    # the learnt one-step map is the loop's A - B theta: a 12-step closed-loop roll-out
    pred = api.rollout(model, test.states[:, 0], 12, controller=ToySampler(), params=test.params)
    err = api.score(pred, test)
    assert np.median(err[:, -1]) < 0.05 * np.median(_zero_error(test)[:, -1])
    s, theta = torch.tensor([[0.3, -0.2]]), test.params[:1]
    u = torch.as_tensor(ToySampler().build(theta).act(s.numpy()), dtype=torch.float32)
    exact = s.numpy() @ closed_loop(theta[0]).T
    np.testing.assert_allclose(model.step(s, u).numpy(), exact, atol=0.01)


def test_the_controller_in_the_loop_needs_the_sampler():
    spec = ModelSpec.for_key(
        "dk", state_dim=2, action_dim=1, param_dim=2, hidden=8, unroll_actions="controller"
    )
    data = toy_dataset(n=4, horizon=8, test=0)
    x, y, report = api.training_samples(data, "dk", seed=0)
    config = api.trainer_config({**model_config("dk"), "epochs": 1})
    with pytest.raises(ArgumentError, match=r"unroll_actions=controller needs"):
        fit(spec, x, y, config, groups=report.traj)


def test_later_settings_belong_to_one_family():
    with pytest.raises(ArgumentError, match=r"target='residual' is a setting of trajectory"):
        ModelSpec(key="d", family="one_step", state_dim=2, action_dim=1, param_dim=0,
                  target="residual")  # fmt: skip
    with pytest.raises(ArgumentError, match=r"Gaussian"):
        ModelSpec(key="p", family="one_step", state_dim=2, action_dim=1, param_dim=0,
                  probabilistic=True, unroll=3)  # fmt: skip
    # model.* applies a family's setting to that family's keys only; neutral values are left out
    assert "unroll" not in resolve_model("t", model_config("t"), {"unroll": 3})
    assert resolve_model("d", model_config("d"), {"unroll": 3})["unroll"] == 3
    assert resolve_model("t", model_config("t"), {"target": "absolute"}) == model_config("t")


def test_the_sequence_model_recovers_the_linear_loop():
    data = toy_dataset(n=30, horizon=12, test=8, seed=3)
    test = data.test()
    model, history = api.train_on_dataset(
        "sq", data, seed=0, window=8, epochs=60, lr=3e-3, patience=None, **SMALL
    )
    assert history.stopped_epoch == 60
    pred = api.predict(model, test.states[:, 0], 12, test.params)  # past the window: rolls on
    assert pred.mean.shape == (8, 12, 2) and pred.members.shape == (1, 8, 12, 2)
    err, zero = api.score(pred.mean, test), _zero_error(test)
    assert np.median(err[:, 7]) < 0.1 * np.median(zero[:, 7])
    assert np.median(err[:, 0]) <= np.median(zero[:, 0])


def test_sequence_windows_and_members_are_batched():
    data = toy_dataset(n=3, horizon=6, test=0)
    x, y, report = api.training_samples(data, "sq", window=4)
    assert x.shape == (9, 2 + 2) and y.shape == (9, 4 * 2) and report.t_range == 4
    np.testing.assert_allclose(y[1], data.states[0, 2:6].ravel(), rtol=1e-6)
    x_all, y_all, rep_all = api.training_samples(data, "sq", window=50)  # capped at the data
    assert y_all.shape == (3, 6 * 2) and rep_all.t_range == 6
    assert rep_all.describe() == "sequence: 3 windows of 6 steps from 3 trajectories"
    capped, _ = api.train_model(
        "sq", x_all, y_all, state_dim=2, action_dim=1, param_dim=2, epochs=1, hidden=8
    )
    assert capped.spec.window == 6  # the checkpoint records the window it was trained on
    model, _ = api.train_model(
        "sqe", x, y, state_dim=2, action_dim=1, param_dim=2, traj=report.traj, epochs=1, hidden=8
    )
    states = model.predict_sequence(torch.zeros(2, 2), torch.ones(2, 2), 7)
    assert states.shape == (5, 2, 7, 2)
    assert not torch.equal(states[0], states[1])  # members differ


@pytest.mark.parametrize("key", ["tre", "dke", "sqe"])
def test_checkpoint_round_trip_with_provenance_and_same_seed_same_weights(key, tmp_path):
    data = toy_dataset(n=8, horizon=8, test=2)
    runs = [
        api.train_on_dataset(key, data, seed=3, sampling={"keep_rate": None}, epochs=2, **SMALL)
        for _ in range(2)
    ]
    (a, _), (b, _) = runs
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    path = tmp_path / "model.pt"
    save_checkpoint(path, a, meta={"dataset_sha256": "abc", "variant": "n=all_t=all", "seed": 3})
    loaded, meta = load_checkpoint(path, expect={"key": key, "dataset_sha256": "abc"})
    assert loaded.spec == a.spec and meta["seed"] == 3
    s0, theta = data.states[:2, 0], data.params[:2]
    if key != "dke":
        np.testing.assert_array_equal(
            api.predict(loaded, s0, 5, theta).members, api.predict(a, s0, 5, theta).members
        )
    else:
        acts = data.actions[:2]
        np.testing.assert_array_equal(
            api.rollout(loaded, s0, 5, actions=acts), api.rollout(a, s0, 5, actions=acts)
        )
    with pytest.raises(CheckpointMismatch, match="another dataset"):
        load_checkpoint(path, expect={"dataset_sha256": "def"})


def test_the_batched_grid_refuses_the_multistep_loss():
    from trajmbrl.training.grid import Cell, train_cells

    spec = ModelSpec.for_key("dk", state_dim=2, action_dim=1, param_dim=2, hidden=8)
    x, y = torch.zeros(4, spec.sample_widths()[0]), torch.zeros(4, spec.sample_widths()[1])
    with pytest.raises(ArgumentError, match="cell by cell"):
        train_cells(spec, [Cell(x, y, None, api.trainer_config(model_config("dk")))])


def test_new_keys_train_and_evaluate_through_the_cli(run_mode, tmp_path):
    run_mode("mode=collect")
    keys = ["tr", "dk", "sq"]
    # each later setting applies to the keys of its family only
    run_mode(
        "mode=train", f"models=[{','.join(keys)}]", "model.epochs=1", "model.hidden=16",
        "model.window=8", "model.unroll=3", "model.target=residual",
    )  # fmt: skip
    run_mode("mode=eval", f"models=[{','.join(keys)}]", "eval.protocols=[logged,controller]")
    run = tmp_path / "outputs/smoke/cartpole/toy_stable"
    frame = pd.concat(pd.read_csv(p, comment="#") for p in (run / "metrics").glob("*.csv"))
    sources = frame.groupby("model")["action_source"].unique().map(set).to_dict()
    assert sources == {"tr": {"direct"}, "dk": {"logged", "controller"}, "sq": {"direct"}}
    specs = {
        k: load_checkpoint(next((run / f"models/{k}").rglob("model.pt")))[0].spec for k in keys
    }
    assert (specs["dk"].unroll, specs["sq"].window, specs["tr"].target) == (3, 8, "residual")
    with pytest.raises(TrajmbrlError, match="model.unroll"):
        run_mode("mode=train", "models=dk", "model.unroll=999", "overwrite=true")


@pytest.mark.parametrize("key", ["dke", "sq"])
def test_a_killed_windowed_training_resumes_to_the_straight_run(key, tmp_path):
    from trajmbrl.models.dynamics import DynamicsModel
    from trajmbrl.training.multistep import MultiStepTrainer
    from trajmbrl.training.sequence import SequenceTrainer

    data = toy_dataset(n=10, horizon=8, test=2)
    x, y, report = api.training_samples(data, key, seed=0, window=4)
    spec = ModelSpec.for_key(key, state_dim=2, action_dim=1, param_dim=2, hidden=8, window=4)
    cfg = api.trainer_config({**model_config(key), "epochs": 4, "batch_size": 16}, patience=10)
    xt, yt, groups = torch.as_tensor(x), torch.as_tensor(y), torch.as_tensor(report.traj)

    def trainer(seed, **kw):
        model = DynamicsModel(spec, seed=seed)
        if key == "sq":
            return model, SequenceTrainer(model, cfg, window=4, progress=False, **kw)
        return model, MultiStepTrainer(model, cfg, progress=False, **kw)

    straight, t = trainer(0)
    t.fit(xt, yt, groups=groups)

    def kill(epoch, _history):
        if epoch == 2:
            raise KeyboardInterrupt

    state = tmp_path / "train_state.pt"
    _, first = trainer(0, state_path=state, state_every=0)
    with pytest.raises(KeyboardInterrupt):
        first.fit(xt, yt, groups=groups, on_epoch=kill)
    resumed, again = trainer(7, state_path=state)
    again.fit(xt, yt, groups=groups)
    for (name, p), q in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert torch.equal(p, q), name
