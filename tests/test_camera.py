"""Camera geometry against hand-computed numbers and cv2.projectPoints."""

import json
import math

import cv2
import numpy as np
import pytest

from keras_lmk.geometry.camera import (
    Camera,
    GeometryError,
    Mount,
    Pose,
    load_camera,
    load_poses,
    save_camera,
    save_poses,
)


def simple(**kw) -> Camera:
    return Camera(100.0, 100.0, 50.0, 40.0, 100, 80, **kw)


def test_identity_pose_hand_computed():
    # vehicle (x fwd, y left, z up) = camera (z fwd, -x, -y): (10, -1, 0.5) -> cam (1, -0.5, 10)
    p = simple().project([[10.0, -1.0, 0.5]], Pose())
    np.testing.assert_allclose(p.pixels, [[60.0, 35.0]])
    np.testing.assert_allclose(p.depth, [10.0])
    np.testing.assert_allclose(p.distance, [math.sqrt(100 + 1 + 0.25)])
    assert p.visible.tolist() == [True]


def test_yaw_north_and_translation():
    pose = Pose(x=5.0, y=-3.0, yaw=math.pi / 2)  # facing north
    p = simple().project([[5.0, 7.0, 0.0], [4.0, 7.0, 0.0]], pose)  # 10 m ahead; 1 m west = left
    np.testing.assert_allclose(p.pixels, [[50.0, 40.0], [40.0, 40.0]], atol=1e-9)


def test_mount_height_and_pitch_signs():
    cam = simple(mount=Mount(z=1.5))
    # ground point 15 m ahead: cam (0, 1.5, 15) -> v = 40 + 100 * 0.1
    np.testing.assert_allclose(cam.project([[15.0, 0, 0]], Pose()).pixels, [[50.0, 50.0]])
    down = simple(mount=Mount(pitch=math.radians(5)))  # camera tilted down: the horizon moves up
    assert down.project([[1000.0, 0, 0]], Pose()).pixels[0, 1] < 40
    nose_down = Pose(pitch=math.radians(5))  # vehicle pitch positive = nose down, same effect
    np.testing.assert_allclose(
        simple().project([[1000.0, 0, 0]], nose_down).pixels, down.project([[1000.0, 0, 0]], Pose()).pixels
    )
    roll = Pose(roll=math.radians(10))  # right side down: the camera's x axis dips, a level point on the
    assert simple().project([[10.0, -2.0, 0.0]], roll).pixels[0, 1] < 40  # right appears higher


def test_against_cv2_project_points_with_distortion():
    rng = np.random.default_rng(0)
    for dist in [(0, 0, 0, 0, 0), (-0.3, 0.1, 0.001, -0.002, -0.02)]:
        cam = Camera(
            420.0,
            410.0,
            322.0,
            181.0,
            640,
            360,
            dist=dist,
            mount=Mount(x=1.8, y=0.1, z=1.4, roll=0.01, pitch=0.03, yaw=-0.02),
        )
        pose = Pose(120.0, -40.0, 0.1, 0.7, 0.02, -0.015)
        r, t = cam.world_to_camera(pose)
        # points in front: sample in the camera frame, map back to the world
        pc = np.column_stack([rng.uniform(-8, 8, 50), rng.uniform(-4, 4, 50), rng.uniform(3, 60, 50)])
        pw = (pc - t) @ r
        ref, _ = cv2.projectPoints(pw, cv2.Rodrigues(r)[0], t, cam.K, np.array(dist, float))
        np.testing.assert_allclose(cam.project(pw, pose).pixels, ref.reshape(-1, 2), atol=1e-6)


def test_visibility_mask():
    cam = simple()
    p = cam.project([[10, 0, 0], [-10, 0, 0], [0.05, 0, 0], [10, 20, 0], [90, 0, 0]], Pose(), max_range=80)
    assert p.visible.tolist() == [True, False, False, False, False]  # ok, behind, < near, outside, too far
    assert np.isnan(p.pixels[1]).all()


def test_from_fov():
    cam = Camera.from_fov(640, 360, 90.0)
    assert cam.fx == pytest.approx(320.0) and (cam.cx, cam.cy) == (320.0, 180.0)


def test_bad_values():
    with pytest.raises(GeometryError, match="focal length"):
        Camera(0.0, 100.0, 50.0, 40.0, 100, 80)
    with pytest.raises(GeometryError, match="focal length"):
        Camera(100.0, -1.0, 50.0, 40.0, 100, 80)
    with pytest.raises(ValueError, match="pose.yaw must be finite"):
        Pose(yaw=float("nan"))
    with pytest.raises(ValueError, match="camera.cx must be finite"):
        Camera(100.0, 100.0, float("inf"), 40.0, 100, 80)


def test_json_round_trip_and_errors(tmp_path):
    cam = simple(dist=(0.1, 0, 0, 0, 0), mount=Mount(x=1.0, z=1.3, pitch=0.02))
    save_camera(cam, tmp_path / "camera.json")
    assert load_camera(tmp_path / "camera.json") == cam
    poses = [Pose(1, 2, 0, 0.1, 0.0, 0.0), Pose(3, 4, 0, 0.2, 0.01, -0.01)]
    save_poses(poses, tmp_path / "poses.json")
    assert load_poses(tmp_path / "poses.json") == poses

    bad = cam.to_json() | {"fx": -5}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(GeometryError, match=r"bad\.json: focal length"):
        load_camera(tmp_path / "bad.json")
    data = json.loads((tmp_path / "poses.json").read_text())
    data[1]["pitch"] = float("nan")
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(GeometryError, match=r"p\.json: frame 1: pose.pitch must be finite"):
        load_poses(tmp_path / "p.json")


def test_mount_and_pose_share_the_field_order_and_mount_is_keyword_only():
    import dataclasses

    from keras_lmk.geometry.camera import Pose

    assert [f.name for f in dataclasses.fields(Mount)] == [f.name for f in dataclasses.fields(Pose)]
    with pytest.raises(TypeError):
        Mount(0.0, 0.0, 1.5, 0.1, 0.0, 0.0)  # positional: which angle is which would be a guess
    assert Mount(yaw=0.1).yaw == 0.1
