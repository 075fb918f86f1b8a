"""Vehicle pose from detected landmark reference points and a 3D landmark map (pure numpy/OpenCV, no IO).

One frame, given a predicted pose and its uncertainty (see :func:`solve_frame`):

1. **Predict** which map landmarks the camera sees from the predicted pose (:func:`predict_landmarks`), each
   with a pixel gate that grows with the pose uncertainty: ``gate = base_px + n_sigma * f * (sigma_pos / depth
   + sigma_ang)`` (a position error moves near landmarks more than far ones; an angle error moves all alike).
2. **Associate** detections to them (:func:`associate`): same class only, pixel distance inside the gate,
   one-to-one by ``scipy.optimize.linear_sum_assignment`` on the distance divided by the gate.
3. **Solve** the camera pose: with >= 4 pairs ``cv2.solvePnPRansac`` then ``cv2.solvePnPRefineLM`` on its
   inliers (6 DoF, :func:`solve_pnp`). With fewer than 4 PnP inliers but >= 3 pairs the planar-ground solve
   (:func:`solve_planar`) fits only x, y, yaw and pitch, holding z and roll at the prediction (the vehicle
   stays on the road surface), with a robust loss. Fewer than that: no measurement.
4. **Re-associate** every map landmark projected from the solved pose with a small gate, and solve again:
   the first pass only needs a handful of right pairs, the second picks up the rest.

Across frames ``localization/pose_filter.py`` (constant-velocity Kalman filter on x, y, z, yaw) fuses the
vision pose with the coarse prior. Frames: see keras_lmk/geometry/camera.py (world x east, y north, z up; yaw
counter-clockwise
from east; pixels x right, y down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from scipy.optimize import least_squares, linear_sum_assignment

from keras_lmk.geometry.camera import Camera, Pose
from keras_lmk.geometry.map_ground_truth import faces_camera

_FAR = 1e6  # cost of a forbidden pair (class mismatch or outside the gate)
PLANAR_FREE = (0, 1, 3, 4)  # x, y, yaw, pitch of (x, y, z, yaw, pitch, roll): what the planar solve fits


@dataclass(frozen=True)
class SolverConfig:
    """Association gates (pixels), RANSAC threshold (pixels) and the smallest inlier counts."""

    base_gate_px: float = 12.0  # detector noise + map error, on top of the pose-uncertainty gate
    n_sigma: float = 2.5
    refine_gate_px: float = 10.0  # second pass, around the solved pose
    reproj_px: float = 4.0  # RANSAC inlier threshold and final inlier test
    min_pnp_inliers: int = 4
    min_planar_inliers: int = 3
    max_range_m: float = 80.0
    # a 6-DoF fix must look like a car on the road: z and pitch/roll near the prediction's (wrong pairs that
    # fit 4-6 points often do so by tilting or lifting the camera)
    max_dz_m: float = 1.0
    max_tilt_deg: float = 4.0
    ransac_iters: int = 200
    # association cost = distance / gate + score_weight * (1 - score): between two detections in the gate,
    # the confident one wins unless it is much farther from the prediction
    score_weight: float = 0.0


class Predicted(NamedTuple):
    """index: int [V] into the map arrays; pixels: float [V, 2]; gate: float [V] px; depth: float [V] m."""

    index: np.ndarray
    pixels: np.ndarray
    gate: np.ndarray
    depth: np.ndarray


class FrameSolution(NamedTuple):
    """pose: vehicle pose or None; status: "pnp" | "planar" | "none"; map_index / det_index: int [K] of the
    final pairs; inliers: bool [K]; n_matches: pairs of the first association pass."""

    pose: Pose | None
    status: str
    map_index: np.ndarray
    det_index: np.ndarray
    inliers: np.ndarray
    n_matches: int


def pose_from_rotation(r_wv: np.ndarray, position) -> Pose:
    """Pose of ``R_wv = Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (see geometry/camera.py) and a position [3]."""
    pitch = math.asin(float(np.clip(-r_wv[2, 0], -1.0, 1.0)))
    roll = math.atan2(r_wv[2, 1], r_wv[2, 2])
    yaw = math.atan2(r_wv[1, 0], r_wv[0, 0])
    x, y, z = (float(v) for v in position)
    return Pose(x, y, z, yaw, pitch, roll)


def vehicle_pose(camera: Camera, r_cw: np.ndarray, t_cw: np.ndarray) -> Pose:
    """Vehicle pose from the camera extrinsics ``p_cam = r_cw @ p_world + t_cw`` through the mounting."""
    r_wc = r_cw.T
    c_w = -r_wc @ np.asarray(t_cw, np.float64).reshape(3)
    r_wv = r_wc @ camera.mount.rotation.T
    m = camera.mount
    return pose_from_rotation(r_wv, c_w - r_wv @ np.array([m.x, m.y, m.z]))


def wrap_angle(a):
    """Angle(s) to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def predict_landmarks(
    points_world,
    camera: Camera,
    pose: Pose,
    *,
    sigma_pos_m: float,
    sigma_ang_rad: float,
    cfg: SolverConfig = SolverConfig(),
    normals=None,
) -> Predicted:
    """Map landmarks the camera should see from ``pose``: in front, within range, facing the camera (when
    ``normals`` float [N, 3] from :func:`~keras_lmk.geometry.map_ground_truth.facing_normals` is given) and
    inside the image grown by each landmark's gate."""
    p = np.asarray(points_world, np.float64).reshape(-1, 3)
    proj = camera.project(p, pose, max_range=cfg.max_range_m)
    depth = proj.depth
    keep = (depth > max(camera.near, 0.5)) & (proj.distance <= cfg.max_range_m)
    if normals is not None:
        keep &= faces_camera(p, normals, camera, pose)
    idx = np.flatnonzero(keep)
    px = proj.pixels[idx]
    f = max(camera.fx, camera.fy)
    gate = cfg.base_gate_px + cfg.n_sigma * f * (sigma_pos_m / depth[idx] + sigma_ang_rad)
    inside = (
        (px[:, 0] >= -gate)
        & (px[:, 0] < camera.width + gate)
        & (px[:, 1] >= -gate)
        & (px[:, 1] < camera.height + gate)
    )
    return Predicted(idx[inside], px[inside], gate[inside], depth[idx][inside])


def associate(
    pred_pixels, pred_classes, gate, det_pixels, det_classes, det_scores=None, score_weight: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (pred_index int [K], det_index int [K]) of equal class and distance < gate.

    pred_pixels float [V, 2], pred_classes int [V], gate float [V] or scalar (pixels); det_pixels float
    [D, 2], det_classes int [D]; det_scores float [D] in [0, 1] (optional). Cost = distance / gate (so a
    near landmark's wide gate does not make it a worse match) + ``score_weight * (1 - score)``.
    """
    pp = np.asarray(pred_pixels, np.float64).reshape(-1, 2)
    dp = np.asarray(det_pixels, np.float64).reshape(-1, 2)
    if len(pp) == 0 or len(dp) == 0:
        return np.zeros((0,), int), np.zeros((0,), int)
    g = np.broadcast_to(np.asarray(gate, np.float64), (len(pp),))
    dist = np.linalg.norm(pp[:, None, :] - dp[None, :, :], axis=-1)
    ok = (np.asarray(pred_classes)[:, None] == np.asarray(det_classes)[None, :]) & (dist < g[:, None])
    cost = dist / g[:, None]
    if det_scores is not None and score_weight:
        cost = cost + score_weight * (1.0 - np.asarray(det_scores, np.float64).reshape(1, -1))
    rows, cols = linear_sum_assignment(np.where(ok, cost, _FAR))
    good = ok[rows, cols]
    return rows[good], cols[good]


def suppress_duplicates(points, classes, scores, radius_px: float) -> np.ndarray:
    """Indices (int [K], ascending) of the detections kept when, among same-class detections closer than
    ``radius_px`` to each other, only the highest-scoring one stays (greedy, most confident first).

    A detector that splits one landmark's votes into two clusters reports it twice a few pixels apart; with
    both in the association gate, the worse point can take the pair."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    c = np.asarray(classes).reshape(-1)
    order = np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")
    dead = np.zeros(len(p), bool)
    keep = []
    for k in order:
        if dead[k]:
            continue
        keep.append(k)
        dead |= (c == c[k]) & (np.linalg.norm(p - p[k], axis=1) < radius_px)
    return np.sort(np.array(keep, int))


def _reproj_errors(camera: Camera, r_cw, t_cw, obj, img) -> np.ndarray:
    pc = obj @ r_cw.T + t_cw
    err = np.full(len(obj), np.inf)
    front = pc[:, 2] > camera.near
    if front.any():
        err[front] = np.linalg.norm(camera.camera_to_pixels(pc[front]) - img[front], axis=1)
    return err


def solve_pnp(
    object_points,
    image_points,
    camera: Camera,
    *,
    cfg: SolverConfig = SolverConfig(),
    guess: Pose | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """6-DoF camera pose of >= 4 world points float [K, 3] seen at pixels float [K, 2].

    RANSAC (``cv2.solvePnPRansac``, from ``guess`` when given) then ``cv2.solvePnPRefineLM`` on the inliers.
    Returns ``(r_cw [3, 3], t_cw [3], inliers bool [K])``, the final inliers by reprojection error, or None.
    """
    obj = np.asarray(object_points, np.float64).reshape(-1, 3)
    img = np.asarray(image_points, np.float64).reshape(-1, 2)
    if len(obj) < 4:
        return None
    k, dist = camera.K, np.asarray(camera.dist, np.float64)
    kw = {}
    if guess is not None:
        r0, t0 = camera.world_to_camera(guess)
        kw = {"rvec": cv2.Rodrigues(r0)[0], "tvec": t0.reshape(3, 1).copy(), "useExtrinsicGuess": True}
    try:
        ok, rvec, tvec, inl = cv2.solvePnPRansac(
            obj, img, k, dist, iterationsCount=cfg.ransac_iters, reprojectionError=cfg.reproj_px,
            confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE, **kw,
        )  # fmt: skip
    except cv2.error:
        return None
    if not ok or inl is None or len(inl) < 4:
        return None
    sel = inl.reshape(-1)
    rvec, tvec = cv2.solvePnPRefineLM(obj[sel], img[sel], k, dist, rvec, tvec)
    r_cw, t_cw = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
    inliers = _reproj_errors(camera, r_cw, t_cw, obj, img) < cfg.reproj_px
    if not np.isfinite(t_cw).all() or inliers.sum() < 4:
        return None
    return r_cw, t_cw, inliers


def _pose_vec(p: Pose) -> np.ndarray:
    return np.array([p.x, p.y, p.z, p.yaw, p.pitch, p.roll])


def solve_planar(
    object_points, image_points, camera: Camera, base: Pose, *, cfg: SolverConfig = SolverConfig()
) -> tuple[Pose, np.ndarray] | None:
    """x, y, yaw and pitch of the vehicle with z and roll held at ``base`` (planar ground), from >= 3 points.

    Pitch stays free because suspension pitch of a few tenths of a degree already moves far landmarks by
    pixels. Robust least squares (soft L1, scale ``reproj_px``) from ``base``, then plain least squares on the
    inliers. Returns ``(pose, inliers bool [K])`` or None when fewer than ``min_planar_inliers`` points fit.
    """
    obj = np.asarray(object_points, np.float64).reshape(-1, 3)
    img = np.asarray(image_points, np.float64).reshape(-1, 2)
    if len(obj) < 3:
        return None
    full = _pose_vec(base)
    free = list(PLANAR_FREE)

    def pose_of(v):
        w = full.copy()
        w[free] = v
        return Pose(*w)

    def residuals(v, o, i):
        r, t = camera.world_to_camera(pose_of(v))
        pc = o @ r.T + t
        z = np.maximum(pc[:, 2], camera.near)  # keep points behind the camera finite (and far off)
        return (camera.camera_to_pixels(np.column_stack([pc[:, :2], z])) - i).ravel()

    v = full[free]
    sel = np.ones(len(obj), bool)
    for loss in ("soft_l1", "linear"):
        v = least_squares(residuals, v, args=(obj[sel], img[sel]), loss=loss, f_scale=cfg.reproj_px).x
        r, t = camera.world_to_camera(pose_of(v))
        sel = _reproj_errors(camera, r, t, obj, img) < cfg.reproj_px
        if sel.sum() < cfg.min_planar_inliers:
            return None
    return pose_of(v), sel


def pose_covariance(
    object_points, image_points, camera: Camera, pose: Pose, *, pixel_sigma: float, planar: bool = False
) -> np.ndarray:
    """Covariance float [4, 4] of (x, y, z, yaw) of a vehicle pose fitted to the points.

    Gauss-Newton ``sigma^2 (J^T J)^-1`` with J the numeric Jacobian of the pixels with respect to (x, y,
    z, yaw, pitch, roll) (x, y, yaw, pitch when ``planar``; z then gets a huge variance), marginalised to
    (x, y, z, yaw).
    ``pixel_sigma`` is the 1-sigma pixel noise, floored at the fit's own residual RMS.
    """
    obj = np.asarray(object_points, np.float64).reshape(-1, 3)
    img = np.asarray(image_points, np.float64).reshape(-1, 2)
    base = _pose_vec(pose)
    free = list(PLANAR_FREE) if planar else list(range(6))

    def pixels(v):
        r, t = camera.world_to_camera(Pose(*v))
        return camera.camera_to_pixels(obj @ r.T + t).ravel()

    p0 = pixels(base)
    jac = np.empty((len(p0), len(free)))
    for k, j in enumerate(free):
        h = 1e-4 if j < 3 else 1e-6
        v = base.copy()
        v[j] += h
        jac[:, k] = (pixels(v) - p0) / h
    dof = max(len(p0) - len(free), 1)
    sigma2 = max(pixel_sigma**2, float(np.sum((p0 - img.ravel()) ** 2)) / dof)
    cov_free = sigma2 * np.linalg.pinv(jac.T @ jac)
    cov6 = np.diag([1e4] * 6)
    cov6[np.ix_(free, free)] = cov_free
    keep = [0, 1, 2, 3]
    return cov6[np.ix_(keep, keep)]


def solve_frame(
    map_points,
    map_classes,
    det_points,
    det_classes,
    camera: Camera,
    predicted: Pose,
    *,
    sigma_pos_m: float,
    sigma_ang_rad: float,
    cfg: SolverConfig = SolverConfig(),
    map_normals=None,
    det_scores=None,
) -> FrameSolution:
    """Associate and solve one frame (steps 1-4 of the module docstring).

    map_points float [N, 3] world m; map_classes int [N]; det_points float [D, 2] original px; det_classes
    int [D]; predicted: the pose to predict visibility from, with its 1-sigma position (m) and angle (rad)
    uncertainty.
    """
    mp = np.asarray(map_points, np.float64).reshape(-1, 3)
    mc = np.asarray(map_classes).reshape(-1)
    dp = np.asarray(det_points, np.float64).reshape(-1, 2)
    dc = np.asarray(det_classes).reshape(-1)

    def pairs(pose, spos, sang, c):
        pred = predict_landmarks(
            mp, camera, pose, sigma_pos_m=spos, sigma_ang_rad=sang, cfg=c, normals=map_normals
        )
        pi, di = associate(pred.pixels, mc[pred.index], pred.gate, dp, dc, det_scores, c.score_weight)
        return pred.index[pi], di

    def solve(mi, di, guess):
        sol = solve_pnp(mp[mi], dp[di], camera, cfg=cfg, guess=guess)
        if sol is not None and sol[2].sum() >= cfg.min_pnp_inliers:
            pose = vehicle_pose(camera, sol[0], sol[1])
            tilt = np.abs(wrap_angle([pose.pitch - predicted.pitch, pose.roll - predicted.roll])).max()
            if abs(pose.z - predicted.z) <= cfg.max_dz_m and tilt <= math.radians(cfg.max_tilt_deg):
                return pose, "pnp", sol[2]
        if len(mi) >= cfg.min_planar_inliers:
            sol = solve_planar(mp[mi], dp[di], camera, guess, cfg=cfg)
            if sol is not None:
                return sol[0], "planar", sol[1]
        return None, "none", np.zeros(len(mi), bool)

    mi, di = pairs(predicted, sigma_pos_m, sigma_ang_rad, cfg)
    n_matches = len(mi)
    pose, status, inl = solve(mi, di, predicted)
    if pose is None:
        return FrameSolution(None, "none", mi, di, inl, n_matches)
    # second pass: all landmarks around the solved pose, tight gate (no pose-uncertainty term)
    tight = SolverConfig(**{**cfg.__dict__, "base_gate_px": cfg.refine_gate_px, "n_sigma": 0.0})
    mi2, di2 = pairs(pose, 0.0, 0.0, tight)
    pose2, status2, inl2 = solve(mi2, di2, pose)
    if pose2 is not None and inl2.sum() >= inl.sum():
        return FrameSolution(pose2, status2, mi2, di2, inl2, n_matches)
    return FrameSolution(pose, status, mi, di, inl, n_matches)


def pose_error(est: Pose, true: Pose) -> dict[str, float]:
    """Horizontal position error (m), its along-track / cross-track parts in the true vehicle frame, height
    error (m) and absolute heading error (deg)."""
    d = np.array([est.x - true.x, est.y - true.y])
    c, s = math.cos(true.yaw), math.sin(true.yaw)
    return {
        "pos_err_m": float(np.hypot(*d)),
        "along_err_m": float(c * d[0] + s * d[1]),
        "cross_err_m": float(-s * d[0] + c * d[1]),
        "z_err_m": float(est.z - true.z),
        "heading_err_deg": float(abs(math.degrees(wrap_angle(est.yaw - true.yaw)))),
    }
