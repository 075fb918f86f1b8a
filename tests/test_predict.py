import json

import cv2
import numpy as np
import pytest
from inference_helpers import read_frames_with_warnings, save_tiny_keras

from keras_lmk.data.frames import FrameSource, FrameSourceError
from keras_lmk.predict import main


def write_video(path, n=6, size=(80, 48), fps=10.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    w.release()
    return path


def test_video_frames_timestamps_and_corrupt_frame_skipped(tmp_path):
    path = write_video(tmp_path / "v.avi")
    src = FrameSource(path)
    frames, _ = read_frames_with_warnings(src)
    assert [f.index for f in frames] == list(range(6))
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert frames[0].image.shape == (48, 80, 3) and frames[0].name == "v.avi"
    # wipe the start of frame 3's JPEG data: that frame is skipped, counted, and the rest still read
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[soi[3] : soi[4] - 16] = bytes(soi[4] - 16 - soi[3])
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(bytes(data))
    src = FrameSource(bad)
    frames, msgs = read_frames_with_warnings(src)
    assert [f.index for f in frames] == [0, 1, 2, 4, 5] and src.skipped == 1
    assert any("frame 3" in m for m in msgs)
    assert frames[3].timestamp_s == pytest.approx(0.4)


def test_truncated_or_missing_video_is_a_clear_error(tmp_path):
    data = write_video(tmp_path / "v.avi").read_bytes()
    (tmp_path / "trunc.avi").write_bytes(data[: len(data) // 2])  # the AVI index is gone
    with pytest.raises(FrameSourceError, match="trunc.avi"):
        list(FrameSource(tmp_path / "trunc.avi"))
    with pytest.raises(FrameSourceError, match="nope.mp4"):
        FrameSource(tmp_path / "nope.mp4")


def test_folder_recursive_sorted_relative_and_bad_images_skipped(tmp_path):
    (tmp_path / "b").mkdir()
    img = np.zeros((10, 12, 3), np.uint8)
    img[..., 0] = 255  # red in RGB
    cv2.imwrite(str(tmp_path / "b" / "2.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    ok, jpg = cv2.imencode(".jpg", img)
    (tmp_path / "b" / "1_trunc.jpg").write_bytes(jpg.tobytes()[:-40])
    (tmp_path / "c.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("x")
    src = FrameSource(tmp_path)
    frames, msgs = read_frames_with_warnings(src)
    assert [f.name for f in frames] == ["a.jpg", "b/2.png"]
    assert src.skipped == 2 and len(msgs) == 2
    assert tuple(frames[1].image[0, 0]) == (255, 0, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FrameSourceError, match="empty"):
        FrameSource(empty)


def test_predict_video_end_to_end(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    video = write_video(tmp_path / "drive.avi", n=4, size=(96, 64))
    out = tmp_path / "out" / "preds.json"
    rc = main(
        [
            "--model",
            str(model),
            "--input",
            str(video),
            "--out",
            str(out),
            "--score-threshold",
            "0.05",
            "--render",
            str(tmp_path / "render.avi"),
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    preds = json.loads(out.read_text())
    assert preds, "the tiny model at threshold 0.05 should vote somewhere"
    keys = {"image_id", "file_name", "category_id", "category", "keypoints", "score", "timestamp_s"}
    assert all(set(p) == keys for p in preds)
    p = preds[0]
    assert (
        p["file_name"] == "drive.avi" and p["keypoints"][2] == 1 and p["category"] in ("sign", "road_marking")
    )
    assert {q["image_id"] for q in preds} <= {0, 1, 2, 3}
    assert all(0 <= q["keypoints"][0] <= 96 and 0 <= q["keypoints"][1] <= 64 for q in preds)
    assert all(q["timestamp_s"] == pytest.approx(q["image_id"] / 10.0) for q in preds)
    assert cv2.VideoCapture(str(tmp_path / "render.avi")).get(cv2.CAP_PROP_FRAME_COUNT) == 4
    # folder input with rendering into a folder
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "imgs" / "sub" / "x.png"), np.full((50, 70, 3), 90, np.uint8))
    rc = main(
        [
            "--model",
            str(model),
            "--input",
            str(tmp_path / "imgs"),
            "--out",
            str(out),
            "--score-threshold",
            "0.05",
            "--render",
            str(tmp_path / "rimg"),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert all(q["file_name"] == "sub/x.png" and "timestamp_s" not in q for q in json.loads(out.read_text()))
    assert (tmp_path / "rimg" / "sub" / "x.jpg").is_file()


def test_predict_errors_are_clear(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    rc = main(
        ["--model", str(model), "--input", str(tmp_path / "missing"), "--out", str(tmp_path / "p.json")]
    )
    assert rc == 2 and "missing" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["--model", str(model), "--input", str(tmp_path), "--out", str(blocker / "p.json")])
    assert rc == 2 and "not writable" in capsys.readouterr().err


# -------------------------------------------------------------- rendered labels (keras_lmk.inference.render)


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


def test_the_readme_python_example_runs_without_tensorflow():
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Use a trained model from Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "LandmarkRuntime(" in code and "open_runner" in code and "predict_frame(rgb)" in code
    check = code + "\nassert 'tensorflow' not in sys.modules and len(dets) > 0\n"
    r = subprocess.run(
        [sys.executable, "-c", "import sys\n" + check], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(re.fullmatch(r"\w+ +x= *[\d.]+ y= *[\d.]+ score=[01]\.\d\d", ln) for ln in lines)
