"""Synthetic drives: determinism, class coverage, rendered pixels agree with the projected ground truth."""

import json
from collections import defaultdict

import cv2
import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.geometry.camera import Camera, Mount
from keras_lmk.geometry.map_ground_truth import frame_ground_truth
from keras_lmk.synth.__main__ import main
from keras_lmk.synth.drive import default_synthetic_set, generate_drive
from keras_lmk.synth.render import Conditions, render_frame
from keras_lmk.synth.road import drive
from keras_lmk.synth.world import build_world

TAX = load_taxonomy()


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


def test_class_coverage_of_the_reference_drive(tmp_path):
    main(["--out", str(tmp_path), "--frames", "200", "--seed", "1"])
    coco = json.loads((tmp_path / "annotations.json").read_text())
    frames_with = defaultdict(set)
    for a in coco["annotations"]:
        frames_with[a["category_id"]].add(a["image_id"])
        assert "landmark_id" in a and a["distance"] <= 80
    share = {TAX.names[c]: len(v) / len(coco["images"]) for c, v in frames_with.items()}
    assert set(share) == set(TAX.names[1:])
    assert min(share.values()) >= 0.3, share


def family(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    if max(r, g, b) < 75:
        return "black"
    if min(r, g, b) > 170 and max(r, g, b) - min(r, g, b) < 45:
        return "white"
    if r > 150 and g > 110 and b < 90:
        return "yellow"
    if r > 130 and g < 90 and b < 90:
        return "red"
    if b > 120 and r < 90:
        return "blue"
    if g > 150 and r < 120:
        return "green"
    return "other"


EXPECTED = {
    "warning": {"red", "yellow", "white", "black"},
    "regulatory": {"red", "white", "black"},
    "indicating": {"blue", "white"},
    "auxiliary": {"white", "black"},
    "signal": {"black", "red", "yellow", "green"},
}


def test_clean_render_agrees_with_ground_truth():
    world = build_world(420, seed=5, clutter=False)
    cam = Camera.from_fov(640, 360, 60.0, mount=Mount(x=1.8, z=1.4, pitch=0.02), near=0.3)
    poses, _ = drive(world.road, 40, np.random.default_rng(0), step=6.0)
    checked = defaultdict(int)
    bad = []
    for k, pose in enumerate(poses):
        img = render_frame(world, cam, pose, Conditions.clean())
        rec = frame_ground_truth(world.map, cam, pose, taxonomy=TAX)
        for box, pt, c in zip(rec.boxes, rec.points, rec.classes, strict=True):
            name = TAX.names[c]
            if min(box[2] - box[0], box[3] - box[1]) < 7:
                continue
            x, y = int(pt[0]), int(pt[1])
            if name == "road_marking":  # the lower-right end: paint just up-left of the point
                win = img[max(y - 3, 0) : y + 2, max(x - 3, 0) : x + 2].reshape(-1, 3)
                ok = any(family(p) in ("white", "yellow") for p in win)
            else:
                ok = family(img[min(y, cam.height - 1), min(x, cam.width - 1)]) in EXPECTED[name]
            checked[name] += 1
            if not ok:
                bad.append((k, name, x, y))
    assert set(checked) == set(TAX.names[1:]), checked
    assert len(bad) <= 0.05 * sum(checked.values()), (bad, checked)


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


def test_vehicle_speed_changes_like_traffic():
    """10 frames/s (the video rate): a car accelerates or brakes at a few m/s^2, not several g. Position
    differences along the road give speed (m/frame) and acceleration (m/frame^2 = 100 m/s^2)."""
    world = build_world(1200, seed=2, clutter=False)
    _, s = drive(world.road, 400, np.random.default_rng(4), step=2.6)
    speed = np.diff(s)
    accel_ms2 = np.diff(speed) * 10.0 * 10.0
    assert 2.0 < speed.mean() < 3.2 and speed.min() > 0.5 * 2.6
    assert np.abs(accel_ms2).max() < 5.0, np.abs(accel_ms2).max()
    assert speed.std() > 0.05  # still varies
