"""Pose projection: batched pixels against the Camera's own projection, the analytic Jacobian against numpy
central differences (with distortion, a rolled mount and near-plane clamping) and against a hand-computed
case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_lmk.geometry.camera import Camera, Mount, Pose
from keras_lmk.localization.pose_projection import (
    project_jac,
    project_points,
    project_poses,
    project_poses_jac,
)
from tests.test_pose_solver import CAM, TRUE, _landmarks_ahead, hand_project

DISTORTED = Camera(
    500.0, 480.0, 320.0, 240.0, 640, 480, dist=(0.08, -0.03, 0.001, -0.002, 0.01),
    mount=Mount(x=1.5, y=0.2, z=1.4, yaw=-0.01, pitch=0.03, roll=0.02), near=0.3,
)  # fmt: skip


def _vec(p: Pose) -> np.ndarray:
    return np.array([p.x, p.y, p.z, p.yaw, p.pitch, p.roll])


def _reference(camera: Camera, pose6, points) -> np.ndarray:
    """Pixels through Camera.world_to_camera and Camera.camera_to_pixels, depth clamped to the near plane."""
    r, t = camera.world_to_camera(Pose(*pose6))
    pc = np.asarray(points, float) @ r.T + t
    pc[:, 2] = np.maximum(pc[:, 2], camera.near)
    return camera.camera_to_pixels(pc)


def _central_jac(camera: Camera, pose6, points) -> np.ndarray:
    """[N, 2, 6] numpy central differences of :func:`_reference` (1e-5 m, 1e-7 rad)."""
    jac = np.empty((len(points), 2, 6))
    for k in range(6):
        h = 1e-5 if k < 3 else 1e-7
        lo, hi = np.array(pose6, float), np.array(pose6, float)
        lo[k] -= h
        hi[k] += h
        jac[:, :, k] = (_reference(camera, hi, points) - _reference(camera, lo, points)) / (2 * h)
    return jac


def _poses_around(pose: Pose, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _vec(pose) + rng.normal(size=(n, 6)) * [1.0, 1.0, 0.1, 0.05, 0.02, 0.02]


@pytest.mark.parametrize("camera", [CAM, DISTORTED], ids=["pinhole", "distorted"])
def test_batched_projection_is_the_camera_s_for_each_pose(camera):
    pts = _landmarks_ahead(TRUE)
    poses = _poses_around(TRUE, 5, 0)
    px, depth = project_poses(camera, poses, pts)
    assert px.shape == (5, 6, 2) and depth.shape == (5, 6)
    for h, pose in enumerate(poses):
        np.testing.assert_allclose(px[h], _reference(camera, pose, pts), atol=1e-9)
        r, t = camera.world_to_camera(Pose(*pose))
        np.testing.assert_allclose(depth[h], (pts @ r.T + t)[:, 2], atol=1e-9)
    # one point set per pose: row h is pose h's own points
    per_pose = np.stack([pts[::-1], pts, pts[::-1], pts, pts])
    px2, _ = project_poses(camera, poses, per_pose)
    np.testing.assert_allclose(px2[0], _reference(camera, poses[0], pts[::-1]), atol=1e-9)
    np.testing.assert_allclose(px2[1], px[1], atol=1e-9)
    # the one-pose form and the hand pinhole (no distortion)
    one, _ = project_points(CAM, _vec(TRUE), pts)
    np.testing.assert_allclose(one, hand_project(pts, TRUE), atol=1e-6)


@pytest.mark.parametrize("camera", [CAM, DISTORTED], ids=["pinhole", "distorted"])
def test_analytic_jacobian_matches_numpy_central_differences(camera):
    pts = _landmarks_ahead(TRUE)
    poses = _poses_around(TRUE, 4, 1)
    px, _, jac = project_poses_jac(camera, poses, pts)
    assert jac.shape == (4, 6, 2, 6)
    for h, pose in enumerate(poses):
        np.testing.assert_allclose(px[h], _reference(camera, pose, pts), atol=1e-9)
        np.testing.assert_allclose(jac[h], _central_jac(camera, pose, pts), rtol=1e-6, atol=1e-4)
    # the one-pose form is the batch's first row
    px1, _, jac1 = project_jac(camera, poses[0], pts)
    np.testing.assert_allclose(jac1, jac[0], atol=1e-9)
    np.testing.assert_allclose(px1, px[0], atol=1e-9)


def test_a_point_behind_the_near_plane_is_clamped_and_its_jacobian_stays_that_of_the_clamp():
    pose = _vec(TRUE)
    fwd = np.array([math.cos(TRUE.yaw), math.sin(TRUE.yaw), 0.0])
    left = np.array([-math.sin(TRUE.yaw), math.cos(TRUE.yaw), 0.0])
    pts = np.array([TRUE.position - 4 * fwd + 2 * left + [0, 0, 1.0], TRUE.position + 20 * fwd + [0, 0, 1.0]])
    px, depth, jac = project_jac(DISTORTED, pose, pts)
    assert depth[0] < 0 < DISTORTED.near < depth[1]  # the true (unclamped) depth is reported
    assert np.isfinite(px).all() and np.isfinite(jac).all()
    np.testing.assert_allclose(px, _reference(DISTORTED, pose, pts), atol=1e-9)
    np.testing.assert_allclose(jac, _central_jac(DISTORTED, pose, pts), rtol=1e-6, atol=1e-3)


def test_jacobian_of_a_point_on_the_optical_axis_by_hand():
    # camera at the vehicle origin looking along vehicle x; level vehicle at the origin facing east; a point
    # d m ahead on the axis sits on the principal point. Moving the vehicle 1 m left moves it fx / d px
    # right, 1 m up moves it fy / d px down, forward does nothing; yawing left by 1 rad moves it fx px right,
    # pitching the nose down fy px up; rolling about the axis through it does nothing.
    fx, fy, d = 500.0, 480.0, 25.0
    cam = Camera(fx, fy, 320.0, 240.0, 640, 480)
    px, depth, jac = project_jac(cam, np.zeros(6), [[d, 0.0, 0.0]])
    np.testing.assert_allclose(px, [[320.0, 240.0]], atol=1e-12)
    np.testing.assert_allclose(depth, [d])
    np.testing.assert_allclose(
        jac[0], [[0.0, fx / d, 0.0, fx, 0.0, 0.0], [0.0, 0.0, fy / d, 0.0, -fy, 0.0]], atol=1e-9
    )
