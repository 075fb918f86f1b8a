"""Rendering: detections drawn onto frames with readable labels, written as images or a video
(keras_lmk.inference.render), and the synthetic world rendered into frames that agree with the projected
ground truth (keras_lmk.synth.render)."""

from collections import defaultdict

import cv2
import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.geometry.camera import Camera, Mount
from keras_lmk.geometry.map_ground_truth import frame_ground_truth
from keras_lmk.inference.render import RenderSink
from keras_lmk.synth.render import Conditions, render_frame
from keras_lmk.synth.road import drive
from keras_lmk.synth.world import build_world

TAX = load_taxonomy()

# ------------------------------------------------------------ detections drawn (keras_lmk.inference.render)


def _inside_and_apart(rects, frame_size):
    fw, fh = frame_size
    assert all(0 <= x0 < x1 <= fw and 0 <= y0 < y1 <= fh for x0, y0, x1, y1 in rects), rects
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (a, b)


def test_a_label_sits_right_above_its_point_or_flips_at_the_frame_edge():
    from keras_lmk.inference.render import place_labels

    # by hand: gap 4, label 50x10; at (100, 100) right-above is x 104..154, y 86..96
    assert place_labels([(100, 100)], [(50, 10)], (640, 360)) == [(104, 86, 154, 96)]
    # at the right edge it is shifted into the frame (old renderer: cut off at x = 690)
    assert place_labels([(636, 100)], [(50, 10)], (640, 360)) == [(590, 86, 640, 96)]
    # at the top-left corner it goes below, not above the frame
    assert place_labels([(2, 3)], [(50, 10)], (640, 360)) == [(6, 0, 56, 10)]


@pytest.mark.parametrize("where", ["right edge", "centre", "top-right corner"])
def test_a_crowd_of_labels_stays_inside_the_frame_without_overlap(where):
    from keras_lmk.inference.render import place_labels

    rng = np.random.default_rng(0)
    centre = {"right edge": (630, 180), "centre": (320, 180), "top-right corner": (635, 5)}[where]
    points = np.asarray(centre) + rng.uniform(-10, 10, (15, 2))  # 15 landmarks within 20 px: a sign gantry
    sizes = rng.integers(60, 110, 15), np.full(15, 14)
    rects = place_labels(points, np.stack(sizes, 1), (640, 360))
    _inside_and_apart(rects, (640, 360))
    # nudged, not scattered: no label further from its point than one stack of all the labels
    assert max(abs((r[1] + r[3]) / 2 - y) for r, (_, y) in zip(rects, points, strict=True)) < 15 * 14 + 40


def test_draw_detections_keeps_the_frame_and_draws_every_label():
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.detector.decode import Detections
    from keras_lmk.inference.render import draw_detections

    tax = load_taxonomy("korea")
    n = 12
    dets = Detections(
        np.arange(n, dtype=np.int32) % 6 + 1,
        np.column_stack([np.full(n, 630.0), np.linspace(170, 190, n)]).astype(np.float32),
        np.linspace(0.9, 0.3, n).astype(np.float32),
    )
    frame = np.zeros((360, 640, 3), np.uint8)
    out = draw_detections(frame, dets, tax)
    assert out.shape == frame.shape and frame.max() == 0  # a copy
    drawn_rows = np.flatnonzero(out[:, :600].any(axis=(1, 2)))  # labels flipped left of the edge points
    assert drawn_rows.max() - drawn_rows.min() > n * 10  # stacked, not drawn on top of each other


@pytest.mark.parametrize("height", [360, 1080])
def test_a_label_fill_lies_inside_its_outline(height):
    """The dark outline and the coloured text are one shape: the text's pixels lie inside the outline's
    extent, which reaches at most a few pixels past them on every side (OpenCV 5's putText draws a thicker
    text wider: outline at thickness 3 over text at thickness 1 read "indicating 1.00" as
    "indicatling1100", the outline 12 px longer than the text)."""
    from keras_lmk.detector.decode import Detections
    from keras_lmk.inference.render import draw_detections

    width = height * 16 // 9
    frame = np.full((height, width, 3), 128, np.uint8)
    point = (width // 10, height // 2)
    dets = Detections(np.int32([3]), np.float32([point]), np.float32([1.0]))  # "indicating 1.00"
    out = draw_detections(frame, dets, TAX).astype(int)
    r, b = out[..., 0], out[..., 2]
    fill = (b > 170) & (r < 110) & (b - r > 100)  # the class colour (30, 90, 255), allowing antialiasing
    dark = out.max(axis=2) < 40
    px, py = point
    m = max(8, height // 40) + 4  # the marker's cross (min(h, w) / 40 px) and its outline: not the label
    fill[py - m : py + m, px - m : px + m] = False
    dark[py - m : py + m, px - m : px + m] = False
    assert fill.sum() > 50 and dark.sum() > fill.sum() // 2
    fy, fx = np.nonzero(fill)
    dy, dx = np.nonzero(dark)
    margin = 3 + height // 400
    for lo_fill, lo_dark in ((fx.min(), dx.min()), (fy.min(), dy.min())):
        assert 0 <= lo_fill - lo_dark <= margin, (lo_fill, lo_dark)
    for hi_fill, hi_dark in ((fx.max(), dx.max()), (fy.max(), dy.max())):
        assert 0 <= hi_dark - hi_fill <= margin, (hi_fill, hi_dark)


def test_render_sink_writes_named_jpegs_or_one_video(tmp_path):
    grey = np.full((24, 32, 3), 200, np.uint8)
    red = np.zeros((24, 32, 3), np.uint8)
    red[..., 0] = 255
    with RenderSink(tmp_path / "frames") as sink:
        sink.write(red, "sub/a.png", 0, from_video=False)  # RGB in: red on disk is red when read back
        sink.write(grey, "drive.avi", 7, from_video=True)
    written = sorted(p.relative_to(tmp_path / "frames").as_posix() for p in (tmp_path / "frames").rglob("*"))
    assert written == ["frame_000007.jpg", "sub", "sub/a.jpg"]
    b, g, r = cv2.imread(str(tmp_path / "frames" / "sub" / "a.jpg"))[12, 16]
    assert r > 240 and g < 15 and b < 15
    with RenderSink(tmp_path / "out" / "r.avi", fps=5) as sink:
        for k in range(3):
            sink.write(grey if k != 1 else np.zeros((48, 64, 3), np.uint8), "drive.avi", k, from_video=True)
    cap = cv2.VideoCapture(str(tmp_path / "out" / "r.avi"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 3 and cap.get(cv2.CAP_PROP_FPS) == 5
    size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    assert size == (32, 24)  # every frame at the first frame's size
    cap.release()


# --------------------------------------------------------------- the synthetic world (keras_lmk.synth.render)


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
            if name == "road_marking":
                # the lower-right end of the outline (its corner, which need not be painted, e.g. beside an
                # arrow's shaft): paint inside the box, and the point on the box's bottom edge
                x0, y0, x1, y1 = (int(v) for v in box)
                win = img[y0 : y1 + 1, x0 : x1 + 1].reshape(-1, 3)
                ok = any(family(p) in ("white", "yellow") for p in win) and abs(pt[1] - box[3]) <= 1.5
            else:
                ok = family(img[min(y, cam.height - 1), min(x, cam.width - 1)]) in EXPECTED[name]
            checked[name] += 1
            if not ok:
                bad.append((k, name, x, y))
    assert set(checked) == set(TAX.names[1:]), checked
    assert len(bad) <= 0.05 * sum(checked.values()), (bad, checked)
