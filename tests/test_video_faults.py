"""Damaged inputs are processed to the end: corrupt and truncated video frames, truncated images.

Bad frames are skipped with a warning and counted in the summary (``predict``: "N frames (K skipped)",
``evaluate``: ``skipped_images`` in metrics.json); a video that cannot be opened at all is an error naming it.
"""

import json

import cv2
import numpy as np
import pytest
from inference_helpers import read_frames_with_warnings, save_tiny_keras

import keras_lmk.predict as predict_cli
from keras_lmk.data.frames import FrameSource

N_FRAMES = 30
CORRUPT = (5, 6, 17)  # frames whose JPEG data is wiped
KEEP_FRAMES = 26  # the file is cut inside frame 26: frames 26..29 and the AVI index are gone
SIZE = (96, 64)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_keras(tmp_path_factory.mktemp("run"))


def _frame(i: int) -> np.ndarray:
    """A road-ish frame with a moving red disc (BGR for OpenCV)."""
    w, h = SIZE
    img = np.full((h, w, 3), (90, 110, 100), np.uint8)
    img[h // 2 :] = (70, 70, 70)
    cv2.circle(img, (10 + 2 * i % (w - 20), h // 3), 6, (0, 0, 230), -1)
    return img


def write_video(path, fourcc: str, n: int = N_FRAMES):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, SIZE)
    assert w.isOpened(), fourcc
    for i in range(n):
        w.write(_frame(i))
    w.release()
    return path


@pytest.fixture(scope="module")
def damaged_avi(tmp_path_factory):
    """MJPG AVI with three corrupt frames and a truncated tail (as after a power cut)."""
    d = tmp_path_factory.mktemp("video")
    data = bytearray(write_video(d / "clean.avi", "MJPG").read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(soi) == N_FRAMES
    for k in CORRUPT:
        data[soi[k] : soi[k + 1] - 16] = bytes(soi[k + 1] - 16 - soi[k])
    path = d / "damaged.avi"
    path.write_bytes(bytes(data[: soi[KEEP_FRAMES] + 40]))
    return path


def test_damaged_video_frames_are_skipped_and_counted(damaged_avi):
    src = FrameSource(damaged_avi)
    frames, msgs = read_frames_with_warnings(src)
    good = [i for i in range(KEEP_FRAMES) if i not in CORRUPT]
    assert [f.index for f in frames] == good
    assert src.skipped == N_FRAMES - len(good)  # corrupt frames + the frames lost with the tail
    for k in CORRUPT:
        assert any(f"frame {k} is corrupt" in m for m in msgs)
    assert frames[-1].timestamp_s == pytest.approx((KEEP_FRAMES - 1) / 10.0)


def test_predict_runs_to_the_end_of_a_damaged_video(model, damaged_avi, tmp_path, capsys):
    out = tmp_path / "preds.json"
    rendered = tmp_path / "rendered.avi"
    rc = predict_cli.main(["--model", str(model), "--input", str(damaged_avi), "--out", str(out), "--render",
                       str(rendered), "--score-threshold", "0", "--no-progress"])  # fmt: skip
    assert rc == 0
    good = [i for i in range(KEEP_FRAMES) if i not in CORRUPT]
    stdout = capsys.readouterr().out
    assert f"{len(good)} frames ({N_FRAMES - len(good)} skipped)" in stdout
    entries = json.loads(out.read_text())
    assert sorted({e["image_id"] for e in entries}) == good  # threshold 0: every good frame has entries
    assert all(0 <= e["keypoints"][0] <= SIZE[0] and 0 <= e["keypoints"][1] <= SIZE[1] for e in entries)
    cap = cv2.VideoCapture(str(rendered))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(good)  # one rendered frame per good frame
    cap.release()


def test_mp4v_video_and_its_truncation(model, tmp_path, capsys):
    """mp4v: a complete file predicts every frame; a cut file has lost its index (moov atom at the end), so
    it cannot be opened: a clear error naming the file, exit status 2, no output written."""
    path = write_video(tmp_path / "drive.mp4", "mp4v", n=12)
    out = tmp_path / "preds.json"
    args = ["--model", str(model), "--out", str(out), "--score-threshold", "0", "--no-progress"]
    assert predict_cli.main(["--input", str(path), *args]) == 0
    assert "12 frames (0 skipped)" in capsys.readouterr().out
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    out.unlink()
    assert predict_cli.main(["--input", str(cut), *args]) == 2
    assert "cut.mp4: cannot open video" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_skips_truncated_images_and_counts_them(model, tmp_path):
    from inference_helpers import TINY_TAXONOMY

    from keras_lmk.data.coco import write_coco
    from keras_lmk.data.records import ImageRecord
    from keras_lmk.evaluation.evaluate import run

    records = []
    for i in range(4):
        p = tmp_path / "img" / f"{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(p), _frame(i))
        records.append(
            ImageRecord(str(p), SIZE[0], SIZE[1], [[20, 10, 40, 30]], [[30, 20]], [1], image_id=i + 1)
        )
    data = (tmp_path / "img" / "2.jpg").read_bytes()
    (tmp_path / "img" / "2.jpg").write_bytes(data[: len(data) // 2])  # truncated on disk
    write_coco(records, TINY_TAXONOMY, tmp_path / "val.json")
    summary = run(model, tmp_path / "val.json", tmp_path / "eval", progress=False)
    assert summary["frames"] == 3 and summary["skipped_images"] == 1
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["skipped_images"] == 1
    rows = (tmp_path / "eval" / "per_frame.csv").read_text().splitlines()
    assert len(rows) == 1 + 3


def _per_frame_coco(path, frames, **image_extra):
    """COCO ground truth for video frames: the red disc of each listed frame as a sign (listed in reverse,
    with explicit frame_index, so the reader must put them in frame order)."""
    w, h = SIZE
    images, anns = [], []
    for i in reversed(frames):
        images.append({"id": 100 + i, "file_name": "", "frame_index": i, **image_extra})
        x, y = 10 + 2 * i % (w - 20), h // 3
        anns.append(
            {"id": len(anns) + 1, "image_id": 100 + i, "category_id": 1, "bbox": [x - 6, y - 6, 12, 12]}
        )
    cats = [{"id": 1, "name": "sign"}, {"id": 2, "name": "road_marking"}]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_evaluate_runs_to_the_end_of_a_damaged_video(model, damaged_avi, tmp_path):
    """30 annotated frames; 3 are corrupt and 4 were lost with the tail: 23 evaluated, 7 skipped."""
    import csv

    from keras_lmk.evaluate import main

    gt = _per_frame_coco(tmp_path / "gt.json", list(range(N_FRAMES)))
    out = tmp_path / "eval"
    with pytest.warns(UserWarning) as warned:
        rc = main(["--model", str(model), "--data", str(gt), "--video", str(damaged_avi), "--out", str(out),
                   "--no-progress"])  # fmt: skip
    assert rc == 0
    messages = [str(w.message) for w in warned]
    assert any("ends before 4 annotated frame(s)" in m for m in messages)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames"] == 23 and metrics["skipped_images"] == 7
    assert metrics["num_gt"]["sign"] == 23 and metrics["video"] == str(damaged_avi)
    rows = list(csv.DictReader((out / "per_frame.csv").open()))
    good = [i for i in range(KEEP_FRAMES) if i not in CORRUPT]
    assert [int(r["frame_index"]) for r in rows] == good
    assert {r["file_name"] for r in rows} == {"damaged.avi"}
    assert [int(r["image_id"]) for r in rows] == [100 + i for i in good]


def test_evaluate_video_ground_truth_errors(model, damaged_avi, tmp_path):
    from keras_lmk.data.validation import DataError
    from keras_lmk.evaluation.evaluate import run

    gt = _per_frame_coco(tmp_path / "gt.json", [0, 1], width=640, height=360)
    with pytest.raises(DataError, match=r"gt.json:image 101: JSON says 640x360, the video is 96x64"):
        run(model, gt, tmp_path / "e", video=damaged_avi, progress=False)
    twice = _per_frame_coco(tmp_path / "twice.json", [0, 1])
    twice.write_text(twice.read_text().replace('"frame_index": 0', '"frame_index": 1'))
    with pytest.raises(DataError, match=r"twice.json:image 100: frame 1 is listed twice"):
        run(model, twice, tmp_path / "e", video=damaged_avi, progress=False)
    assert not (tmp_path / "e" / "metrics.json").exists()
