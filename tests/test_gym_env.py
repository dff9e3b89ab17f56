"""Issue 20 item 2: any Gymnasium environment as a system (``envs=gym env.id=<id>``).

Two MuJoCo environments at smoke scale through the modes (collect, train, eval, plot, 5.5 and
control), each in its own dataset; the oracle restores MuJoCo states exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from trajmbrl.data.storage import load_dataset
from trajmbrl.envs.gym import restorable, slug
from trajmbrl.utils.hashed_csv import read_hashed_csv

TINY = [
    "envs=gym",
    "env.horizon=12",
    "env.num_train=3",
    "env.num_test=2",
    "model.epochs=1",
    "model.hidden=8",
    "train.max_pairs=200",
    "plot.horizons=[1,12]",
    "plot.formats=[png]",
]
CHEETAH = [
    "env.id=HalfCheetah-v5",
    "env.controller.family=pd",
    "env.controller.theta=[kp,kd,q0,q1,q2,q3,q4,q5]",
    "env.controller.theta_low=[0.5,0.02,-0.5,-0.5,-0.5,-0.5,-0.5,-0.5]",
    "env.controller.theta_high=[3,0.2,0.5,0.5,0.5,0.5,0.5,0.5]",
    "env.controller.theta_map={kp:[kp],kd:[kd],target:[q0,q1,q2,q3,q4,q5]}",
    "env.controller.position=[2,3,4,5,6,7]",
    "env.controller.velocity=[11,12,13,14,15,16]",
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """MuJoCo writes its warnings (HalfCheetah's deprecated XML) to ./MUJOCO_LOG.TXT."""
    monkeypatch.chdir(tmp_path)


def _metrics(tmp_path, tag, key, source):
    (path,) = (tmp_path / "outputs" / "smoke" / "gym" / tag / "metrics").glob(
        f"{key}__*__{source}.csv"
    )
    return read_hashed_csv(path)


@pytest.mark.parametrize(
    ("env_args", "tag", "ds", "du"),
    [([], "toy_InvertedPendulum-v5", 4, 1), (CHEETAH, "toy_HalfCheetah-v5", 17, 6)],
    ids=["InvertedPendulum-v5", "HalfCheetah-v5"],
)
def test_a_gymnasium_env_is_collected_trained_evaluated_and_plotted(
    run_mode, tmp_path, env_args, tag, ds, du
):
    args = [*TINY, *env_args]
    run_mode("mode=collect", *args)
    data = load_dataset(tmp_path / "trajectories" / "gym" / tag)
    assert (data.state_dim, data.action_dim, data.num) == (ds, du, 5)
    assert data.meta["controller"]["controller"] in ("linear", "pd")
    assert np.all(np.isfinite(data.rewards))  # the env's own reward, recorded
    run_mode("mode=train", "models=[d,t]", *args)
    run_mode("mode=eval", "models=[d,t]", "eval.baselines=all", *args)
    run_mode("mode=plot", *args)
    figures = tmp_path / "outputs" / "smoke" / "gym" / tag / "figures"
    assert (figures / "nmse_vs_horizon.png").is_file()
    # the oracle restores the MuJoCo state: one step of the true env reproduces the data
    oracle = _metrics(tmp_path, tag, "oracle", "controller")
    assert oracle.loc[oracle.horizon == 1, "value"].max() < 1e-8
    for source in ("logged", "controller"):
        assert not _metrics(tmp_path, tag, "d", source).empty
        assert not _metrics(tmp_path, tag, "lin", source).empty


def test_gym_reward_and_control(run_mode, tmp_path):
    args = [*TINY, "models=[d,t]"]
    run_mode("mode=collect", *args)
    run_mode("mode=train", *args)
    run_mode("mode=eval", "eval=reward", *args)  # fitted to the env's recorded reward
    (returns,) = (tmp_path / "outputs" / "smoke" / "gym").rglob("reward/returns.csv")
    assert set(read_hashed_csv(returns)["method"]) >= {"t", "gp"}
    quad = ["env.reward=quadratic", "env.reward_weights={s1:1.0}"]
    run_mode("mode=control", "control.method=random", "control.horizon=12", *args, *quad)
    (run,) = (tmp_path / "outputs").rglob("random__none__seed=0__*.csv")
    frame = read_hashed_csv(run)
    assert frame["true_score"].le(0).all() and frame["env"].eq("gym").all()


def test_restorable_envs_and_tags():
    assert restorable("InvertedPendulum-v5") and restorable("Hopper-v5")
    assert not restorable("Reacher-v5")  # cos/sin and the target: no state behind the obs
    assert slug("ALE/Pong-v5") == "ALE_Pong-v5"
