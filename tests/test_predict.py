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
