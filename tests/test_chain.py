"""collect -> train -> eval -> plot at smoke scale, in-process, plus the faults users hit."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from trajmbrl.data.storage import load_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.models.checkpoint import load_checkpoint


def test_whole_chain_on_cartpole(run_mode, tmp_path, capsys):
    cfg = run_mode("mode=collect")
    data = load_dataset(cfg.paths.dataset)
    assert data.num == 14 and data.horizon == 40
    assert set(data.seeds[data.split == 0]).isdisjoint(data.seeds[data.split == 1])
    manifest = json.loads((tmp_path / "trajectories/cartpole/toy_stable.json").read_text())
    assert manifest["param_names"] == ["K_x", "K_xdot", "K_theta", "K_thetadot"]
    assert manifest["config"]["env"]["name"] == "cartpole" and "versions" in manifest
    run_mode("mode=train", "models=[d,t]")  # a list trains each key in one process
    run_mode("mode=eval", "models=[d,t]")
    run_mode("mode=plot", "plot.formats=[png,pdf]")  # smoke draws PNG only
    run = tmp_path / "outputs/smoke/cartpole/toy_stable"
    assert (run / "figures/nmse_vs_horizon.png").stat().st_size > 1000
    assert (run / "figures/nmse_vs_horizon.pdf").exists()
    table = pd.read_csv(run / "tables/median_nmse.csv")
    assert set(table["row"]) == {"d (logged)", "d (closed loop)", "t"}
    metrics = pd.concat(pd.read_csv(p, comment="#") for p in (run / "metrics").glob("*.csv"))
    assert set(metrics["horizon"]) == set(range(1, 41))
    assert metrics.groupby("model")["traj"].nunique().to_dict() == {"d": 5, "t": 5}
    out = capsys.readouterr().out
    assert "Median normalised MSE" in out and "Figures:" in out


def test_reruns_skip_finished_work_and_never_clobber(run_mode, tmp_path):
    cfg = run_mode("mode=collect")
    before = (tmp_path / "trajectories/cartpole/toy_stable.npz").read_bytes()
    run_mode("mode=collect")  # same config: skipped
    with pytest.raises(TrajmbrlError, match="overwrite=true"):
        run_mode("mode=collect", "env.num_train=3")
    assert (tmp_path / "trajectories/cartpole/toy_stable.npz").read_bytes() == before
    run_mode("mode=train", "models=d")
    ckpt = tmp_path / "outputs/smoke/cartpole/toy_stable/models/d/n=all_t=all/seed=0/model.pt"
    stamp = ckpt.stat().st_mtime_ns
    run_mode("mode=train", "models=d")
    assert ckpt.stat().st_mtime_ns == stamp
    with pytest.raises(TrajmbrlError, match="overwrite=true"):
        run_mode("mode=train", "models=d", "model.lr=0.5")
    assert ckpt.stat().st_mtime_ns == stamp
    assert cfg.overwrite is False


def test_same_seed_same_dataset_bytes_and_weights(tmp_path, run_mode):
    run_mode("mode=collect")
    run_mode("mode=train", "models=t")
    first = (tmp_path / "trajectories/cartpole/toy_stable.npz").read_bytes()
    model_dir = tmp_path / "outputs/smoke/cartpole/toy_stable/models/t/n=all_t=all/seed=0"
    w1 = torch.load(model_dir / "model.pt", weights_only=True)["state_dict"]
    run_mode("mode=collect", "overwrite=true")
    run_mode("mode=train", "models=t", "overwrite=true")
    assert (tmp_path / "trajectories/cartpole/toy_stable.npz").read_bytes() == first
    w2 = torch.load(model_dir / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_missing_dataset_names_the_collect_command(run_mode):
    with pytest.raises(TrajmbrlError, match="trajmbrl mode=collect envs=cartpole experiment=smoke"):
        run_mode("mode=train", "models=d")


def test_missing_model_names_the_train_command(run_mode):
    run_mode("mode=collect")
    hint = "trajmbrl mode=train envs=cartpole experiment=smoke scale=toy models=te"
    with pytest.raises(TrajmbrlError, match=hint):
        run_mode("mode=eval", "models=[te]")


def test_checkpoint_with_other_dimensions_is_refused(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=d")
    run_mode("mode=collect", "envs=crazyflie")
    src = tmp_path / "outputs/smoke/cartpole/toy_stable/models/d"
    dst = tmp_path / "outputs/smoke/crazyflie/toy_default/models/d"
    dst.parent.mkdir(parents=True)
    src.rename(dst)
    with pytest.raises(TrajmbrlError, match="state_dim"):
        run_mode("mode=eval", "envs=crazyflie", "models=[d]")
    model, _ = load_checkpoint(dst / "n=all_t=all/seed=0/model.pt")
    assert model.spec.state_dim == 4


@pytest.mark.parametrize(
    ("override", "key"),
    [("env.num_train=-1", "env.num_train"), ("env.horizon=0", "env.horizon")],
)
def test_negative_counts_are_refused_by_name(run_mode, override, key):
    with pytest.raises(TrajmbrlError, match=key):
        run_mode("mode=collect", override)


def test_t_range_longer_than_the_data(run_mode):
    run_mode("mode=collect")
    with pytest.raises(TrajmbrlError, match="train.t_range=41 is longer than the data"):
        run_mode("mode=train", "models=t", "train.t_range=41")


def test_corrupt_dataset_is_reported_not_replaced(run_mode, tmp_path):
    cfg = run_mode("mode=collect")
    npz = tmp_path / "trajectories/cartpole/toy_stable.npz"
    npz.write_bytes(b"not a zip")
    with pytest.raises(TrajmbrlError, match="sha256"):
        run_mode("mode=train", "models=d")
    assert npz.read_bytes() == b"not a zip"
    assert cfg.data.tag == "toy_stable"


def test_one_step_closed_loop_eval(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=d")
    run_mode("mode=eval", "models=[d]", "eval.protocols=[controller]")
    files = sorted((tmp_path / "outputs/smoke/cartpole/toy_stable/metrics").glob("*.csv"))
    assert [f.name for f in files] == ["d__n=all_t=all__seed=0__controller.csv"]
    frame = pd.read_csv(files[0], comment="#")
    assert len(frame) == 5 * 40 and frame["value"].notna().all()
    run = tmp_path / "outputs/smoke/cartpole/toy_stable"
    # the closed-loop run is its own result, never mixed with the logged-action one
    assert not (run / "metrics/d__n=all_t=all__seed=0__logged.csv").exists()


LOGS = [
    "logs.path=docs/examples/pendulum_logs.csv",
    "logs.state=[q,qd]",
    "logs.action=[tau]",
    "logs.theta=[kp,kd]",
    "logs.episode=episode",
]


@pytest.mark.parametrize(
    ("env", "extra"),
    [("reacher", []), ("crazyflie", []), ("crazyflie_hw", []), ("logs", LOGS)],
)
def test_the_chain_runs_unchanged_on_every_env(run_mode, tmp_path, env, extra, monkeypatch):
    from trajmbrl.cli import conf_dir

    monkeypatch.chdir(conf_dir().parent)  # the logs example path is relative to the repo
    cfg = run_mode("mode=collect", f"envs={env}", *extra)
    data = load_dataset(cfg.paths.dataset)
    assert data.num > 0 and (data.split == 1).any()
    for key in ("d", "t"):  # after the import, the logs' column mapping is not needed again
        run_mode("mode=train", f"envs={env}", f"models={key}")
    run_mode("mode=eval", f"envs={env}", "models=[d,t]", "eval.num_traj=4")
    run_mode("mode=plot", f"envs={env}")
    assert (tmp_path / cfg.paths.run_dir / "figures/nmse_vs_horizon.png").exists()


def test_baselines_are_scored_without_training(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=t", "seed=1")
    run_mode("mode=eval", "models=[t]", "eval.baselines=all", "seed=1")
    metrics = tmp_path / "outputs/smoke/cartpole/toy_stable/metrics"
    names = {
        p.name.split("__")[0] + "/" + p.stem.split("__")[-1]
        for p in metrics.glob("*.csv")
        if "seed=0" in p.name
    }  # baselines do not depend on the training seed
    assert names == {
        "zero/direct",
        "hmean/direct",
        "lint/direct",
        "lin/logged",
        "lin/controller",
        "oracle/logged",
        "oracle/controller",
    }
    zero = pd.read_csv(metrics / "zero__n=all_t=all__seed=0__direct.csv", comment="#")
    data = load_dataset(tmp_path / "trajectories/cartpole/toy_stable")
    test = data.test()
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    expect = (((test.states[0, 5] - test.states[0, 0]) / (hi - lo)) ** 2).mean()
    got = zero[(zero["traj"] == 0) & (zero["horizon"] == 5)]["value"].item()
    assert got == pytest.approx(expect)
    assert (metrics / "lin__n=all_t=all__seed=0__logged.csv").exists()
    with pytest.raises(TrajmbrlError, match="eval.baselines"):
        run_mode("mode=eval", "models=[t]", "eval.baselines=[gp]", "seed=1")
    oracle = pd.read_csv(metrics / "oracle__n=all_t=all__seed=0__controller.csv", comment="#")
    assert oracle["value"].max() < 1e-6  # the true closed loop from s_0 + 1e-6 of the range


# imageio-ffmpeg leaves its writer pipes to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_eval_renders_a_reacher_video(run_mode, tmp_path):
    run_mode("mode=collect", "envs=reacher", "env.horizon=12")
    run_mode("mode=train", "envs=reacher", "models=t", "env.horizon=12")
    run_mode("mode=eval", "envs=reacher", "models=[t]", "eval.render=true", "env.horizon=12")
    videos = list((tmp_path / "outputs/smoke/reacher/toy_default/videos").iterdir())
    assert len(videos) == 1 and videos[0].suffix in (".mp4", ".gif")
    assert videos[0].stat().st_size > 1000


def test_same_seed_same_tables(run_mode, tmp_path):
    run_mode("mode=collect")
    run_mode("mode=train", "models=t")
    tables = tmp_path / "outputs/smoke/cartpole/toy_stable/tables"
    run_mode("mode=eval", "models=[t]")
    run_mode("mode=plot")
    first = {p.name: p.read_bytes() for p in tables.iterdir()}
    run_mode("mode=train", "models=t", "overwrite=true")
    run_mode("mode=eval", "models=[t]", "overwrite=true")
    run_mode("mode=plot")
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == first
