"""Generate ``pendulum_logs.csv``: a damped pendulum under PD control with per-episode gains.

Run from the repository root: ``python docs/examples/make_pendulum_logs.py`` (deterministic: the
same seed writes the same bytes). Columns: ``episode, t, q, qd, tau, kp, kd``; row k holds the
state (q, qd) at time t and the torque tau applied from that state until the next row.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np

G, LENGTH, MASS, DAMPING = 9.81, 1.0, 1.0, 0.1  # m/s^2, m, kg, N m s/rad
DT, SUBSTEPS, TAU_MAX, Q_REF = 0.05, 10, 8.0, 0.3  # s, -, N m, rad


def pd_torque(q: float, qd: float, kp: float, kd: float) -> float:
    """PD torque towards Q_REF, clipped to +-TAU_MAX."""
    return float(np.clip(-kp * (q - Q_REF) - kd * qd, -TAU_MAX, TAU_MAX))


def step(q: float, qd: float, tau: float) -> tuple[float, float]:
    """Advance (q, qd) by DT holding tau (semi-implicit Euler substeps)."""
    h = DT / SUBSTEPS
    for _ in range(SUBSTEPS):
        qdd = -G / LENGTH * math.sin(q) - DAMPING * qd + tau / (MASS * LENGTH**2)
        qd = qd + h * qdd
        q = q + h * qd
    return float(q), float(qd)


def generate(path: Path, *, episodes: int = 20, steps: int = 60, seed: int = 0) -> Path:
    """Write ``episodes`` x ``steps`` rows to ``path``; gains kp ~ U(2, 20), kd ~ U(0.2, 3)."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["episode", "t", "q", "qd", "tau", "kp", "kd"])
        for ep in range(episodes):
            kp = round(float(rng.uniform(2.0, 20.0)), 3)
            kd = round(float(rng.uniform(0.2, 3.0)), 3)
            q, qd = float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.0, 1.0))
            for k in range(steps):
                tau = pd_torque(q, qd, kp, kd)
                writer.writerow(
                    [ep, f"{k * DT:.2f}", f"{q:.6f}", f"{qd:.6f}", f"{tau:.6f}", kp, kd]
                )
                q, qd = step(q, qd, tau)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("pendulum_logs.csv")
    print(generate(out))
