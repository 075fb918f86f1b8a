"""Pose filter: a constant-velocity Kalman filter over the vehicle pose that PnP fixes and the tight
estimator update (x, y, z, yaw, pitch, roll; metres and radians, see geometry/camera.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from keras_lmk.geometry.camera import Pose
from keras_lmk.localization.pose_solver import wrap_angle


@dataclass(frozen=True)
class FilterConfig:
    """Constant-velocity Kalman filter on (x, y, z, yaw); time unit = one frame.

    accel_m / yaw_accel_rad: white-acceleration noise (m / frame^2, rad / frame^2). pixel_sigma: detection
    noise that scales the vision fix covariance (:func:`pose_covariance`); fix_floor_m / fix_floor_rad are
    added to it for map and model errors. gate_chi2: a fix whose innovation exceeds it is rejected.
    sideslip_m: 1-sigma sideways velocity (m / frame) of the non-holonomic constraint; 0 leaves it out.
    """

    accel_m: float = 0.2
    yaw_accel_rad: float = math.radians(1.5)
    pixel_sigma: float = 1.5
    fix_floor_m: float = 0.05
    fix_floor_rad: float = math.radians(0.1)
    gate_chi2: float = 18.47  # chi-square 4 dof, p = 0.999
    sideslip_m: float = 0.0  # > 0: non-holonomic constraint every frame (PoseFilter.constrain_sideslip)


class PoseFilter:
    """Kalman filter, state ``[x, y, z, yaw, vx, vy, vz, vyaw]`` (m, rad, per frame); pitch and roll follow
    the last 6-DoF vision fix. Yaw innovations are wrapped to [-pi, pi)."""

    def __init__(self, first: Pose, cov, cfg: FilterConfig = FilterConfig()):
        self.cfg = cfg
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        q = np.array([cfg.accel_m**2] * 3 + [cfg.yaw_accel_rad**2])
        # discrete white-acceleration model per axis, dt = 1: q * [[1/4, 1/2], [1/2, 1]]
        self.Q = np.block([[np.diag(q / 4), np.diag(q / 2)], [np.diag(q / 2), np.diag(q)]])
        self.reset(first, cov)

    def reset(self, pose: Pose, cov, velocity=None) -> None:
        """Restart at ``pose`` with position/yaw covariance ``cov`` [4, 4] (velocity kept when given)."""
        v = np.zeros(4) if velocity is None else np.asarray(velocity, np.float64)
        self.x = np.array([pose.x, pose.y, pose.z, pose.yaw, *v], np.float64)
        self.P = np.zeros((8, 8))
        self.P[:4, :4] = np.asarray(cov, np.float64)
        self.P[4:, 4:] = np.diag([1.0] * 3 + [math.radians(3.0) ** 2])  # unknown speed: ~1 m / frame
        self.pitch, self.roll = pose.pitch, pose.roll

    def predict(self) -> None:
        self.x = self.F @ self.x
        self.x[3] = float(wrap_angle(self.x[3]))
        self.P = self.F @ self.P @ self.F.T + self.Q

    def innovation(self, pose: Pose, cov) -> tuple[np.ndarray, np.ndarray, float]:
        """(innovation [4], its covariance [4, 4], squared Mahalanobis distance) of a pose measurement."""
        innov = np.array([pose.x, pose.y, pose.z, pose.yaw]) - self.x[:4]
        innov[3] = float(wrap_angle(innov[3]))
        s = self.P[:4, :4] + np.asarray(cov, np.float64)
        return innov, s, float(innov @ np.linalg.solve(s, innov))

    def update(self, pose: Pose, cov, *, gate: bool = True) -> bool:
        """Fuse a (x, y, z, yaw) measurement with covariance ``cov`` [4, 4]; returns False (state unchanged)
        when ``gate`` and its squared Mahalanobis distance exceeds ``gate_chi2``."""
        innov, s, d2 = self.innovation(pose, cov)
        if gate and d2 > self.cfg.gate_chi2:
            return False
        k = self.P[:, :4] @ np.linalg.inv(s)
        self.x = self.x + k @ innov
        self.x[3] = float(wrap_angle(self.x[3]))
        ikh = np.eye(8) - k @ np.eye(4, 8)
        # Joseph form: stays symmetric positive semi-definite
        self.P = ikh @ self.P @ ikh.T + k @ np.asarray(cov, np.float64) @ k.T
        return True

    def constrain_sideslip(self, sigma_m: float) -> None:
        """Non-holonomic pseudo-measurement: the vehicle moves along its heading, so its sideways velocity
        ``-sin(yaw) vx + cos(yaw) vy`` is 0 with 1-sigma ``sigma_m`` (m per frame). Couples the heading to the
        direction of travel, so a few wrong points cannot turn the heading far from the track."""
        yaw, vx, vy = self.x[3], self.x[4], self.x[5]
        c, s = math.cos(yaw), math.sin(yaw)
        h = np.zeros(8)
        h[3] = -c * vx - s * vy
        h[4], h[5] = -s, c
        innov = -(-s * vx + c * vy)
        var = float(h @ self.P @ h) + sigma_m**2
        k = self.P @ h / var
        self.x = self.x + k * innov
        self.x[3] = float(wrap_angle(self.x[3]))
        ikh = np.eye(8) - np.outer(k, h)
        self.P = ikh @ self.P @ ikh.T + sigma_m**2 * np.outer(k, k)

    def set_attitude(self, pitch: float, roll: float) -> None:
        self.pitch, self.roll = pitch, roll

    @property
    def pose(self) -> Pose:
        x, y, z, yaw = self.x[:4]
        return Pose(x, y, z, float(wrap_angle(yaw)), self.pitch, self.roll)

    @property
    def velocity(self) -> np.ndarray:
        return self.x[4:].copy()

    @property
    def sigmas(self) -> tuple[float, float]:
        """(position 1-sigma m, yaw 1-sigma rad) of the current state."""
        return math.sqrt(max(np.trace(self.P[:3, :3]), 0.0)), math.sqrt(max(self.P[3, 3], 0.0))


def diag_cov(pos_sigma_m: float, yaw_sigma_rad: float) -> np.ndarray:
    """[4, 4] covariance of independent x, y, z (m) and yaw (rad) errors."""
    return np.diag([pos_sigma_m**2] * 3 + [yaw_sigma_rad**2])
