"""MuJoCo on a headless host: the GL backend (``MUJOCO_GL``, ``egl`` when unset), an offscreen
renderer and the reacher's camera. Shared by ``envs.reacher`` (``render()``) and
``envs.render`` (videos), so neither imports the other.

Nothing here sets an environment variable: the backend is applied when a renderer is built.
``mujoco`` itself is imported on first use (:func:`import_mujoco`), so registering the reacher
with Gymnasium does not load it. Set ``MUJOCO_GL=osmesa`` for a software context.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    import mujoco


def import_mujoco() -> ModuleType:
    """The ``mujoco`` module (imported on first use)."""
    import mujoco

    return mujoco


@contextlib.contextmanager
def _requested_gl_backend() -> Iterator[None]:
    """Make ``mujoco.Renderer`` use the backend named by ``MUJOCO_GL`` (egl/osmesa; egl when
    unset).

    mujoco picks its GL context class when it is first imported; if that happened before
    ``MUJOCO_GL`` was set (e.g. a script imported mujoco without it), it would try GLFW,
    which needs a display. The requested class is swapped in only while the renderer is built.
    """
    mj = import_mujoco()
    backend = os.environ.get("MUJOCO_GL", "").lower().strip() or "egl"
    gl_module = getattr(sys.modules.get(mj.Renderer.__module__), "gl_context", None)
    if backend not in ("egl", "osmesa") or gl_module is None:
        yield
        return
    if backend == "egl":
        from mujoco.egl import GLContext as wanted
    else:
        from mujoco.osmesa import GLContext as wanted
    loaded = getattr(gl_module, "GLContext", None)
    if loaded is wanted:
        yield
        return
    gl_module.GLContext = wanted
    try:
        yield
    finally:
        gl_module.GLContext = loaded


def make_renderer(model: mujoco.MjModel, width: int, height: int) -> mujoco.Renderer:
    """An offscreen renderer with shadows and reflections off (5-20x faster in software GL)."""
    mj = import_mujoco()
    try:
        with _requested_gl_backend():
            renderer = mj.Renderer(model, height=height, width=width)
    except Exception as err:  # the GL backend raises many types (ImportError, RuntimeError...)
        raise TrajmbrlError(
            f"Cannot create a MuJoCo offscreen renderer with MUJOCO_GL="
            f"{os.environ.get('MUJOCO_GL')!r}: {err}. Install EGL (apt-get install libegl1) or "
            "OSMesa (apt-get install libosmesa6) and set MUJOCO_GL=egl or osmesa."
        ) from err
    renderer.scene.flags[mj.mjtRndFlag.mjRND_SHADOW] = False
    renderer.scene.flags[mj.mjtRndFlag.mjRND_REFLECTION] = False
    return renderer


def default_camera() -> mujoco.MjvCamera:
    """A free camera looking at the workspace centre from the front-left, slightly above."""
    mj = import_mujoco()
    cam = mj.MjvCamera()
    cam.type = mj.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = (0.1, -0.1, -0.05)
    cam.distance = 2.3
    cam.azimuth = 120.0
    cam.elevation = -30.0
    return cam
