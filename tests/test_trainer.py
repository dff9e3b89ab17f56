"""ModelTrainer: NLL sanity, per-member resampling, early stopping, determinism, resume."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from trajmbrl.errors import TrajmbrlError
from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.training import ModelTrainer, TrainConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spec(key: str, *, din: int = 3, dout: int = 2, hidden: int = 32) -> ModelSpec:
    """A one-step spec with input ``din`` (state dout + action din - dout) and output ``dout``."""
    return ModelSpec.for_key(
        key, state_dim=dout, action_dim=din - dout, param_dim=0, hidden=hidden, layers=2
    )


def _data(n: int, seed: int = 0, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    x = torch.randn(n, 3, generator=g)
    y = torch.stack([torch.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 0]], 1)
    return x, y + noise * torch.randn(n, 2, generator=g)


def _weights_equal(a: DynamicsModel, b: DynamicsModel) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_gaussian_nll_recovers_noise_std():
    g = _gen(1)
    x = torch.rand(4000, 1, generator=g) * 4 - 2
    y = x + 0.3 * torch.randn(4000, 1, generator=g)
    spec = ModelSpec.for_key("p", state_dim=1, action_dim=0, param_dim=0, hidden=32, layers=2)
    model = DynamicsModel(spec, seed=0)
    cfg = TrainConfig(epochs=25, batch_size=128, lr=3e-3, patience=25, val_fraction=0.1)
    ModelTrainer(model, cfg, progress=False).fit(x, y)
    xq = torch.linspace(-1.5, 1.5, 50).unsqueeze(1)
    mean, var = model.predict_members(xq)
    assert var is not None
    std = var.sqrt().mean().item()
    assert abs(std - 0.3) / 0.3 < 0.15, std
    torch.testing.assert_close(mean[0], xq, atol=0.1, rtol=0)


def test_validation_split_and_bootstrap_members():
    x, y = _data(600)
    model = DynamicsModel(_spec("de"), seed=0)
    trainer = ModelTrainer(model, TrainConfig(epochs=2, val_fraction=0.2), progress=False)
    trainer.fit(x, y)
    tr, va, mem = trainer.train_indices, trainer.val_indices, trainer.member_indices
    assert tr is not None and va is not None and mem is not None
    assert va.numel() == 120 and tr.numel() == 480
    assert not torch.equal(va.sort().values, torch.arange(480, 600))  # not the tail
    assert set(va.tolist()).isdisjoint(tr.tolist())
    assert mem.shape == (5, 480)
    train_set = set(tr.tolist())
    for k in range(5):
        rows = mem[k].tolist()
        assert set(rows) <= train_set
        assert len(set(rows)) < 0.8 * len(rows)  # bootstrap: ~63% unique
    assert all(not torch.equal(mem[0], mem[k]) for k in range(1, 5))


def test_kfold_members_leave_one_fold_out():
    x, y = _data(500)
    model = DynamicsModel(_spec("de", hidden=8), seed=0)
    trainer = ModelTrainer(model, TrainConfig(epochs=1, resample="kfold"), progress=False)
    trainer.fit(x, y)
    tr, mem = trainer.train_indices, trainer.member_indices
    assert tr is not None and mem is not None
    held_out = [set(tr.tolist()) - set(mem[k].tolist()) for k in range(5)]
    assert all(len(h) == 90 for h in held_out)  # 450 train rows, 5 folds of 90
    assert set().union(*held_out) == set(tr.tolist())


def test_each_member_fits_its_own_resample():
    """Memorising random labels: every member fits its in-bag rows better than its out-of-bag."""
    g = _gen(3)
    x, y = torch.randn(300, 3, generator=g), torch.randn(300, 2, generator=g)
    model = DynamicsModel(_spec("de", hidden=64), seed=0)
    cfg = TrainConfig(epochs=60, batch_size=32, lr=5e-3, patience=60, val_fraction=0.0)
    trainer = ModelTrainer(model, cfg, progress=False)
    trainer.fit(x, y)
    mem = trainer.member_indices
    assert mem is not None
    pred, _ = model.predict_members(x)
    err = (pred - y).square().mean(2)  # (E, N)
    for k in range(5):
        in_bag = torch.zeros(300, dtype=torch.bool)
        in_bag[mem[k]] = True
        assert err[k, in_bag].mean() < 0.7 * err[k, ~in_bag].mean()
    assert not torch.allclose(pred[0], pred[1])


def test_early_stopping_restores_best_weights_per_member():
    """Random labels: validation gets worse while members overfit, so they stop and restore."""
    g = _gen(4)
    x, y = torch.randn(400, 3, generator=g), torch.randn(400, 2, generator=g)
    model = DynamicsModel(_spec("de", hidden=64), seed=0)
    cfg = TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=3, val_fraction=0.25, elites=2)
    trainer = ModelTrainer(model, cfg, progress=False)
    hist = trainer.fit(x, y)
    assert hist.stopped_epoch < 40  # every member ran out of patience
    assert all(b < hist.stopped_epoch for b in hist.best_epoch)
    va = trainer.val_indices
    assert va is not None
    final = model.eval_score(x[va], y[va])
    frame = hist.to_frame()
    # a stopped member trains no more: its rows end patience epochs after its best epoch
    ends = frame.groupby("member").epoch.max().to_numpy()
    assert list(ends) == [b + 3 for b in hist.best_epoch]
    last = frame.sort_values("epoch").groupby("member").val_score.last().to_numpy()
    for m in range(5):
        at_best = frame[(frame.epoch == hist.best_epoch[m]) & (frame.member == m)].val_score
        assert final[m].item() == pytest.approx(at_best.item(), rel=1e-5)
        assert final[m].item() == pytest.approx(hist.best_score[m], rel=1e-5)
        assert final[m].item() < last[m]
    assert len(hist.elite_members) == 2
    others = [hist.best_score[m] for m in range(5) if m not in hist.elite_members]
    assert max(hist.best_score[m] for m in hist.elite_members) <= min(others)


@pytest.mark.parametrize("key", ["de", "pe"])
def test_deterministic_given_seed(key: str):
    x, y = _data(400)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=7)
    models = []
    for seed in (7, 7, 8):
        m = DynamicsModel(_spec(key, hidden=16), seed=0)
        ModelTrainer(m, TrainConfig(**{**cfg.to_dict(), "seed": seed}), progress=False).fit(x, y)
        models.append(m)
    assert _weights_equal(models[0], models[1])
    assert not _weights_equal(models[0], models[2])


def test_resume_after_kill_equals_straight_run(tmp_path):
    x, y = _data(500)
    cfg = TrainConfig(epochs=6, batch_size=64, patience=10, seed=1)
    straight = DynamicsModel(_spec("pe", hidden=16), seed=0)
    hist_straight = ModelTrainer(straight, cfg, progress=False).fit(x, y)

    state = tmp_path / "train_state.pt"

    def kill(epoch: int, _hist: object) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    first = DynamicsModel(_spec("pe", hidden=16), seed=0)
    with pytest.raises(KeyboardInterrupt):
        ModelTrainer(first, cfg, state_path=state, progress=False, state_every=0).fit(
            x, y, on_epoch=kill
        )
    assert state.exists()

    epochs_run: list[int] = []
    resumed = DynamicsModel(_spec("pe", hidden=16), seed=99)  # fresh process, other init
    hist = ModelTrainer(resumed, cfg, state_path=state, progress=False).fit(
        x, y, on_epoch=lambda e, h: epochs_run.append(e)
    )
    assert epochs_run == [4, 5, 6]
    assert _weights_equal(resumed, straight)
    assert hist.rows == hist_straight.rows
    assert hist.best_epoch == hist_straight.best_epoch

    # a finished state file is not trained again
    again = DynamicsModel(_spec("pe", hidden=16), seed=5)
    ModelTrainer(again, cfg, state_path=state, progress=False).fit(
        x, y, on_epoch=lambda e, h: epochs_run.append(e)
    )
    assert epochs_run == [4, 5, 6] and _weights_equal(again, straight)


def test_resume_with_other_thread_count_warns(tmp_path, caplog):
    """The thread count sets the summation order: a resume at another count is not bit-exact,
    so it is said (the run still resumes)."""
    x, y = _data(300)
    state = tmp_path / "train_state.pt"
    cfg = TrainConfig(epochs=2, batch_size=64, patience=10, seed=1)

    def kill(epoch: int, _hist: object) -> None:
        raise KeyboardInterrupt

    threads = torch.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        ModelTrainer(
            DynamicsModel(_spec("d", hidden=8)),
            cfg,
            state_path=state,
            progress=False,
            state_every=0,
        ).fit(x, y, on_epoch=kill)
    torch.set_num_threads(threads + 1)
    try:
        with caplog.at_level("WARNING", logger="trajmbrl.training.trainer"):
            ModelTrainer(
                DynamicsModel(_spec("d", hidden=8)), cfg, state_path=state, progress=False
            ).fit(x, y)
    finally:
        torch.set_num_threads(threads)
    assert f"saved with {threads}" in caplog.text and "OMP_NUM_THREADS" in caplog.text


def test_state_file_mismatch_and_corruption(tmp_path):
    x, y = _data(200)
    state = tmp_path / "state.pt"
    cfg = TrainConfig(epochs=1, batch_size=64)
    ModelTrainer(DynamicsModel(_spec("d", hidden=8)), cfg, state_path=state, progress=False).fit(
        x, y
    )
    other = TrainConfig(epochs=1, batch_size=64, lr=1e-2)
    with pytest.raises(TrajmbrlError, match="different config"):
        ModelTrainer(
            DynamicsModel(_spec("d", hidden=8)), other, state_path=state, progress=False
        ).fit(x, y)
    with pytest.raises(TrajmbrlError, match="different data"):
        ModelTrainer(
            DynamicsModel(_spec("d", hidden=8)), cfg, state_path=state, progress=False
        ).fit(x + 1, y)
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(TrajmbrlError, match="corrupt") as err:
        ModelTrainer(
            DynamicsModel(_spec("d", hidden=8)), cfg, state_path=state, progress=False
        ).fit(x, y)
    assert "state.pt" in str(err.value)


def test_nan_loss_names_lr():
    x, y = _data(300)
    model = DynamicsModel(_spec("d", hidden=16))
    with pytest.raises(TrajmbrlError, match="lower the learning rate lr "):
        ModelTrainer(model, TrainConfig(epochs=3, lr=1e30), progress=False).fit(x, y)


def test_bad_config_and_data():
    with pytest.raises(TrajmbrlError, match="^batch_size must be an integer >= 1, got 0$"):
        TrainConfig(batch_size=0)
    with pytest.raises(TrajmbrlError, match="^resample must be one of"):
        TrainConfig(resample="jackknife")  # type: ignore[arg-type]
    model = DynamicsModel(_spec("de", hidden=8))
    with pytest.raises(TrajmbrlError, match=r"^elites \(6\) exceeds"):
        ModelTrainer(model, TrainConfig(elites=6))
    x, y = _data(50)
    with pytest.raises(TrajmbrlError, match="expects 3 / 2"):
        ModelTrainer(model, TrainConfig(), progress=False).fit(x[:, :2], y)
    x[3, 1] = float("nan")
    with pytest.raises(TrajmbrlError, match="NaN"):
        ModelTrainer(model, TrainConfig(), progress=False).fit(x, y)


def test_trajectory_split_holds_out_whole_trajectories():
    x, y = _data(600)
    groups = torch.arange(600) // 20  # 30 trajectories of 20 samples
    model = DynamicsModel(_spec("de", hidden=8), seed=0)
    trainer = ModelTrainer(model, TrainConfig(epochs=1, val_fraction=0.2), progress=False)
    trainer.fit(x, y, groups=groups)
    tr, va, mem = trainer.train_indices, trainer.val_indices, trainer.member_indices
    assert tr is not None and va is not None and mem is not None
    train_traj, val_traj = set(groups[tr].tolist()), set(groups[va].tolist())
    assert not train_traj & val_traj and len(val_traj) == 6 and len(train_traj) == 24
    assert sorted(tr.tolist() + va.tolist()) == list(range(600))  # whole trajectories
    for row in mem:  # bootstrap over trajectories: members miss some, never see validation
        seen = set(groups[row].tolist())
        assert seen <= train_traj and len(seen) < 24
    # per-sample split as an option: trajectories then straddle train and validation
    trainer = ModelTrainer(
        DynamicsModel(_spec("de", hidden=8), seed=0),
        TrainConfig(epochs=1, val_fraction=0.2, split="sample"),
        progress=False,
    )
    trainer.fit(x, y, groups=groups)
    assert trainer.val_indices is not None and trainer.train_indices is not None
    assert set(groups[trainer.val_indices].tolist()) & set(groups[trainer.train_indices].tolist())


def test_step_budget_without_early_stopping_keeps_final_weights():
    x, y = _data(100)
    model = DynamicsModel(_spec("de", hidden=8), seed=0)
    cfg = TrainConfig(epochs=1, batch_size=32, steps=10, patience=None, val_fraction=0.2)
    hist = ModelTrainer(model, cfg, progress=False).fit(x, y)
    assert hist.steps == 10 and hist.stopped_epoch == 4  # 3 steps per epoch, last one partial
    assert hist.best_epoch == [4] * 5  # no selection on validation: the final weights


def test_bf16_trains_close_to_fp32(tmp_path):
    from trajmbrl.training.curves import CurveLog
    from trajmbrl.training.precision import fast_bf16

    assert isinstance(fast_bf16("cpu")[0], bool)
    x, y = _data(400)
    scores = {}
    for precision in ("fp32", "bf16"):
        model = DynamicsModel(_spec("d", hidden=32), seed=0)
        cfg = TrainConfig(epochs=4, batch_size=64, lr=3e-3, precision=precision)
        seen: list[int] = []
        log = CurveLog(tmp_path / precision / "history.csv")

        def on_epoch(epoch: int, hist: object, log: CurveLog = log, seen: list = seen) -> None:
            log(epoch, hist)  # type: ignore[arg-type]
            seen.append(len(pd.read_csv(log.path)))  # readable while training runs

        hist = ModelTrainer(model, cfg, progress=False).fit(x, y, on_epoch=on_epoch)
        assert seen == [1, 2, 3, 4]
        assert pd.read_csv(log.path).equals(hist.to_frame())
        scores[precision] = min(hist.best_score)
        assert model.net.head.weight.dtype == torch.float32
    assert scores["bf16"] == pytest.approx(scores["fp32"], rel=0.05)
    assert scores["bf16"] != scores["fp32"]  # the products really ran in bf16


def test_tensorboard_without_the_package_is_one_clear_error(tmp_path):
    import importlib.util

    from trajmbrl.training.curves import CurveLog

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    x, y = _data(50)
    log = CurveLog(tmp_path / "history.csv", tensorboard=True)
    with pytest.raises(TrajmbrlError, match="^tensorboard=true needs"):
        ModelTrainer(
            DynamicsModel(_spec("d", hidden=8)), TrainConfig(epochs=1), progress=False
        ).fit(x, y, on_epoch=log)
