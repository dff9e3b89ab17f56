"""Headless videos of a TRUE vs PREDICTED reacher trajectory (MuJoCo offscreen, EGL by default).

The GL backend is ``MUJOCO_GL`` (``egl`` when unset), applied when a renderer is built
(:func:`~trajmbrl.envs.mujoco_gl.make_renderer`); importing this module changes no environment
variable. Set ``MUJOCO_GL=osmesa`` for a software context.

States may be given in either reacher layout: the 18-dim model state (``obs[STATE_INDICES]``:
cos 0-4, sin 5-9, qdot 10-14, tip - goal 15-17) or the full 21-dim observation. Joint angles are
recovered with ``atan2(sin, cos)``; the passive wrist joints (5-6) are not in the state and are
taken from ``wrist_qpos`` when given, else 0.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import mujoco
import numpy as np

from trajmbrl.envs.mujoco_gl import default_camera, make_renderer
from trajmbrl.envs.reacher import N_ACTUATED, N_JOINTS, load_model
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import atomic_path

PRED_RGBA = (1.0, 0.55, 0.1, 0.45)  # translucent orange for the predicted arm (overlay)


def states_to_qpos(
    states: np.ndarray, goal: np.ndarray, wrist_qpos: np.ndarray | None = None
) -> np.ndarray:
    """Reacher states (T, 18|21) -> full qpos (T, 10): 5 angles, 2 wrist angles, goal xyz.

    :param goal: (3,) goal position.
    :param wrist_qpos: (T, 2) passive wrist angles, or None for 0.
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] not in (18, 21):
        raise TrajmbrlError(
            f"reacher states must have shape (T, 18) or (T, 21), got {states.shape}"
        )
    t = states.shape[0]
    qpos = np.zeros((t, N_JOINTS + 3))
    cos, sin = states[:, :N_ACTUATED], states[:, N_ACTUATED : 2 * N_ACTUATED]
    qpos[:, :N_ACTUATED] = np.arctan2(sin, cos)
    if wrist_qpos is not None:
        wrist = np.asarray(wrist_qpos, dtype=np.float64)
        if wrist.shape != (t, 2):
            raise TrajmbrlError(f"wrist_qpos must have shape ({t}, 2), got {wrist.shape}")
        qpos[:, N_ACTUATED:N_JOINTS] = wrist
    qpos[:, N_JOINTS:] = np.asarray(goal, dtype=np.float64).reshape(3)
    # non-finite predictions (diverged models) are drawn at the zero pose rather than crashing
    qpos[~np.isfinite(qpos)] = 0.0
    return qpos


def infer_goal(state0: np.ndarray, wrist_qpos0: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Recover the goal from one state: ``tip(q) - (tip - goal)`` by forward kinematics.

    :param state0: (18,) or (21,) reacher state. :returns: (3,) goal.
    """
    state0 = np.asarray(state0, dtype=np.float64).reshape(-1)
    if state0.shape == (21,):
        return state0[10:13].copy()
    model = load_model()
    data = mujoco.MjData(model)
    data.qpos[:] = states_to_qpos(state0[None, :], np.zeros(3), np.asarray([wrist_qpos0]))[0]
    mujoco.mj_kinematics(model, data)
    return data.site_xpos[model.site("fingertip").id] - state0[15:18]


def _write_frames(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Write frames as MP4 (needs imageio-ffmpeg) or GIF (pillow); returns the written path."""
    import imageio.v2 as imageio_v2
    import imageio.v3 as iio

    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise TrajmbrlError(f"video path must end in .mp4 or .gif, got {path}")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        path = path.with_suffix(".gif")  # no ffmpeg writer installed: fall back to GIF
        suffix = ".gif"
    with atomic_path(path, suffix=suffix) as tmp:
        if suffix == ".mp4":
            imageio_v2.mimwrite(tmp, list[Any](frames), fps=fps, macro_block_size=1)
        else:
            iio.imwrite(tmp, np.stack(frames), plugin="pillow", duration=1000.0 / fps, loop=0)
    return path


def _label(frame: np.ndarray, text: str, color: tuple[int, int, int]) -> np.ndarray:
    """Draw ``text`` in the top-left corner of an (H, W, 3) uint8 frame."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(frame)
    ImageDraw.Draw(img).text((6, 4), text, fill=color)
    return np.asarray(img)


def _check_comparison(
    true_states: np.ndarray, pred_states: np.ndarray, layout: str, fps: int
) -> None:
    """Raise unless true and predicted states (T+1, ds) match and layout and fps are valid."""
    if true_states.shape != pred_states.shape:
        raise TrajmbrlError(
            f"true and predicted states differ in shape: {true_states.shape} vs {pred_states.shape}"
        )
    if layout not in ("side", "overlay"):
        raise TrajmbrlError(f"layout must be 'side' or 'overlay', got {layout!r}")
    if fps < 1:
        raise TrajmbrlError(f"fps must be >= 1, got {fps}")


def _add_prediction(
    scene: mujoco.MjvScene,
    model: mujoco.MjModel,
    d_pred: mujoco.MjData,
    option: mujoco.MjvOption,
    perturb: mujoco.MjvPerturb,
    target_geom: int,
) -> None:
    """Add the predicted arm to ``scene`` as translucent geoms (its goal copy hidden)."""
    n0 = scene.ngeom
    mujoco.mjv_addGeoms(model, d_pred, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
    for g in scene.geoms[n0 : scene.ngeom]:
        hide = g.objtype == mujoco.mjtObj.mjOBJ_GEOM and g.objid == target_geom
        g.rgba[:] = (0, 0, 0, 0) if hide else PRED_RGBA


def render_comparison(
    true_states: np.ndarray,
    pred_states: np.ndarray,
    path: str | os.PathLike[str],
    goal: np.ndarray | None = None,
    *,
    wrist_qpos: np.ndarray | None = None,
    fps: int = 25,
    size: tuple[int, int] = (240, 240),
    layout: Literal["side", "overlay"] = "side",
    title: str = "predicted",
) -> Path:
    """Write a video of the true (left / opaque) vs predicted (right / translucent) reacher.

    :param true_states: (T+1, 18|21) logged states.
    :param pred_states: (T+1, 18|21) a model's predicted states (same layout).
    :param path: ``.mp4`` (falls back to ``.gif`` when imageio-ffmpeg is missing) or ``.gif``.
    :param goal: (3,) goal; inferred from ``true_states[0]`` by forward kinematics when None.
    :param wrist_qpos: (T+1, 2) true passive wrist angles (used for both arms), else 0.
    :param size: (width, height) of one panel.
    :returns: the path actually written.
    """
    true_states = np.asarray(true_states, dtype=np.float64)
    pred_states = np.asarray(pred_states, dtype=np.float64)
    _check_comparison(true_states, pred_states, layout, fps)
    goal_xyz = infer_goal(true_states[0]) if goal is None else np.asarray(goal, dtype=np.float64)
    q_true = states_to_qpos(true_states, goal_xyz, wrist_qpos)
    q_pred = states_to_qpos(pred_states, goal_xyz, wrist_qpos)

    model = load_model()
    d_true, d_pred = mujoco.MjData(model), mujoco.MjData(model)
    width, height = int(size[0]), int(size[1])
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    target_geom = model.geom("target").id
    model.geom_size[target_geom, 0] = 0.05  # render-only copy: make the goal easy to see
    camera, option, perturb = default_camera(), mujoco.MjvOption(), mujoco.MjvPerturb()
    frames: list[np.ndarray] = []
    with make_renderer(model, width, height) as renderer:
        for k in range(len(q_true)):
            d_true.qpos[:], d_pred.qpos[:] = q_true[k], q_pred[k]
            mujoco.mj_kinematics(model, d_true)
            mujoco.mj_kinematics(model, d_pred)
            renderer.update_scene(d_true, camera)
            if layout == "overlay":
                _add_prediction(renderer.scene, model, d_pred, option, perturb, target_geom)
                frame = _label(renderer.render(), f"true vs {title} (orange)", (255, 255, 255))
            else:
                left = _label(renderer.render(), "true", (255, 255, 255))
                renderer.update_scene(d_pred, camera)
                right = _label(renderer.render(), title, (255, 160, 60))
                sep = np.full((height, 2, 3), 255, dtype=np.uint8)
                frame = np.concatenate([left, sep, right], axis=1)
            frames.append(frame)
    return _write_frames(frames, Path(path), fps)
