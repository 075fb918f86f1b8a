"""Tightly coupled localization: detected reference points update the pose filter directly (pure numpy/SciPy).

The loosely coupled pipeline (keras_lmk/localization/pose_solver.py) needs a whole PnP fix (>= 6 inliers with
a real
detector) before a frame counts; with a detector's 5 px point noise a fix from 6-7 points is barely
over-determined (6 unknowns) and off by ~0.5-1 m. Here every associated detection is a 2D measurement of the
10-dimensional state ``[x, y, z, yaw, vx, vy, vz, vyaw, pitch, roll]`` (the :class:`PoseFilter` state plus
attitude), so frames with 2-5 good points still help and the constant-velocity model averages over frames.

One frame (:func:`tight_update`):

1. **Predict** every map landmark in view with its pixel Jacobian with respect to the pose (analytic:
   keras_lmk/localization/pose_projection.py) and its innovation covariance ``S = J P J^T + sigma^2 I``.
2. **Associate** by class and Mahalanobis distance (gate ``gate_chi2``), one-to-one (Hungarian on d^2): an
   elliptical gate follows the pose uncertainty, so a false detection beside the predicted point is out of
   the gate even when the along-track uncertainty is metres.
3. **Reject outliers** with 2-point RANSAC in the filter (each hypothesis is an update from two pairs; a pair
   supports it when its residual after that update is below ``support_px``; most support wins).
4. **Update**: iterated EKF (Gauss-Newton in the filter) on the supporting pairs with Cauchy weights; then
   re-associate every landmark around the updated pose (``refine_chi2``) and update once more from the
   prediction with those pairs. The whole update is refused when its (x, y, z, yaw) change is implausible
   under the predicted covariance (``update_chi2``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from keras_lmk.geometry.camera import Camera, Pose
from keras_lmk.localization.pose_filter import PoseFilter
from keras_lmk.localization.pose_projection import (
    project_jac,
    project_points,
    project_poses,
    project_poses_jac,
)
from keras_lmk.localization.pose_solver import SolverConfig, predict_landmarks, wrap_angle

POSE_INDEX = (0, 1, 2, 3, 8, 9)  # x, y, z, yaw, pitch, roll inside the 10-state
_SEL = np.array(POSE_INDEX)
_FAR = 1e12
IMAGE_MARGIN_PX = 20.0  # landmarks predicted this far outside the image may still be detected at its edge


@dataclass(frozen=True)
class TightConfig:
    """pixel_sigma: detector point noise (px, 1-sigma). cauchy_scale: Cauchy loss scale in pixel_sigmas.
    gate_chi2 / refine_chi2: per-landmark Mahalanobis gates (2 dof) of the first and second association.
    support_px: a pair's residual that counts as support in RANSAC; min_support: fewest supporting pairs
    for an update. update_chi2: gate on the whole update's (x, y, z, yaw) change (4 dof)."""

    pixel_sigma: float = 5.0
    cauchy_scale: float = 3.0
    gate_chi2: float = 13.8  # p = 0.999
    refine_chi2: float = 9.21  # p = 0.99
    support_px: float = 10.0
    min_support: int = 3
    update_chi2: float = 18.47
    iterations: int = 6
    max_range_m: float = 80.0
    max_hypotheses: int = 60


class TightResult(NamedTuple):
    """status: "tight" (updated) | "rejected" | "none" (too few pairs); map_index / det_index: int [K] pairs
    used; n_matches: pairs of the first association."""

    status: str
    map_index: np.ndarray
    det_index: np.ndarray
    n_matches: int


def pose_of(state6) -> Pose:
    x, y, z, yaw, pitch, roll = (float(v) for v in state6)
    return Pose(x, y, z, yaw, pitch, roll)


def mahalanobis_associate(
    pred_px, jac, p_pose, pred_classes, det_px, det_classes, *, pixel_sigma: float, gate_chi2: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (pred_index int [K], det_index int [K]) of equal class whose squared Mahalanobis
    distance under ``S_i = J_i P J_i^T + pixel_sigma^2 I`` is below ``gate_chi2`` (Hungarian on d^2).

    pred_px float [V, 2], jac float [V, 2, 6], p_pose float [6, 6] pose covariance, det_px float [D, 2]."""
    pp = np.asarray(pred_px, np.float64).reshape(-1, 2)
    dp = np.asarray(det_px, np.float64).reshape(-1, 2)
    if len(pp) == 0 or len(dp) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    s = np.einsum("vik,kl,vjl->vij", jac, p_pose, jac) + pixel_sigma**2 * np.eye(2)
    s_inv = np.linalg.inv(s)
    diff = dp[None, :, :] - pp[:, None, :]  # [V, D, 2]
    d2 = np.einsum("vdi,vij,vdj->vd", diff, s_inv, diff)
    ok = (np.asarray(pred_classes)[:, None] == np.asarray(det_classes)[None, :]) & (d2 < gate_chi2)
    rows, cols = linear_sum_assignment(np.where(ok, d2, _FAR))
    good = ok[rows, cols]
    return rows[good], cols[good]


def iekf_update(
    x0, p0, points, pixels, camera: Camera, *, pixel_sigma: float, cauchy_scale: float = 0.0, iterations=6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterated EKF update of the 10-state ``x0`` [10] with covariance ``p0`` [10, 10] by pixel measurements
    of world points [K, 3] at ``pixels`` [K, 2]. With ``cauchy_scale`` > 0 each point's noise is inflated by
    its Cauchy weight ``1 / (1 + (r / (cauchy_scale * pixel_sigma))^2)`` (iteratively reweighted).
    Returns (x [10], P [10, 10], residual norms [K] px at x)."""
    x0 = np.asarray(x0, np.float64)
    p0 = np.asarray(p0, np.float64)
    obj = np.asarray(points, np.float64).reshape(-1, 3)
    z = np.asarray(pixels, np.float64).reshape(-1)
    sel = _SEL
    n = len(x0)
    p_rows, p_sel = p0[sel], p0[np.ix_(sel, sel)]  # H P and H P H^T need only the pose rows of P
    x = x0.copy()
    weights = np.ones(len(obj))
    for _ in range(iterations):
        h, _, j = project_jac(camera, x[sel], obj)
        hm = j.reshape(-1, 6)  # the measurement Jacobian's pose columns (the others are 0)
        res = z - h.reshape(-1)
        if cauchy_scale > 0:
            rn = np.linalg.norm(res.reshape(-1, 2), axis=1)
            weights = np.maximum(1.0 / (1.0 + (rn / (cauchy_scale * pixel_sigma)) ** 2), 1e-4)
        r_var = np.repeat(pixel_sigma**2 / weights, 2)
        s = hm @ p_sel @ hm.T + np.diag(r_var)
        k = np.linalg.solve(s, hm @ p_rows).T
        dx0 = x0 - x
        dx0[3] = wrap_angle(dx0[3])
        x_new = x0 + k @ (res - hm @ dx0[sel])
        x_new[3] = float(wrap_angle(x_new[3]))
        step = np.abs(x_new - x).max()
        x = x_new
        if step < 1e-6:
            break
    ikh = np.eye(n)
    ikh[:, sel] -= k @ hm
    p = ikh @ p0 @ ikh.T + (k * r_var) @ k.T
    h, _ = project_points(camera, x[sel], obj)
    return x, p, np.linalg.norm(h - z.reshape(-1, 2), axis=1)


def two_pair_updates(x0, p0, points, pixels, camera: Camera, *, pixel_sigma: float, iterations: int = 3):
    """:func:`iekf_update` (no Cauchy weights) of ``x0`` [10], ``p0`` [10, 10] by each of H hypotheses at
    once: points float [H, 2, 3] seen at pixels float [H, 2, 2]. Returns the updated states float [H, 10];
    each hypothesis stops iterating where :func:`iekf_update` would (step below 1e-6)."""
    x0 = np.asarray(x0, np.float64)
    p0 = np.asarray(p0, np.float64)
    pts = np.asarray(points, np.float64)
    n = len(pts)
    z = np.asarray(pixels, np.float64).reshape(n, 4)
    sel = list(POSE_INDEX)
    p_rows, p_sel = p0[sel], p0[np.ix_(sel, sel)]  # H P and H P H^T need only the pose rows
    r_cov = pixel_sigma**2 * np.eye(4)
    x = np.tile(x0, (n, 1))
    active = np.arange(n)
    for _ in range(iterations):
        xa = x[active]
        h, _, j = project_poses_jac(camera, xa[:, sel], pts[active])
        hm = j.reshape(-1, 4, 6)  # [A, 4, 6]: the measurement Jacobian's pose columns
        s = hm @ p_sel @ hm.transpose(0, 2, 1) + r_cov
        k = np.linalg.solve(s, hm @ p_rows).transpose(0, 2, 1)  # [A, 10, 4]
        dx0 = x0 - xa
        dx0[:, 3] = wrap_angle(dx0[:, 3])
        innov = z[active] - h.reshape(-1, 4) - np.einsum("aij,aj->ai", hm, dx0[:, sel])
        x_new = x0 + np.einsum("aij,aj->ai", k, innov)
        x_new[:, 3] = wrap_angle(x_new[:, 3])
        step = np.abs(x_new - xa).max(axis=1)
        x[active] = x_new
        active = active[step >= 1e-6]
        if not len(active):
            break
    return x


def ransac_support(
    x0, p0, points, pixels, camera: Camera, cfg: TightConfig, rng: np.random.Generator | None = None
) -> np.ndarray:
    """bool [K]: the largest set of pairs consistent with one 2-pair update of the filter (ties: smaller
    total residual, then the first hypothesis). Every pair of pairs is a hypothesis (a random
    ``max_hypotheses`` of them when more); all are updated and scored at once (:func:`two_pair_updates`)."""
    k = len(points)
    if k < 3:
        return np.ones(k, bool)
    combos = np.array(list(itertools.combinations(range(k), 2)))
    if len(combos) > cfg.max_hypotheses:
        rng = rng or np.random.default_rng(0)
        combos = combos[np.sort(rng.choice(len(combos), cfg.max_hypotheses, replace=False))]
    points = np.asarray(points, np.float64)
    pixels = np.asarray(pixels, np.float64)
    x = two_pair_updates(x0, p0, points[combos], pixels[combos], camera, pixel_sigma=cfg.pixel_sigma)
    h, _ = project_poses(camera, x[:, list(POSE_INDEX)], points)
    rn = np.linalg.norm(h - pixels, axis=2)  # [H, K]
    sup = rn < cfg.support_px
    count = sup.sum(axis=1)
    spread = np.minimum(rn, cfg.support_px).sum(axis=1)
    tied = np.flatnonzero(count == count.max())
    return sup[tied[np.argmin(spread[tied])]]


def state_with_attitude(filt: PoseFilter, attitude: Pose, attitude_sigma_rad: float):
    """(x [10], P [10, 10]): the filter's 8-state with pitch and roll from ``attitude`` (an IMU/prior
    attitude) of 1-sigma ``attitude_sigma_rad``, independent of the rest."""
    x = np.concatenate([filt.x, [attitude.pitch, attitude.roll]])
    p = np.zeros((10, 10))
    p[:8, :8] = filt.P
    p[8, 8] = p[9, 9] = attitude_sigma_rad**2
    return x, p


def tight_update(
    filt: PoseFilter,
    attitude: Pose,
    attitude_sigma_rad: float,
    map_points,
    map_classes,
    det_points,
    det_classes,
    camera: Camera,
    cfg: TightConfig = TightConfig(),
    map_normals=None,
) -> TightResult:
    """Steps 1-4 of the module docstring on the predicted ``filt``; updates it in place when accepted."""
    mp = np.asarray(map_points, np.float64).reshape(-1, 3)
    mc = np.asarray(map_classes).reshape(-1)
    dp = np.asarray(det_points, np.float64).reshape(-1, 2)
    dc = np.asarray(det_classes).reshape(-1)
    x0, p0 = state_with_attitude(filt, attitude, attitude_sigma_rad)
    sel = list(POSE_INDEX)
    empty = np.zeros(0, int)

    # in front, within range, facing the camera, inside the image grown by the margin: the loose solver's
    # visibility test with a fixed gate
    in_view = SolverConfig(base_gate_px=IMAGE_MARGIN_PX, n_sigma=0.0, max_range_m=cfg.max_range_m)

    def pairs(x, p_pose, chi2):
        vis = predict_landmarks(
            mp, camera, pose_of(x[sel]), sigma_pos_m=0.0, sigma_ang_rad=0.0, cfg=in_view, normals=map_normals
        ).index
        if not len(vis):
            return empty, empty
        px, _, jac = project_jac(camera, x[sel], mp[vis])
        pi, di = mahalanobis_associate(
            px, jac, p_pose, mc[vis], dp, dc, pixel_sigma=cfg.pixel_sigma, gate_chi2=chi2
        )
        return vis[pi], di

    mi, di = pairs(x0, p0[np.ix_(sel, sel)], cfg.gate_chi2)
    n_matches = len(mi)
    if n_matches < cfg.min_support:
        return TightResult("none", mi, di, n_matches)
    sup = ransac_support(x0, p0, mp[mi], dp[di], camera, cfg)
    if sup.sum() < cfg.min_support:
        return TightResult("none", mi, di, n_matches)
    mi, di = mi[sup], di[sup]
    x1, p1, _ = iekf_update(
        x0, p0, mp[mi], dp[di], camera, pixel_sigma=cfg.pixel_sigma, cauchy_scale=cfg.cauchy_scale,
        iterations=cfg.iterations,
    )  # fmt: skip
    # second pass: every landmark around the updated pose, gated by the updated covariance
    mi2, di2 = pairs(x1, p1[np.ix_(sel, sel)], cfg.refine_chi2)
    if len(mi2) >= len(mi):
        same = np.array_equal(mi2, mi) and np.array_equal(di2, di)  # the same pairs give the same update
        mi, di = mi2, di2
        if not same:
            x1, p1, _ = iekf_update(
                x0, p0, mp[mi], dp[di], camera, pixel_sigma=cfg.pixel_sigma, cauchy_scale=cfg.cauchy_scale,
                iterations=cfg.iterations,
            )  # fmt: skip
    dx = x1[:4] - x0[:4]
    dx[3] = wrap_angle(dx[3])
    if float(dx @ np.linalg.solve(p0[:4, :4], dx)) > cfg.update_chi2:
        return TightResult("rejected", mi, di, n_matches)
    filt.x = x1[:8].copy()
    filt.P = 0.5 * (p1[:8, :8] + p1[:8, :8].T)
    filt.set_attitude(float(x1[8]), float(x1[9]))
    return TightResult("tight", mi, di, n_matches)
