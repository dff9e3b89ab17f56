"""`make smoke-paper`: every paper section end to end at toy scale (slow: a few minutes)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_paper_writes_every_section(tmp_path):
    env = {**os.environ, "TRAJMBRL_ROOT": str(tmp_path)}
    run = subprocess.run(
        ["make", "-C", str(REPO), "smoke-paper"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "outputs"
    for env_name, tag in [
        ("cartpole", "toy_stable"),
        ("reacher", "toy_default"),
        ("crazyflie", "toy_default"),
        ("crazyflie_hw", "toy_flights"),
    ]:
        assert (out / "sec52" / env_name / tag / "figures/nmse_vs_horizon.png").exists()
        assert (out / "sec52" / env_name / tag / "tables/wilcoxon.csv").exists()
    for mode in ("stable", "unstable", "periodic"):
        assert (out / "sec53/cartpole" / f"toy_{mode}" / "tables/median_nmse.csv").exists()
    assert (out / "sec54/reacher/toy_default/figures/efficiency_mse.png").exists()
    assert (out / "sec55/cartpole/toy_stable/tables/reward.csv").exists()
    assert "Spearman" in run.stdout or "spearman" in run.stdout
