"""docs/api.md runs: every ```python block, in order, against tiny demo-like artifacts."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trajmbrl
from trajmbrl.cli import conf_dir

DOC = conf_dir().parent / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_api_doc_block_runs(run_mode, tmp_path, monkeypatch, capsys):
    demo = ("experiment_name=demo", "data.tag=demo_stable")
    run_mode("mode=collect", *demo)
    run_mode("mode=train", "models=[d,t]", "model.epochs=1", *demo)
    monkeypatch.chdir(tmp_path)
    assert len(blocks()) >= 5
    namespace: dict = {}
    for code in blocks():
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "median normalised MSE at h=40:" in out and "closed loop, h=40:" in out
    p = namespace["p"]
    assert p.mean.shape == (4, 3, 2) and p.members.shape == (5, 4, 3, 2)
    assert (p.spread > 0).all() and p.variance is None
    np.testing.assert_allclose(p.members.mean(0), p.mean)


def test_import_trajmbrl_registers_the_envs_without_importing_gymnasium_early():
    code = (
        "import sys, trajmbrl; assert 'gymnasium' not in sys.modules and 'torch' not in "
        "sys.modules; import gymnasium as gym; gym.make('trajmbrl/Cartpole-v0'); "
        "import trajmbrl.envs; print(sorted(i for i in gym.registry if 'trajmbrl' in i))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "trajmbrl/Crazyflie-v0" in run.stdout and "trajmbrl/Reacher3D-v0" in run.stdout


def test_api_refuses_the_wrong_family_and_bad_settings():
    data = trajmbrl.dataset_from_arrays(np.zeros((3, 5, 2)), np.zeros((3, 4, 1)), num_test=1)
    x, y, _ = trajmbrl.training_samples(data, "d")
    assert x.shape == (8, 3) and y.shape == (8, 2)
    with pytest.raises(trajmbrl.TrajmbrlError, match="not a model setting"):
        trajmbrl.train_model("d", x, y, state_dim=2, action_dim=1, width=3)
    model = trajmbrl.DynamicsModel(
        trajmbrl.ModelSpec.for_key("d", state_dim=2, action_dim=1, param_dim=0)
    )
    with pytest.raises(trajmbrl.TrajmbrlError, match="use rollout"):
        trajmbrl.predict(model, np.zeros((1, 2)), 3, np.zeros((1, 0)))
    with pytest.raises(trajmbrl.TrajmbrlError, match="exactly one of"):
        trajmbrl.rollout(model, np.zeros((1, 2)), 3)
    assert sorted(trajmbrl.__all__) == trajmbrl.__all__ and "predict" in dir(trajmbrl)
    assert Path(DOC).exists()
