"""The trainer's fast step loop gives the numbers of the plain step loop it replaced, bit for bit.

The reference below is the step loop as it was before the speed work (per step: gather raw rows,
normalise inside ``model.loss``, accumulate the loss on the device in float64); the fast loop
normalises once per fit, gathers many steps' batches at once and sums the losses on the host.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from trajmbrl.models import DynamicsModel, ModelSpec
from trajmbrl.training import ModelTrainer, TrainConfig
from trajmbrl.training import trainer as trainer_module


class _ReferenceTrainer(ModelTrainer):
    """ModelTrainer with the pre-speed-work step loop (kept verbatim as the reference)."""

    def _train_epoch(self, x, y, run, active, members):  # type: ignore[no-untyped-def]
        model, opt, bs = self.model, self.optimizer, self.config.batch_size
        model.train()
        all_rows = run.split.members
        order = torch.rand(all_rows.shape, generator=run.gen, device=x.device).argsort(1)
        rows = all_rows.gather(1, order)[active]
        a, length = rows.shape
        if self.config.steps is not None:
            length = min(length, (self.config.steps - run.history.steps) * bs)
        total = torch.zeros(a, dtype=torch.float64, device=x.device)
        for lo in range(0, length, bs):
            flat = rows[:, lo : min(lo + bs, length)].reshape(-1)
            b = flat.shape[0] // a
            xb = x.index_select(0, flat).view(a, b, -1)
            yb = y.index_select(0, flat).view(a, b, -1)
            with self._precision():
                loss = self._loss(xb, yb, members)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().to(torch.float64) * b
            run.history.steps += 1
        return (total / max(length, 1)).tolist()


def _data(n: int) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 5, generator=g) * torch.tensor([1.0, 3.0, 0.1, 10.0, 1.0]) + 2.0
    y = torch.stack([torch.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 3], x[:, 4]], 1)
    return x, y + 0.1 * torch.randn(n, 3, generator=g), torch.arange(n) // 7


def _train(cls: type[ModelTrainer], key: str, cfg: TrainConfig) -> tuple[DynamicsModel, object]:
    x, y, groups = _data(203)  # 203 rows: every epoch ends with a partial batch
    spec = ModelSpec.for_key(key, state_dim=3, action_dim=2, param_dim=0, hidden=16, layers=2)
    model = DynamicsModel(spec, seed=1)
    hist = cls(model, cfg, progress=False).fit(x, y, groups=groups)
    return model, hist


@pytest.mark.parametrize(
    ("key", "extra"),
    [
        ("d", {}),
        ("pe", {"min_rel_improvement": 0.1}),  # Gaussian ensemble; members stop one by one
        ("de", {"steps": 11, "patience": None}),  # a step budget that ends mid-epoch
        ("d", {"precision": "bf16"}),
    ],
)
def test_fast_step_loop_is_bit_identical_to_the_plain_one(monkeypatch, key, extra):
    cfg = TrainConfig(
        **{"epochs": 6, "batch_size": 16, "lr": 3e-3, "patience": 1, "seed": 2, **extra}
    )
    monkeypatch.setattr(trainer_module, "_GATHER_STEPS", 3)  # several gathers and a short one
    fast, hf = _train(ModelTrainer, key, cfg)
    ref, hr = _train(_ReferenceTrainer, key, cfg)
    assert hf.rows == hr.rows and hf.steps == hr.steps  # type: ignore[attr-defined]
    assert hf.best_epoch == hr.best_epoch  # type: ignore[attr-defined]
    sf, sr = fast.state_dict(), ref.state_dict()
    assert sf.keys() == sr.keys()
    for k in sf:
        assert torch.equal(sf[k], sr[k]), k
    if key == "pe":  # the member-subset path ran: some epoch trained fewer than 5 members
        per_epoch = [sum(r["epoch"] == e for r in hf.rows) for e in range(1, hf.stopped_epoch + 1)]  # type: ignore[attr-defined]
        assert min(per_epoch) < 5, per_epoch


def test_fit_keeps_the_heap_unless_the_environment_says_otherwise(monkeypatch):
    import os
    import subprocess
    import sys

    calls: list[int] = []
    monkeypatch.setattr(trainer_module, "keep_heap", lambda: calls.append(1) or True)
    _train(ModelTrainer, "d", TrainConfig(epochs=1, batch_size=64))
    assert calls == [1]
    code = "from trajmbrl.utils.heap import keep_heap; print(keep_heap(), keep_heap())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    glibc = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None
    assert out.stdout.split() == ([str(glibc)] * 2), out.stderr
    env["MALLOC_TRIM_THRESHOLD_"] = "131072"  # the user's own setting wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.parametrize(("epochs", "writes"), [(1, 1), (3, 3)])
def test_the_last_epoch_is_written_once(monkeypatch, tmp_path, epochs, writes):
    saved: list[bool] = []
    real = trainer_module.save_state
    monkeypatch.setattr(
        trainer_module,
        "save_state",
        lambda path, st: saved.append(st["finished"]) or real(path, st),
    )
    x, y, groups = _data(203)
    spec = ModelSpec.for_key("d", state_dim=3, action_dim=2, param_dim=0, hidden=16, layers=2)
    cfg = TrainConfig(epochs=epochs, batch_size=64, patience=None)
    trainer = ModelTrainer(
        DynamicsModel(spec, seed=1), cfg, state_path=tmp_path / "s.pt", state_every=0
    )
    trainer.fit(x, y, groups=groups)
    assert saved == [False] * (writes - 1) + [True]  # epochs 1 .. n-1, then the final state
