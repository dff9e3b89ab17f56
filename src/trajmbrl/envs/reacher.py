"""3D reacher of paper section 5.2 (spec 2.1) on the official ``mujoco`` bindings.

A PR2-like 7-joint arm (our MJCF after PETS' reacher3d geometry, ``assets/reacher3d.xml``) whose
first 5 joints are torque-actuated, reaching for a goal sphere held by three slide joints.

Observation (21) = ``cos(q[0:5])`` (0-4), ``sin(q[0:5])`` (5-9), goal xyz (10-12),
``qdot[0:5]`` (13-17), fingertip - goal (18-20). The model state is ``obs[STATE_INDICES]`` (18).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from trajmbrl.envs.mujoco_gl import default_camera, import_mujoco, make_renderer
from trajmbrl.envs.spec import SystemSpec, check_state_dim
from trajmbrl.errors import TrajmbrlError

if TYPE_CHECKING:
    import mujoco
    from torch import Tensor


XML_PATH = Path(__file__).resolve().parent / "assets" / "reacher3d.xml"

N_JOINTS = 7  # arm hinge joints: qpos[0:7], qvel[0:7]
N_ACTUATED = 5  # motors on joints 0-4
FRAME_SKIP = 4  # 4 x 0.01 s physics steps per env step
ACTION_COST = 0.01

JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "upper_arm_roll",
    "elbow_flex",
    "forearm_roll",
    "wrist_flex",
    "wrist_roll",
)


def _obs_names() -> tuple[str, ...]:
    act = JOINT_NAMES[:N_ACTUATED]
    return (
        tuple(f"cos_{j}" for j in act)
        + tuple(f"sin_{j}" for j in act)
        + ("goal_x", "goal_y", "goal_z")
        + tuple(f"qdot_{j}" for j in act)
        + ("tip_minus_goal_x", "tip_minus_goal_y", "tip_minus_goal_z")
    )


def load_model() -> mujoco.MjModel:
    """The reacher's compiled MuJoCo model (nq = nv = 10, nu = 5)."""
    return import_mujoco().MjModel.from_xml_path(str(XML_PATH))


def reacher_reward(tip_minus_goal: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Per-step reward ``-||tip - goal|| - 0.01 ||a||^2``.

    :param tip_minus_goal: (B, 3) fingertip minus goal at the state the action is applied to.
    :param action: (B, du) applied (clipped) torques.
    :returns: (B,)
    """
    return -np.linalg.norm(tip_minus_goal, axis=-1) - ACTION_COST * np.sum(action**2, axis=-1)


class Reacher3DEnv(gym.Env):
    """5-actuated 7-DoF 3D reacher (spec 2.1), Gymnasium API, frame_skip 4 (0.04 s per step).

    * Actions (5,) are clipped to the motors' ctrlrange +/-20; the applied torques are in ``info``.
    * Reward ``r_t = -||tip(s_t) - goal|| - 0.01 ||a_t||^2``, evaluated at the state the action
      is applied to (same convention as the cartpole), so it is computable from stored
      ``(s_t, a_t)``. Never terminates or truncates (episode length is the collector's business).
    * Reset (spec 2.1): ``qpos = qpos0 + U(-0.01, 0.01)`` on the 7 arm joints (qpos0 = 0),
      goal ``~ U(goal_low, goal_high)^3`` (default +/-0.5; the original's ``||goal|| < 1.5``
      rejection can never trigger for this box and is dropped), arm ``qvel ~ U(-0.01, 0.01)``,
      goal velocity 0. All draws come from ``self.np_random``.
    * ``reset(options={"qpos": (7,), "qvel": (7,), "goal": (3,)})`` overrides any part.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 25}
    state_names: tuple[str, ...] = _obs_names()
    action_names: tuple[str, ...] = tuple(f"tau_{j}" for j in JOINT_NAMES[:N_ACTUATED])
    #: observation entries that form the model state: cos, sin, qdot, tip - goal (18)
    STATE_INDICES: tuple[int, ...] = tuple(range(0, 10)) + tuple(range(13, 21))
    OBS_DIM = 21

    def __init__(
        self,
        render_mode: str | None = None,
        goal_low: float = -0.5,
        goal_high: float = 0.5,
        init_noise: float = 0.01,
        width: int = 240,
        height: int = 240,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise TrajmbrlError(
                f"reacher render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        if not (-1.0 <= goal_low < goal_high <= 1.0):
            raise TrajmbrlError(
                f"env.goal_low/goal_high must satisfy -1 <= low < high <= 1 (the target's slide "
                f"range), got {goal_low}, {goal_high}"
            )
        if not (np.isfinite(init_noise) and init_noise >= 0.0):
            raise TrajmbrlError(f"env.init_noise must be a finite number >= 0, got {init_noise!r}")
        self.render_mode = render_mode
        self.goal_low, self.goal_high = float(goal_low), float(goal_high)
        self.init_noise = float(init_noise)
        self.width, self.height = int(width), int(height)
        self._mj = import_mujoco()
        self.model = load_model()
        self.data = self._mj.MjData(self.model)
        self._tip_site = self.model.site("fingertip").id
        lo, hi = self.model.actuator_ctrlrange.T
        self.action_space: gym.spaces.Box = gym.spaces.Box(lo.copy(), hi.copy(), dtype=np.float64)
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(self.OBS_DIM,), dtype=np.float64
        )
        self._renderer: mujoco.Renderer | None = None
        self._camera: mujoco.MjvCamera | None = None

    # ------------------------------------------------------------------ simulation
    @property
    def dt(self) -> float:
        """Env step in seconds (0.04)."""
        return float(self.model.opt.timestep) * FRAME_SKIP

    @property
    def goal(self) -> np.ndarray:
        """(3,) goal position (the target body's slide-joint positions)."""
        return self.data.qpos[N_JOINTS : N_JOINTS + 3].copy()

    def fingertip(self) -> np.ndarray:
        """(3,) world position of the fingertip site for the current qpos."""
        return self.data.site_xpos[self._tip_site].copy()

    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Set the full simulator state.

        :param qpos: (10,) 7 arm angles + goal xyz. :param qvel: (10,) :returns: (21,) obs.
        """
        qpos = np.asarray(qpos, dtype=np.float64).reshape(-1)
        qvel = np.asarray(qvel, dtype=np.float64).reshape(-1)
        if qpos.shape != (self.model.nq,) or qvel.shape != (self.model.nv,):
            raise TrajmbrlError(
                f"reacher state needs qpos ({self.model.nq},) and qvel ({self.model.nv},), "
                f"got {qpos.shape} and {qvel.shape}"
            )
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel
        self.data.qacc_warmstart[:] = 0.0
        self.data.ctrl[:] = 0.0
        self._mj.mj_forward(self.model, self.data)
        return self._obs()

    def _obs(self) -> np.ndarray:
        q = self.data.qpos[:N_ACTUATED]
        tip = self.data.site_xpos[self._tip_site]
        goal = self.data.qpos[N_JOINTS : N_JOINTS + 3]
        return np.concatenate([np.cos(q), np.sin(q), goal, self.data.qvel[:N_ACTUATED], tip - goal])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:returns: the (21,) initial observation and an info dict with ``goal``."""
        super().reset(seed=seed)
        rng = self.np_random
        qpos = self.model.qpos0.copy()
        qvel = np.zeros(self.model.nv)
        qpos[:N_JOINTS] += rng.uniform(-self.init_noise, self.init_noise, size=N_JOINTS)
        qpos[N_JOINTS:] = rng.uniform(self.goal_low, self.goal_high, size=3)
        qvel[:N_JOINTS] = rng.uniform(-self.init_noise, self.init_noise, size=N_JOINTS)
        options = options or {}
        for key, target, size in (
            ("qpos", qpos, N_JOINTS),
            ("qvel", qvel, N_JOINTS),
            ("goal", qpos[N_JOINTS:], 3),
        ):
            if key in options:
                value = np.asarray(options[key], dtype=np.float64).reshape(-1)
                if value.shape != (size,):
                    raise TrajmbrlError(
                        f"reacher reset option {key!r} must have {size} entries, got {value.shape}"
                    )
                target[:size] = value
        obs = self.set_state(qpos, qvel)
        return obs, {"goal": self.goal}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """:param action: (5,) torques. :returns: obs (21,), reward, False, False, info."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (N_ACTUATED,):
            raise TrajmbrlError(f"reacher action must have {N_ACTUATED} entries, got {a.shape}")
        u = np.clip(a, self.action_space.low, self.action_space.high)
        goal = self.data.qpos[N_JOINTS : N_JOINTS + 3]
        dist = float(np.linalg.norm(self.data.site_xpos[self._tip_site] - goal))
        reward = -dist - ACTION_COST * float(u @ u)
        self.data.ctrl[:] = u
        self._mj.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        # mj_step leaves positions-derived quantities at the pre-step state: refresh kinematics
        self._mj.mj_kinematics(self.model, self.data)
        obs = self._obs()
        if not np.all(np.isfinite(obs)):
            raise TrajmbrlError("reacher simulation diverged (non-finite state)")
        return obs, reward, False, False, {"action": u}

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        """:returns: (height, width, 3) uint8 frame when ``render_mode='rgb_array'``, else None."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = make_renderer(self.model, self.width, self.height)
            self._camera = default_camera()
        self._renderer.update_scene(self.data, self._camera)
        return self._renderer.render()

    def close(self) -> None:
        """Free the GL context if one was created."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


# ---------------------------------------------------------------------- the system spec
#: model state (obs[STATE_INDICES], 18 dims): fingertip - goal
TIP_MINUS_GOAL = slice(15, 18)


def reacher_return_reward(state: np.ndarray) -> np.ndarray:
    """``-||fingertip - goal||`` from model-state dims 15:18 (control cost dropped).

    The original divided by 500; the scale changes MSE but no rank statistic. (..., 18) -> (...)
    """
    state = check_state_dim(state, 18, "reacher")
    return -np.linalg.norm(state[..., TIP_MINUS_GOAL], axis=-1)


class ReacherReplay:
    """Batched MuJoCo replay of the reacher from 18-dim model states (``oracle`` baseline).

    The 18-dim model state holds the 5 actuated joints (cos, sin, velocity) and fingertip -
    goal, not the 2 unactuated wrist joints or the goal: the wrist starts at 0 with velocity 0
    and the goal is set so that fingertip - goal matches ``s0`` exactly.
    """

    def __init__(self, copies: int, s0: np.ndarray) -> None:
        mj = import_mujoco()
        spec = mj.MjSpec.from_file(str(XML_PATH))
        sensor = spec.add_sensor()  # fingertip position, computed at the start of each mj_step
        sensor.type = mj.mjtSensor.mjSENS_FRAMEPOS
        sensor.objtype = mj.mjtObj.mjOBJ_SITE
        sensor.objname = "fingertip"
        self.model = spec.compile()
        self.data = mj.MjData(self.model)
        self.nu, self.nj, self.nq = N_ACTUATED, N_JOINTS, self.model.nq
        kind = mj.mjtState.mjSTATE_FULLPHYSICS
        template = np.zeros(mj.mj_stateSize(self.model, kind))
        mj.mj_getState(self.model, self.data, template, kind)
        if s0.shape[1] != 3 * N_ACTUATED + 3:
            raise TrajmbrlError(
                "the reacher oracle needs the 18-dim model state (default "
                f"env.state_indices), got {s0.shape[1]} dims"
            )
        s0 = np.tile(s0, (copies, 1))
        state = np.tile(template, (len(s0), 1))  # [time, qpos (nq), qvel (nv)]
        n = self.nu
        state[:, 1 : 1 + n] = np.arctan2(s0[:, n : 2 * n], s0[:, :n])
        state[:, 1 + self.nq : 1 + self.nq + n] = s0[:, 2 * n : 3 * n]
        _, tip = self._advance(state, np.zeros((len(s0), n)), steps=0)
        state[:, 1 + self.nj : 1 + self.nq] = tip - s0[:, 3 * n :]  # goal
        self.state = state

    def _advance(self, state: np.ndarray, ctrl: np.ndarray, steps: int) -> tuple[np.ndarray, ...]:
        """``steps`` physics steps under constant ``ctrl`` (B, nu). :returns: state, tip after."""
        from mujoco import rollout

        control = np.repeat(ctrl[:, None, :], steps + 1, axis=1)
        states, sensors = rollout.rollout(self.model, self.data, state, control)
        return (states[:, steps - 1] if steps else state), sensors[:, steps]

    def step(self, _: Tensor, action: Tensor) -> Tensor:
        """One env step (FRAME_SKIP physics steps). :returns: (B, 18) next model states."""
        import torch

        lo, hi = self.model.actuator_ctrlrange.T
        ctrl = np.clip(action.numpy(), lo, hi)
        self.state, tip = self._advance(self.state, ctrl, FRAME_SKIP)
        n, nq = self.nu, self.nq
        q, qd = self.state[:, 1 : 1 + n], self.state[:, 1 + nq : 1 + nq + n]
        goal = self.state[:, 1 + self.nj : 1 + nq]
        return torch.as_tensor(np.concatenate([np.cos(q), np.sin(q), qd, tip - goal], 1))


def _oracle(copies: int, start: np.ndarray) -> Any:
    return ReacherReplay(copies, start).step


def _theta_box(_: Any) -> tuple[np.ndarray, np.ndarray]:
    """theta = [P/5 (5), D (5), target (5)] in [0, 1]^10 x [-1, 1]^5."""
    return np.concatenate([np.zeros(5), np.zeros(5), -np.ones(5)]), np.ones(15)


#: control: ``-||fingertip - goal||`` (metres, <= 0); theta chosen per episode for its initial
#: state and goal; no reference. Oracle: MuJoCo replay; videos: envs/render.py.
SPEC = SystemSpec(
    name="reacher",
    gym_id="trajmbrl/Reacher3D-v0",
    entry_point="trajmbrl.envs.reacher:Reacher3DEnv",
    state_names=Reacher3DEnv.state_names,
    state_indices=Reacher3DEnv.STATE_INDICES,
    horizon=500,
    return_reward=reacher_return_reward,
    control_reward=reacher_return_reward,
    controller="trajmbrl.controllers.pd:ReacherPDSampler",
    theta_box=_theta_box,
    per_episode=True,
    oracle_step=_oracle,
    render="trajmbrl.envs.render:render_comparison",
)
