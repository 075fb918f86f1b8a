"""Localization inputs: the detector profile (solver thresholds and duplicate radius) for any image width,
and the CLI using it (it used the raw 640-px radius on every drive)."""

import json

import cv2
import numpy as np
import pytest

import keras_lmk.localization.localize as localize_lib
from keras_lmk.geometry.camera import Camera, save_camera, save_poses
from keras_lmk.localization.inputs import DETECTOR_SOLVER, detector_profile, make_prior
from keras_lmk.localization.pose_solver import SolverConfig
from keras_lmk.localize import main


def camera(width: int, height: int) -> Camera:
    return Camera(fx=width * 0.8, fy=width * 0.8, cx=width / 2, cy=height / 2, width=width, height=height)


def test_detector_profile_scales_the_duplicate_radius_with_the_width():
    solver, dedup = detector_profile(camera(1280, 720))
    assert dedup == 60.0  # 30 px per 640 px of width
    assert (
        solver.reproj_px == DETECTOR_SOLVER["reproj_px"]
        and solver.base_gate_px == DETECTOR_SOLVER["base_gate_px"]
    )
    assert detector_profile(camera(640, 360))[1] == 30.0
    oracle_solver, oracle_dedup = detector_profile(camera(1280, 720), oracle=True)
    assert oracle_dedup == 0.0 and oracle_solver == SolverConfig()
    s, d = detector_profile(camera(1280, 720), reproj_px=3.0, gate_px=7.0, dedup_px=5.0)
    assert (s.reproj_px, s.base_gate_px, d) == (3.0, 7.0, 5.0)


def test_cli_uses_the_width_scaled_radius(tmp_path, monkeypatch):
    # a 1280-px drive and a stand-in detector: the summary must report 60 px, not the 640-px default 30
    from keras_lmk.geometry.camera import Pose
    from keras_lmk.geometry.map_ground_truth import LandmarkMap, save_map

    d = tmp_path / "drive"
    d.mkdir()
    cam = camera(1280, 720)
    poses = [Pose(float(i), 0.0, 1.5, 0.0, 0.0, 0.0) for i in range(3)]
    save_camera(cam, d / "camera.json")
    save_poses(poses, d / "poses.json")
    save_map(LandmarkMap((), "korea"), d / "map.json")
    (d / "images").mkdir()
    for i in range(3):  # a drive has frames (the progress bar counts them); the stand-in never reads them
        cv2.imwrite(str(d / "images" / f"{i:06d}.png"), np.zeros((720, 1280, 3), np.uint8))

    def fake_detections(model, drive, camera, holder, threshold, ignore=()):
        from keras_lmk.data.taxonomy import load_taxonomy

        holder.append(load_taxonomy("korea"))
        for i in range(3):
            yield i, np.zeros((0, 2)), np.zeros((0,), np.int64), np.zeros((0,))

    monkeypatch.setattr(localize_lib, "model_detections", fake_detections)
    out = tmp_path / "out"
    assert main(["--drive", str(d), "--model", "stand-in.tflite", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dedup_px"] == 60.0


def test_make_prior_is_seeded():
    from keras_lmk.geometry.camera import Pose

    poses = [Pose(0, 0, 0, 0, 0, 0)] * 3
    a, b = make_prior(poses, 2.0, 1.0, seed=1), make_prior(poses, 2.0, 1.0, seed=1)
    assert [p.x for p in a] == [p.x for p in b] and a[0].x != make_prior(poses, 2.0, 1.0, seed=2)[0].x


def test_tracked_detections_drop_one_frame_detections_and_keep_the_layout():
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.inference.tracking import TrackerConfig
    from keras_lmk.localization.inputs import tracked_detections

    sign = load_taxonomy().class_id("warning")
    frames = [
        (0, np.array([[100.0, 50.0]]), np.array([sign]), np.array([0.9], np.float32)),
        (1, np.array([[104.0, 50.0], [400, 300]]), np.array([sign, sign]), np.array([0.9, 0.95], np.float32)),
        (2, np.array([[108.0, 50.0]]), np.array([sign]), np.array([0.8], np.float32)),
    ]  # fmt: skip
    out = list(tracked_detections(frames, TrackerConfig(), 640))
    assert [o[0] for o in out] == [0, 1, 2]
    assert [o[1].tolist() for o in out] == [
        [],
        [[104.0, 50.0]],
        [[108.0, 50.0]],
    ]  # the one-off at (400, 300) never
    assert [o[2].tolist() for o in out] == [[], [sign], [sign]]
    np.testing.assert_allclose(out[2][3], [0.8])


def test_localize_track_needs_a_model(tmp_path):
    from keras_lmk.inference.tracking import TrackerConfig
    from keras_lmk.localization.localize import run

    with pytest.raises(ValueError, match="--track tracks a model"):
        run(tmp_path, tmp_path / "out", oracle=True, track=TrackerConfig())
