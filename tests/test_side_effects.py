"""Importing the library changes no global state: not the matplotlib backend, not MUJOCO_GL;
rendering still works headless when MUJOCO_GL was never set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trajmbrl

SRC = Path(trajmbrl.__file__).resolve().parents[1]

#: imports every module of trajmbrl (but the ``python -m`` entries) after choosing a backend
CHECK = """
import importlib, os, pkgutil
import matplotlib
matplotlib.use("svg")
import trajmbrl
names = [m.name for m in pkgutil.walk_packages(trajmbrl.__path__, "trajmbrl.")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
import gymnasium  # registers the systems (trajmbrl._gym imports trajmbrl.envs)
assert len(names) > 80, names
print(matplotlib.get_backend(), os.environ.get("MUJOCO_GL"))
# mujoco was imported without MUJOCO_GL: the renderer still gets a headless (EGL) context
import mujoco
from trajmbrl.envs.reacher import load_model
from trajmbrl.envs.render import default_camera, make_renderer
model = load_model()
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
renderer = make_renderer(model, 32, 24)
renderer.update_scene(data, default_camera())
print(renderer.render().mean() > 10, os.environ.get("MUJOCO_GL"))
"""


def test_importing_every_module_sets_no_backend_and_no_mujoco_gl_and_rendering_works():
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "MPLBACKEND", "DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["svg", "None", "True", "None"]
