"""Pixels of world points seen from vehicle pose vectors, and their analytic Jacobian (pure numpy).

The tight filter (keras_lmk/localization/tight_filter.py) projects a frame's landmarks hundreds of times per
frame (every RANSAC hypothesis, every Gauss-Newton step), so this is its inner loop: batched over poses, no
:class:`~keras_lmk.geometry.camera.Pose` objects, closed-form derivatives instead of finite differences.

A pose vector is ``(x, y, z, yaw, pitch, roll)`` (m, rad) with the conventions of
keras_lmk/geometry/camera.py: ``R_wv = Rz(yaw) @ Ry(pitch) @ Rx(roll)``, the camera mounted at ``m`` with
rotation ``M`` (optical -> vehicle) in the vehicle frame, so a world point ``p`` is at
``p_cam = M^T (R_wv^T (p - t) - m)`` in the camera frame (the same map as
:meth:`~keras_lmk.geometry.camera.Camera.world_to_camera`), and at pixels
:meth:`~keras_lmk.geometry.camera.Camera.camera_to_pixels` ``(p_cam)`` (pinhole + OpenCV distortion).
Points behind the near plane are clamped to it (their depth derivative is then 0), so pixels stay finite.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from keras_lmk.geometry.camera import Camera, Mount


def _rotations(angles: np.ndarray, derivatives: bool) -> np.ndarray:
    """``R_wv = Rz(yaw) @ Ry(pitch) @ Rx(roll)`` of (yaw, pitch, roll) float [H, 3] and, with
    ``derivatives``, its derivatives with respect to yaw, pitch and roll: float [H, 1 or 4, 3, 3], written
    out (the product of three tiny matrices per pose costs more in numpy calls than the arithmetic)."""
    if len(angles) == 1:  # one pose (the Gauss-Newton steps): Python floats cost less than numpy calls
        (cy, cp, cr), (sy, sp, sr) = ([f(float(a)) for a in angles[0]] for f in (math.cos, math.sin))
    else:
        c, s = np.cos(angles).T, np.sin(angles).T
        cy, cp, cr, sy, sp, sr = c[0], c[1], c[2], s[0], s[1], s[2]
    spsr, spcr, cpsr, cpcr = sp * sr, sp * cr, cp * sr, cp * cr
    r = [cy * cp, cy * spsr - sy * cr, cy * spcr + sy * sr,
         sy * cp, sy * spsr + cy * cr, sy * spcr - cy * sr,
         -sp, cpsr, cpcr]  # fmt: skip
    if derivatives:
        # d/d yaw: rows (-row 1, row 0, 0) (d Rz / d yaw = [[-sy, -cy, 0], [cy, -sy, 0], 0]); d/d pitch:
        # written out; d/d roll: columns (0, col 2, -col 1) (d Rx / d roll = [[0, 0, 0], [0, -sr, -cr],
        # [0, cr, -sr]])
        zero = 0.0 * cy
        r += [-r[3], -r[4], -r[5], r[0], r[1], r[2], zero, zero, zero,
              -cy * sp, cy * cpsr, cy * cpcr, -sy * sp, sy * cpsr, sy * cpcr, -cp, -spsr, -spcr,
              zero, r[2], -r[1], zero, r[5], -r[4], zero, r[8], -r[7]]  # fmt: skip
    return np.array(r).T.reshape(len(angles), -1, 3, 3)


@lru_cache(maxsize=16)
def _mount(mount: Mount) -> tuple[np.ndarray, np.ndarray]:
    """(M float [3, 3] optical -> vehicle, m^T M float [3]) of a camera mounting at m."""
    return mount.rotation, np.array([mount.x, mount.y, mount.z]) @ mount.rotation


def _distortion_jac(camera: Camera, xn: np.ndarray, yn: np.ndarray) -> np.ndarray:
    """d(distorted x, y) / d(normalised x, y), float [..., 2, 2], of the OpenCV model in
    :meth:`Camera.camera_to_pixels`."""
    k1, k2, p1, p2, k3 = camera.dist
    r2 = xn * xn + yn * yn
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
    cross = 2 * xn * yn * dradial + 2 * p1 * xn + 2 * p2 * yn
    dxx = radial + 2 * xn * xn * dradial + 2 * p1 * yn + 6 * p2 * xn
    dyy = radial + 2 * yn * yn * dradial + 6 * p1 * yn + 2 * p2 * xn
    return np.stack([np.stack([dxx, cross], -1), np.stack([cross, dyy], -1)], -2)


def _camera_points(camera: Camera, poses: np.ndarray, points: np.ndarray, derivatives: bool):
    """Camera-frame points float [H, K, 3] of ``points`` ([K, 3] or [H, K, 3]) from ``poses`` [H, 6], with
    ``R_wv M`` and, with ``derivatives``, ``dR_wv M`` for yaw, pitch and roll: float [H, 1 or 4, 3, 3],
    and ``p - t`` float [H, K, 3]."""
    mount_r, mount_t = _mount(camera.mount)
    rot = _rotations(poses[:, 3:], derivatives) @ mount_r
    d = points - poses[:, None, :3]
    return d @ rot[:, 0] - mount_t, rot, d  # rows: M^T R^T (p - t) - M^T m


def _as_batch(poses, points) -> tuple[np.ndarray, np.ndarray]:
    poses = np.asarray(poses, np.float64)
    points = np.asarray(points, np.float64)
    return poses.reshape(-1, 6), points.reshape(-1, 3) if points.ndim != 3 else points


def _clamp_and_pixels(camera: Camera, pc: np.ndarray):
    """(depth [H, K], z clamped to the near plane [H, K, 1], normalised coordinates [H, K, 2], pixels
    [H, K, 2]) of camera-frame points ``pc`` [H, K, 3] (clamped in place): the pinhole directly, or
    :meth:`Camera.camera_to_pixels` when the camera has distortion."""
    depth = pc[..., 2].copy()
    pc[..., 2] = np.maximum(depth, camera.near)
    z = pc[..., 2:]
    xy = pc[..., :2] / z
    if any(camera.dist):
        return depth, z, xy, camera.camera_to_pixels(pc).reshape(xy.shape)
    return depth, z, xy, xy * (camera.fx, camera.fy) + (camera.cx, camera.cy)


def project_poses(camera: Camera, poses, points) -> tuple[np.ndarray, np.ndarray]:
    """(pixels float [H, K, 2], depth float [H, K]) of world points [K, 3] (shared) or [H, K, 3] (one set per
    pose) seen from pose vectors [H, 6]; points behind the near plane are clamped to it."""
    poses, points = _as_batch(poses, points)
    depth, _, _, px = _clamp_and_pixels(camera, _camera_points(camera, poses, points, False)[0])
    return px, depth


def project_poses_jac(camera: Camera, poses, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`project_poses` plus the Jacobian float [H, K, 2, 6] of the pixels with respect to the pose
    vector (x, y, z, yaw, pitch, roll), in closed form."""
    poses, points = _as_batch(poses, points)
    pc, rot, d = _camera_points(camera, poses, points, True)
    depth, z, xy, px = _clamp_and_pixels(camera, pc)
    h, k = pc.shape[:2]
    # d p_cam / d pose [H, K, 3, 6]: position -M^T R^T (the same for every point), angles M^T dR^T (p - t)
    dpc = np.empty((h, k, 3, 6))
    dpc[..., :3] = -np.swapaxes(rot[:, :1], 2, 3)
    dpc[..., 3:] = (d[:, None] @ rot[:, 1:]).transpose(0, 2, 3, 1)  # [H, angle, K, 3] -> [H, K, 3, angle]
    behind = depth < camera.near
    if behind.any():
        dpc[..., 2, :][behind] = 0.0  # clamped depth
    dn = (dpc[..., :2, :] - xy[..., None] * dpc[..., 2:, :]) / z[..., None]  # d (x/z, y/z) / d pose
    if any(camera.dist):
        dn = _distortion_jac(camera, xy[..., 0], xy[..., 1]) @ dn
    return px, depth, dn * ((camera.fx,), (camera.fy,))


def project_points(camera: Camera, pose6, points) -> tuple[np.ndarray, np.ndarray]:
    """(pixels float [N, 2], depth float [N]) of world points [N, 3] from one pose vector [6]."""
    px, depth = project_poses(camera, pose6, points)
    return px[0], depth[0]


def project_jac(camera: Camera, pose6, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels [N, 2], depth [N] and the analytic Jacobian [N, 2, 6] of the pixels with respect to one pose
    vector [6] (x, y, z, yaw, pitch, roll)."""
    px, depth, jac = project_poses_jac(camera, pose6, points)
    return px[0], depth[0], jac[0]
