"""Synthetic drives on disk (keras_lmk.synth.drive): the folder layout, byte-for-byte determinism, the video
variant, the windscreen camera's ranges, and the cached default set."""

import json
import math

import cv2
import numpy as np
import pytest

from keras_lmk.geometry.camera import load_camera
from keras_lmk.synth.drive import cache_root, default_synthetic_set, generate_drive, make_camera


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = files(generate_drive(tmp_path / "a", 5, seed=3, width=160, height=96))
    b = files(generate_drive(tmp_path / "b", 5, seed=3, width=160, height=96))
    c = files(generate_drive(tmp_path / "c", 5, seed=4, width=160, height=96))
    assert set(a) == {"annotations.json", "camera.json", "map.json", "poses.json"} | {
        f"images/{i:06d}.jpg" for i in range(5)
    }
    assert a == b
    assert a["images/000000.jpg"] != c["images/000000.jpg"] and a["map.json"] != c["map.json"]


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="frames >= 1"):
        generate_drive(tmp_path, 0, seed=0)


def test_default_set_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LMK_CACHE", str(tmp_path / "cache"))
    first = default_synthetic_set(frames=2, seed=0, width=96, height=64, progress=False)
    assert first.parent == tmp_path / "cache" and (first / "annotations.json").is_file()
    stamp = (first / "annotations.json").stat().st_mtime_ns
    assert default_synthetic_set(frames=2, seed=0, width=96, height=64, progress=False) == first
    assert (first / "annotations.json").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no temp folders left


def test_video_drive_is_a_recording_with_per_frame_ground_truth(tmp_path):
    """--video: the same frames in one MJPG file; annotation image k is video frame k (same landmarks as
    the image drive of the same seed, since both are projected from the same map and poses)."""
    from keras_lmk.data.frames import FrameSource

    images = generate_drive(tmp_path / "img", 4, seed=5, width=160, height=96)
    video = generate_drive(tmp_path / "vid", 4, seed=5, width=160, height=96, video=True)
    assert not (video / "images").exists()
    frames = list(FrameSource(video / "drive.avi"))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    for f in frames:  # MJPG at OpenCV's default quality: close to the stored JPEG frames
        jpg = cv2.cvtColor(cv2.imread(str(images / "images" / f"{f.index:06d}.jpg")), cv2.COLOR_BGR2RGB)
        assert np.abs(f.image.astype(int) - jpg.astype(int)).mean() < 12
    a = json.loads((images / "annotations.json").read_text())
    b = json.loads((video / "annotations.json").read_text())
    assert a["annotations"] == b["annotations"] and len(b["images"]) == 4
    assert {im["file_name"] for im in b["images"]} == {"drive.avi"}
    assert (images / "map.json").read_bytes() == (video / "map.json").read_bytes()


def test_make_camera_draws_a_windscreen_camera():
    for seed in range(20):
        cam = make_camera(640, 360, np.random.default_rng(seed))
        hfov = math.degrees(2 * math.atan(320 / cam.fx))  # fx = (width / 2) / tan(hfov / 2)
        assert 55 <= hfov <= 70 and (cam.cx, cam.cy) == (320, 180)
        assert 1.25 <= cam.mount.z <= 1.5 and 0 <= cam.mount.pitch <= 0.05 and abs(cam.mount.yaw) <= 0.02
        assert (cam.mount.x, cam.mount.y, cam.mount.roll) == (1.8, 0.0, 0.0)


def test_a_drive_folder_has_one_pose_and_one_image_entry_per_frame(tmp_path):
    out = generate_drive(tmp_path / "d", 3, seed=1, width=96, height=64, clean=True)
    assert [p["frame"] for p in json.loads((out / "poses.json").read_text())] == [0, 1, 2]
    coco = json.loads((out / "annotations.json").read_text())
    assert [(im["width"], im["height"]) for im in coco["images"]] == [(96, 64)] * 3
    cam = load_camera(out / "camera.json")
    assert (cam.width, cam.height) == (96, 64)
    assert cv2.imread(str(out / "images" / "000002.jpg")).shape == (64, 96, 3)


def test_cache_root_prefers_the_argument_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LMK_CACHE", str(tmp_path / "env"))
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("KERAS_LMK_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "keras_lmk"
