"""Issue 20 item 1: a declared controller for logged data (controllers/families.py, declared.py).

Cartpole data exported as CSV logs with its LQR gains as theta, imported with the declared
linear controller: the controller reproduces the logged actions, the closed loop of the true
simulator with it reproduces the simulator's trajectories, and the CLI evaluates both protocols
(models and the closed-loop ``lin``) on the imported logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import compose_cfg
from trajmbrl.controllers.base import ControllerSampler
from trajmbrl.controllers.declared import action_mismatch, declared_sampler
from trajmbrl.controllers.families import FamilySampler
from trajmbrl.controllers.lqr import LQRSampler
from trajmbrl.data.collect import collect
from trajmbrl.data.storage import load_dataset
from trajmbrl.envs.spec import find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.oracle import oracle_rollout
from trajmbrl.modes import MODES
from trajmbrl.modes.prediction import env_sampler, eval_protocols
from trajmbrl.utils.hashed_csv import read_hashed_csv

STATE = ["x", "xdot", "th", "thdot"]
THETA = ["K_x", "K_xdot", "K_th", "K_thdot"]
#: the cartpole LQR as a declared linear family: u = clip(-K s, -1, 1), theta = K
LINEAR = [
    "logs.controller.family=linear",
    f"logs.controller.theta_map={{gain:[{','.join(THETA)}]}}",
    "logs.controller.action_low=[-1]",
    "logs.controller.action_high=[1]",
]


def _cartpole_logs(path, n=8, horizon=40):
    """Simulated cartpole trajectories written as a CSV log (the last row's action empty)."""
    data, _ = collect(
        "trajmbrl/Cartpole-v0", LQRSampler(), num_train=n - 2, num_test=2, horizon=horizon, seed=3
    )
    rows = []
    for i in range(data.num):
        for k in range(horizon + 1):
            row = {"episode": f"ep{i}", **dict(zip(STATE, data.states[i, k]))}
            row["u"] = data.actions[i, k, 0] if k < horizon else np.nan
            row["r"] = data.rewards[i, k] if k < horizon else np.nan  # the env's own reward
            rows.append({**row, **dict(zip(THETA, data.params[i]))})
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.17g")
    return data


def _args(tmp_path, log):
    return [
        "envs=logs",
        f"paths.root={tmp_path}",
        f"logs.path={log}",
        f"logs.state=[{','.join(STATE)}]",
        "logs.action=[u]",
        f"logs.theta=[{','.join(THETA)}]",
        "logs.episode=episode",
        "logs.name=cartpole_csv",
    ]


def test_families_act_as_declared():
    lin = FamilySampler(
        "linear", ["a", "b"], {"gain": ["a", "-b"], "ref": [1.0, 0.0]}, state_names=["q", "v"],
        action_dim=1, action_low=[-2], action_high=[2],
    )  # fmt: skip
    ctl = lin.build(np.array([[1.0, 3.0]]))
    assert ctl.act(np.array([[2.0, 0.5]]))[0, 0] == pytest.approx(-(1.0 * 1.0) + 3.0 * 0.5)
    assert ctl.act(np.array([[10.0, 0.0]]))[0, 0] == -2.0  # clipped
    pd_ = FamilySampler(
        "pd", ["kp", "kd"], {"kp": ["kp"], "kd": ["kd"], "target": [0.3]},
        state_names=["q", "qd"], action_dim=1, position=["q"], velocity=["qd"],
    )  # fmt: skip
    u = pd_.build(np.array([[2.0, 0.5]])).act(np.array([[0.1, 1.0]]))
    assert u[0, 0] == pytest.approx(2.0 * 0.2 - 0.5 * 1.0)
    assert isinstance(pd_, ControllerSampler)
    with pytest.raises(TrajmbrlError, match="theta_map.gain names 'c'"):
        FamilySampler("linear", ["a"], {"gain": ["c"]}, state_names=["q"], action_dim=1)
    with pytest.raises(TrajmbrlError, match="needs 2 entries"):
        FamilySampler("linear", ["a"], {"gain": ["a"]}, state_names=["q", "v"], action_dim=1)
    with pytest.raises(TrajmbrlError, match="family 'lqr' is unknown"):
        declared_sampler({"family": "lqr"}, param_names=[], state_names=["q"], action_dim=1)


def test_declared_controller_of_imported_logs_matches_the_simulator(tmp_path):
    sim = _cartpole_logs(tmp_path / "cartpole.csv")
    args = _args(tmp_path, tmp_path / "cartpole.csv")
    cfg = compose_cfg(*args, "mode=collect", *LINEAR)
    MODES["collect"](cfg)
    data = load_dataset(tmp_path / "trajectories" / "logs" / "cartpole_csv")
    declared = data.meta["controller"]
    assert declared["controller"] == "linear" and declared["param_names"] == THETA
    assert declared["action_mismatch"] < 1e-12  # it is the controller that produced the logs
    # the same transitions as the simulator's (whole episodes, in its order)
    assert np.allclose(data.states, sim.states) and np.allclose(data.params, sim.params)
    assert eval_protocols(cfg) == ["logged", "controller"]
    sampler = env_sampler(cfg)
    test = data.test()
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    spec = find_system("cartpole")
    step = spec.oracle_step(2, test.states[:, 0])
    replay = oracle_rollout(
        step, test, 40, ["logged", "controller"], sampler=sampler, state_range=(lo, hi)
    )
    true = test.states[:, 1:41]
    for protocol in ("logged", "controller"):  # the true model closes the loop exactly
        assert np.abs(replay[protocol] - true).max() < 1e-4, protocol
    lqr = oracle_rollout(step, test, 40, ["controller"], sampler=LQRSampler(), state_range=(lo, hi))
    assert np.allclose(lqr["controller"], replay["controller"], atol=1e-12)
    assert action_mismatch(sampler, data.states, data.actions, data.params, data.lengths) < 1e-12


def test_cli_evaluates_both_protocols_on_declared_logs(tmp_path):
    _cartpole_logs(tmp_path / "cartpole.csv", n=10)
    args = [*_args(tmp_path, tmp_path / "cartpole.csv"), *LINEAR, "experiment=smoke"]
    for mode in ("collect", "train"):
        cfg = compose_cfg(*args, f"mode={mode}", "models=d")
        MODES[mode](cfg)
    # eval needs only the dataset's name: the controller is the manifest's
    named = [f"paths.root={tmp_path}", "envs=logs", "logs.name=cartpole_csv", "experiment=smoke"]
    cfg = compose_cfg(*named, "mode=eval", "models=d", "eval.baselines=all")
    assert eval_protocols(cfg) == ["logged", "controller"]
    MODES["eval"](cfg)
    other = [*named, "mode=eval", "logs.controller.family=linear", "logs.theta=[K_x]"]
    with pytest.raises(TrajmbrlError, match="logs.controller differs from the one the dataset"):
        eval_protocols(compose_cfg(*other))
    (layout,) = (tmp_path / "outputs").rglob("metrics")
    frames = {}
    for key, source in [("lin", "logged"), ("lin", "controller"), ("d", "controller")]:
        (path,) = layout.glob(f"{key}__*__{source}.csv")
        frames[key, source] = read_hashed_csv(path)
    closed = frames["lin", "controller"]
    # the closed-loop lin fit of a stable LQR loop stays near the truth at every horizon
    assert closed["value"].median() < 1e-4


def test_a_wrong_declaration_is_refused_naming_the_column(tmp_path):
    _cartpole_logs(tmp_path / "cartpole.csv", n=4, horizon=10)
    args = [*_args(tmp_path, tmp_path / "cartpole.csv"), "mode=collect"]
    bad = [*LINEAR[:1], "logs.controller.theta_map={gain:[K_x,K_xdot,K_th,K_zz]}"]
    with pytest.raises(TrajmbrlError, match="names 'K_zz', which is not a theta entry"):
        MODES["collect"](compose_cfg(*args, *bad))
    own = ["logs.controller._target_=trajmbrl.controllers.lqr.LQRSampler"]
    with pytest.raises(TrajmbrlError, match="names theta .*K_theta.* but the data's theta"):
        MODES["collect"](compose_cfg(*args, *own))


def test_rewards_of_logs_run_section_55(tmp_path, caplog):
    sim = _cartpole_logs(tmp_path / "cartpole.csv", n=10)
    args = [*_args(tmp_path, tmp_path / "cartpole.csv"), *LINEAR, "experiment=smoke"]
    args += ["models=[d,t]", "model.epochs=1", "model.hidden=8"]
    MODES["collect"](compose_cfg(*args, "mode=collect"))
    MODES["train"](compose_cfg(*args, "mode=train"))
    with pytest.raises(TrajmbrlError, match="envs=logs has no reward: name a reward column"):
        MODES["eval"](compose_cfg(*args, "mode=eval", "eval=reward"))
    MODES["collect"](compose_cfg(*args, "mode=collect", "logs.reward=r", "overwrite=true"))
    (npz,) = (tmp_path / "trajectories" / "logs").glob("*.npz")
    data = load_dataset(npz)
    assert np.allclose(data.rewards, sim.rewards)  # recorded, not 0
    MODES["train"](compose_cfg(*args, "mode=train", "overwrite=true"))
    with caplog.at_level("INFO", logger="trajmbrl"):  # the recorded column is the manifest's
        MODES["eval"](compose_cfg(*args, "mode=eval", "eval=reward"))
    assert "Reward fitted to the recorded rewards (train split): R^2 =" in caplog.text
    (returns,) = (tmp_path / "outputs").rglob("reward/returns.csv")
    methods = set(read_hashed_csv(returns)["method"])
    assert {"d (logged)", "d (closed loop)", "t", "gp", "nn"} <= methods
    quad = ["logs.reward_fn=quadratic", "logs.reward_weights={th:1.0,x:0.1}", "overwrite=true"]
    MODES["eval"](compose_cfg(*args, "mode=eval", "eval=reward", *quad))
    frame = read_hashed_csv(returns)
    assert (frame["true_return"] <= 0).all()  # -sum w s^2


def test_declared_rewards():
    from toy import toy_dataset
    from trajmbrl.evaluation.returns import declared_reward

    data = toy_dataset(n=6, horizon=12)
    data.rewards[:] = 1.0 - 2.0 * data.states[:, 1:, 0] ** 2 + 0.5 * data.states[:, 1:, 1]
    fitted = declared_reward("fitted", state_names=["q", "v"], train=data.train())
    s = np.array([[0.3, -0.2], [1.0, 0.5]])
    assert fitted(s) == pytest.approx(1.0 - 2.0 * s[:, 0] ** 2 + 0.5 * s[:, 1], abs=1e-4)
    assert fitted.r2 == pytest.approx(1.0)
    quad = declared_reward("quadratic", state_names=["q", "v"], weights={"v": 2.0})
    assert quad(s) == pytest.approx(-2.0 * s[:, 1] ** 2)
    own = declared_reward("trajmbrl.envs.cartpole:cartpole_return_reward", state_names=[])
    assert callable(own)
    with pytest.raises(TrajmbrlError, match="weights for state entries"):
        declared_reward("quadratic", state_names=["q"], weights={"x": 1.0})
    with pytest.raises(TrajmbrlError, match="reward 'cubic' is unknown"):
        declared_reward("cubic", state_names=["q"])
