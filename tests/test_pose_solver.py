"""Pose solver: PnP / planar recovery against hand-written pinhole projections, association."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_lmk.geometry.camera import Camera, Mount, Pose
from keras_lmk.localization.pose_solver import (
    SolverConfig,
    associate,
    pose_covariance,
    pose_from_rotation,
    predict_landmarks,
    solve_frame,
    solve_planar,
    solve_pnp,
    suppress_duplicates,
    vehicle_pose,
    wrap_angle,
)

FX, FY, CX, CY, W, H = 500.0, 480.0, 320.0, 240.0, 640, 480
MOUNT = dict(x=1.5, y=0.2, z=1.4, roll=0.0, pitch=0.03, yaw=-0.01)
CAM = Camera(FX, FY, CX, CY, W, H, mount=Mount(**MOUNT), near=0.3)


def _rz(a):
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def _ry(a):
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def _rx(a):
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


# optical axes in vehicle axes, written column by column: right = -y_v, down = -z_v, forward = +x_v
OPTICAL_IN_VEHICLE = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]]).astype(float)


def hand_project(points_world, pose: Pose) -> np.ndarray:
    """Independent pinhole reference: world -> vehicle -> camera -> pixels, no distortion."""
    r_wv = _rz(pose.yaw) @ _ry(pose.pitch) @ _rx(pose.roll)
    r_vc = _rz(MOUNT["yaw"]) @ _ry(MOUNT["pitch"]) @ _rx(MOUNT["roll"]) @ OPTICAL_IN_VEHICLE
    centre = np.array([pose.x, pose.y, pose.z]) + r_wv @ np.array([MOUNT["x"], MOUNT["y"], MOUNT["z"]])
    pc = (np.asarray(points_world, float) - centre) @ (r_wv @ r_vc)  # rows: R_cw @ (p - c)
    assert (pc[:, 2] > 0).all()
    return np.column_stack([FX * pc[:, 0] / pc[:, 2] + CX, FY * pc[:, 1] / pc[:, 2] + CY])


TRUE = Pose(100.0, 50.0, 0.05, math.radians(30), math.radians(0.8), math.radians(-0.5))


def _landmarks_ahead(pose: Pose) -> np.ndarray:
    """Six non-coplanar points 12-45 m ahead, left and right, at ground, sign and signal heights."""
    fwd, left = (
        np.array([math.cos(pose.yaw), math.sin(pose.yaw), 0]),
        np.array([-math.sin(pose.yaw), math.cos(pose.yaw), 0]),
    )
    base = np.array([pose.x, pose.y, 0.0])
    spots = [(12, -4, 0.0), (15, 5, 2.5), (22, -6, 3.1), (30, 3, 5.2), (38, -2, 0.0), (45, 7, 2.2)]
    return np.array([base + a * fwd + b * left + [0, 0, h] for a, b, h in spots])


def _assert_pose_close(est: Pose, true: Pose, tol_m: float, tol_deg: float):
    assert np.linalg.norm([est.x - true.x, est.y - true.y, est.z - true.z]) < tol_m
    for k in ("yaw", "pitch", "roll"):
        assert abs(math.degrees(wrap_angle(getattr(est, k) - getattr(true, k)))) < tol_deg, k


def test_hand_projection_agrees_with_hand_numbers():
    # level vehicle at the origin looking east; a point on the optical axis lands on the principal point
    p = Pose(0, 0, 0, 0, 0, 0)
    cam_centre = np.array([MOUNT["x"], MOUNT["y"], MOUNT["z"]])
    axis = _rz(MOUNT["yaw"]) @ _ry(MOUNT["pitch"]) @ np.array([1.0, 0, 0])
    np.testing.assert_allclose(hand_project([cam_centre + 20 * axis], p), [[CX, CY]], atol=1e-9)
    # and the code under test agrees with the reference on the drive's points
    pts = _landmarks_ahead(TRUE)
    np.testing.assert_allclose(CAM.project(pts, TRUE).pixels, hand_project(pts, TRUE), atol=1e-6)


def test_pnp_recovers_known_pose_from_six_exact_points():
    pts = _landmarks_ahead(TRUE)
    px = hand_project(pts, TRUE)
    assert ((px >= 0) & (px < [W, H])).all()
    r_cw, t_cw, inliers = solve_pnp(pts, px, CAM)
    assert inliers.all()
    _assert_pose_close(vehicle_pose(CAM, r_cw, t_cw), TRUE, 1e-3, 1e-2)


def test_pnp_ignores_an_outlier_and_needs_four_points():
    pts = _landmarks_ahead(TRUE)
    pts = np.vstack([pts, pts[0] + [0, 0, 1.0]])
    px = hand_project(pts, TRUE)
    px[2] += [60.0, -35.0]  # a wrong association
    r_cw, t_cw, inliers = solve_pnp(pts, px, CAM)
    assert inliers.tolist() == [True, True, False, True, True, True, True]
    _assert_pose_close(vehicle_pose(CAM, r_cw, t_cw), TRUE, 1e-3, 1e-2)
    assert solve_pnp(pts[:3], px[:3], CAM) is None


def test_planar_solve_recovers_x_y_yaw_pitch_from_three_points():
    pts = _landmarks_ahead(TRUE)[[0, 1, 3]]
    px = hand_project(pts, TRUE)
    start = Pose(TRUE.x + 1.2, TRUE.y - 0.8, TRUE.z, TRUE.yaw + 0.02, 0.0, TRUE.roll)  # z, roll known
    pose, inliers = solve_planar(pts, px, CAM, start)
    assert inliers.all()
    _assert_pose_close(pose, TRUE, 1e-3, 1e-2)


@pytest.mark.parametrize("score_weight", [0.0, 0.5])
def test_solve_frame_from_a_coarse_prediction_with_clutter(score_weight):
    pts = _landmarks_ahead(TRUE)
    classes = np.array([4, 1, 2, 3, 4, 1])
    det = hand_project(pts, TRUE)
    # a missed landmark (index 5), a wrong-class detection near landmark 1, a far-off false detection
    det_pts = np.vstack([det[:5], det[1] + [4, 3], [[600.0, 20.0]]])
    det_cls = np.array([4, 1, 2, 3, 4, 2, 1])
    predicted = Pose(TRUE.x - 1.5, TRUE.y + 1.0, 0.3, TRUE.yaw + math.radians(1.5), 0.0, 0.0)
    sol = solve_frame(
        pts, classes, det_pts, det_cls, CAM, predicted, sigma_pos_m=2.0, sigma_ang_rad=math.radians(2),
        cfg=SolverConfig(score_weight=score_weight), det_scores=np.full(len(det_cls), 0.9),
    )  # fmt: skip
    assert sol.status == "pnp"
    pairs = sorted(zip(sol.map_index[sol.inliers].tolist(), sol.det_index[sol.inliers].tolist(), strict=True))
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    _assert_pose_close(sol.pose, TRUE, 1e-3, 1e-2)


def test_associate_gates_by_class_and_distance_and_is_one_to_one():
    pred = np.array([[100.0, 100], [300, 200], [500, 400], [50, 300]])
    pred_cls = np.array([1, 2, 1, 3])
    det = np.array(
        [
            [103.0, 98],  # pred 0
            [302, 205],  # pred 1
            [298, 199],  # wrong class (3) right on pred 1
            [560, 470],  # class 1 but outside pred 2's gate
            [20, 20],  # far away, nothing there
        ]
    )  # pred 3 is missed
    det_cls = np.array([1, 2, 3, 1, 1])
    pi, di = associate(pred, pred_cls, 40.0, det, det_cls)
    assert sorted(zip(pi.tolist(), di.tolist(), strict=True)) == [(0, 0), (1, 1)]
    empty = associate(pred, pred_cls, 40.0, np.zeros((0, 2)), np.zeros((0,), int))
    assert len(empty[0]) == 0


def test_associate_is_globally_optimal_not_greedy():
    # greedy nearest-first takes B-d1 (12 px) and is left with A-d2 (50 px); the optimum pairs A-d1, B-d2
    pred, det = np.array([[100.0, 100], [130, 100]]), np.array([[118.0, 100], [150, 100]])
    pi, di = associate(pred, [1, 1], 60.0, det, [1, 1])
    assert sorted(zip(pi.tolist(), di.tolist(), strict=True)) == [(0, 0), (1, 1)]


def test_associate_prefers_the_confident_detection_when_asked():
    # gate 40 px: A is 10 px off with score 0.3, B 20 px off with score 0.95 (same class)
    # cost without scores: A 10/40 = 0.25 < B 0.5; with weight 0.5: A 0.25 + 0.35 = 0.60 > B 0.5 + 0.025
    pred, det = np.array([[100.0, 100]]), np.array([[110.0, 100], [120, 100]])
    assert associate(pred, [1], 40.0, det, [1, 1])[1].tolist() == [0]
    assert associate(pred, [1], 40.0, det, [1, 1], [0.3, 0.95], score_weight=0.5)[1].tolist() == [1]
    assert associate(pred, [1], 40.0, det, [1, 1], [0.3, 0.95], score_weight=0.0)[1].tolist() == [0]


def test_suppress_duplicates_keeps_the_most_confident_per_class_and_radius():
    pts = np.array([[0.0, 0], [10, 0], [50, 0], [12, 0], [35, 0]])
    cls = np.array([1, 1, 1, 2, 1])
    scores = np.array([0.5, 0.9, 0.8, 0.7, 0.6])
    # 0.9 at x=10 removes x=0 (10 px) and x=35 (25 px); x=50 is 40 px away; class 2 is never merged
    assert suppress_duplicates(pts, cls, scores, 30.0).tolist() == [1, 2, 3]
    assert suppress_duplicates(pts, cls, scores, 5.0).tolist() == [0, 1, 2, 3, 4]
    assert suppress_duplicates(np.zeros((0, 2)), np.zeros(0, int), np.zeros(0), 30.0).tolist() == []


def test_predict_landmarks_culls_behind_backfacing_and_grows_gate():
    fwd = np.array([math.cos(TRUE.yaw), math.sin(TRUE.yaw), 0])
    ahead = np.array([TRUE.x, TRUE.y, 2.0]) + 20 * fwd
    behind = np.array([TRUE.x, TRUE.y, 2.0]) - 20 * fwd
    pts = np.stack([ahead, behind, ahead + [0, 0, 0.5]])
    normals = np.stack([-fwd, -fwd, fwd])  # the third faces away from the camera
    pred = predict_landmarks(pts, CAM, TRUE, sigma_pos_m=1.0, sigma_ang_rad=0.01, normals=normals)
    assert pred.index.tolist() == [0]
    wide = predict_landmarks(pts, CAM, TRUE, sigma_pos_m=3.0, sigma_ang_rad=0.01, normals=normals)
    assert wide.gate[0] > pred.gate[0]


def test_pose_from_rotation_inverts_the_zyx_rule():
    """Angles back from R = Rz(yaw) Ry(pitch) Rx(roll) built by SciPy (intrinsic "ZYX"); position as given."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(4)
    for yaw, pitch, roll in [(0.3, -0.2, 0.1), (-2.9, 1.2, 3.0), (math.pi / 2, 0.0, -math.pi / 2)] + [
        tuple(v) for v in rng.uniform([-math.pi, -1.5, -math.pi], [math.pi, 1.5, math.pi], (20, 3))
    ]:
        r = Rotation.from_euler("ZYX", [yaw, pitch, roll]).as_matrix()
        np.testing.assert_allclose(r, _rz(yaw) @ _ry(pitch) @ _rx(roll), atol=1e-12)
        p = pose_from_rotation(r, [1.0, -2.0, 0.5])
        assert (p.x, p.y, p.z) == (1.0, -2.0, 0.5)
        assert p.pitch == pytest.approx(pitch, abs=1e-9)
        assert wrap_angle(p.yaw - yaw) == pytest.approx(0.0, abs=1e-9)
        assert wrap_angle(p.roll - roll) == pytest.approx(0.0, abs=1e-9)
    # pitch exactly 90 deg with rounding pushing -R[2, 0] a hair past 1: clipped, not a math domain error
    r = _ry(math.pi / 2)
    r[2, 0] = -1.0 - 1e-12
    assert pose_from_rotation(r, [0, 0, 0]).pitch == pytest.approx(math.pi / 2)


def _hand_jacobian(pts, pose: Pose, free) -> np.ndarray:
    """Central differences of the hand pinhole with respect to the pose components ``free`` (indices into
    x, y, z, yaw, pitch, roll): float [2N, len(free)]."""
    v0 = np.array([pose.x, pose.y, pose.z, pose.yaw, pose.pitch, pose.roll])
    cols = []
    for j in free:
        h = 1e-4 if j < 3 else 1e-6
        hi, lo = v0.copy(), v0.copy()
        hi[j] += h
        lo[j] -= h
        cols.append(((hand_project(pts, Pose(*hi)) - hand_project(pts, Pose(*lo))) / (2 * h)).ravel())
    return np.column_stack(cols)


def test_pose_covariance_is_gauss_newton_with_the_hand_jacobian():
    """sigma^2 (J^T J)^-1 marginalised to (x, y, z, yaw), J from the hand pinhole; sigma = pixel_sigma when
    the points fit exactly, the residual RMS sum(r^2) / (2N - dof) when that is larger."""
    pts = _landmarks_ahead(TRUE)
    seen = hand_project(pts, TRUE)
    j6 = _hand_jacobian(pts, TRUE, range(6))
    ref = 1.5**2 * np.linalg.inv(j6.T @ j6)[:4, :4]
    got = pose_covariance(pts, seen, CAM, TRUE, pixel_sigma=1.5)
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-12)
    # residuals +-3 px on every coordinate: sum r^2 = 12 * 9 = 108 over 12 - 6 dof -> sigma^2 = 18 > 1.5^2
    noisy = seen + np.array([[3.0, -3.0], [-3.0, 3.0]] * 3)
    got = pose_covariance(pts, noisy, CAM, TRUE, pixel_sigma=1.5)
    np.testing.assert_allclose(got, ref * 18.0 / 1.5**2, rtol=1e-3, atol=1e-12)
    # planar: only x, y, yaw, pitch are fitted; z is unknown (variance 1e4) and uncorrelated
    j4 = _hand_jacobian(pts, TRUE, (0, 1, 3, 4))
    ref4 = 1.5**2 * np.linalg.inv(j4.T @ j4)  # over x, y, yaw, pitch
    got = pose_covariance(pts, seen, CAM, TRUE, pixel_sigma=1.5, planar=True)
    xy_yaw = [0, 1, 3]
    np.testing.assert_allclose(got[np.ix_(xy_yaw, xy_yaw)], ref4[:3, :3], rtol=1e-3, atol=1e-12)
    assert got[2, 2] == 1e4 and not got[2, [0, 1, 3]].any() and not got[[0, 1, 3], 2].any()
