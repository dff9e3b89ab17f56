"""The wheel installs by itself into a fresh venv and runs (make test-all; a few minutes), and
the package's dependency ranges keep a torch that is already installed (CPU or CUDA)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_dependencies_are_ranges_and_the_exact_pins_are_in_the_constraints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    versions = [c.split(" :: ")[-1] for c in project["classifiers"] if "Python :: 3." in c]
    assert versions[0] == "3.11"
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    for dep in project["dependencies"]:
        req = Requirement(dep)
        assert not any(s.operator in ("==", "===") for s in req.specifier), dep  # a range
        assert req.name.lower() in pins, f"{req.name} has no exact pin in constraints.txt"
        assert req.specifier.contains(pins[req.name.lower()]), (dep, pins[req.name.lower()])
    torch = next(Requirement(d) for d in project["dependencies"] if d.startswith("torch"))
    assert torch.specifier.contains("2.4.0") and torch.specifier.contains("2.13.0+cu126")


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_collects(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        check=True,
    )
    wheel = next(tmp_path.glob("trajmbrl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "trajmbrl/conf/config.yaml" in names and "trajmbrl/conf/models/t.yaml" in names
    venv.create(tmp_path / "v", with_pip=True)
    bin_ = tmp_path / "v" / "bin"
    pip = [str(bin_ / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)], check=True)
    work = tmp_path / "elsewhere"  # outside the source tree: the packaged conf/ is used
    work.mkdir()
    run = subprocess.run(
        [str(bin_ / "trajmbrl"), "mode=collect", "experiment=smoke", f"paths.root={work}"],
        capture_output=True,
        text=True,
        cwd=work,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (work / "trajectories" / "cartpole").is_dir()
    where = subprocess.run(
        [str(bin_ / "python"), "-c", "import trajmbrl.configs as c; print(c.conf_dir())"],
        capture_output=True, text=True, cwd=work, check=True,
    )  # fmt: skip
    assert "site-packages/trajmbrl/conf" in where.stdout
    # the torch already there (here the CPU build of the constraints; a CUDA build the same)
    # satisfies torch>=2.4: installing the wheel again without constraints changes nothing
    report = tmp_path / "report.json"
    subprocess.run([*pip, "--dry-run", "--report", str(report), str(wheel)], check=True)
    planned = [p["metadata"]["name"] for p in json.loads(report.read_text())["install"]]
    assert "torch" not in planned, planned
