import json

import cv2
import numpy as np
import pytest
from inference_helpers import save_tiny_keras
from test_frames import write_video

from keras_lmk.predict import main


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
    # a folder as --out used to fail only at the end, when the finished JSON could not replace it
    rc = main(["--model", str(model), "--input", str(tmp_path / "none"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {tmp_path}: is a folder; --out wants a JSON file name" in err


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


def test_predict_track_gives_stable_ids_on_a_still_video(tmp_path, capsys):
    # four identical frames: the tiny model votes the same way in each, so every landmark it reports from
    # the second frame on (min_hits 2) keeps its track id, and its point is one of the frame's own
    # detections (alpha 1: no filtering)
    model = save_tiny_keras(tmp_path / "run")
    frame = np.random.default_rng(3).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    w = cv2.VideoWriter(str(tmp_path / "still.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for _ in range(4):
        w.write(frame)
    w.release()
    common = ["--model", str(model), "--input", str(tmp_path / "still.avi"), "--score-threshold", "0.05"]
    assert main([*common, "--out", str(tmp_path / "raw.json"), "--no-progress"]) == 0
    assert main([*common, "--out", str(tmp_path / "trk.json"), "--no-progress", "--track"]) == 0
    raw, trk = (json.loads((tmp_path / f).read_text()) for f in ("raw.json", "trk.json"))
    assert trk and all(isinstance(p["track_id"], int) for p in trk) and not any("track_id" in p for p in raw)
    assert {p["image_id"] for p in trk} == {1, 2, 3}
    ids = [sorted(p["track_id"] for p in trk if p["image_id"] == i) for i in (1, 2, 3)]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == len(ids[0])
    for p in trk:
        same_frame = [q["keypoints"] for q in raw if q["image_id"] == p["image_id"]]
        assert p["keypoints"] in same_frame
    assert "tracks" in capsys.readouterr().out


def test_predict_track_rejects_a_bad_setting(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    rc = main(["--model", str(model), "--input", str(tmp_path), "--out", str(tmp_path / "p.json"), "--track",
               "--track-alpha", "0"])  # fmt: skip
    assert rc == 2 and "alpha=0" in capsys.readouterr().err


class _ScriptedRunner:
    """Stands in for a model: frame k's detections are ``script[k]`` ([(class, x, y, score), ...])."""

    def __init__(self, script):
        from inference_helpers import TINY_TAXONOMY

        from keras_lmk.detector.decode import DecoderConfig

        self.script, self.k = script, 0
        self.taxonomy, self.decoder = TINY_TAXONOMY, DecoderConfig()

    def predict_frame(self, rgb):
        from keras_lmk.detector.decode import Detections

        dets = self.script[self.k]
        self.k += 1
        return Detections(
            np.int32([d[0] for d in dets]).reshape(-1),
            np.float32([d[1:3] for d in dets]).reshape(-1, 2),
            np.float32([d[3] for d in dets]).reshape(-1),
        )


def _frames(folder, n):
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((64, 96, 3), 90, np.uint8))
    return folder


def test_predict_track_counts_the_tracks_its_json_holds_and_lists_every_frame(tmp_path, monkeypatch):
    # frame 0: landmark A at (20, 20) and a one-frame false detection B at (70, 40); frame 1: A again;
    # frames 2-3: nothing. With min_hits 2 only A is ever reported (from frame 1): one track in the JSON, so
    # the summary says 1 track (it said 2: B's track was started, never confirmed, never written)
    import keras_lmk.inference.predict as lib
    from keras_lmk.inference.tracking import TrackerConfig

    a, b = (1, 20.0, 20.0, 0.9), (1, 70.0, 40.0, 0.8)
    monkeypatch.setattr(lib, "open_runner", lambda *_, **__: _ScriptedRunner([[a, b], [a], [], []]))
    out = tmp_path / "p.json"
    summary = lib.run("m.tflite", _frames(tmp_path / "imgs", 4), out, progress=False, track=TrackerConfig())
    preds = json.loads(out.read_text())
    assert [(p["image_id"], p["track_id"]) for p in preds] == [(1, 0)]
    assert summary["tracks"] == 1 and summary["detections"] == 1
    # every processed frame is listed, the empty ones with 0 landmarks: an empty frame is not a skipped one
    frames = json.loads((tmp_path / "p.frames.json").read_text())
    assert frames == [
        {"image_id": i, "file_name": f"{i}.png", "landmarks": n} for i, n in enumerate([0, 1, 0, 0])
    ]


def test_a_failed_predict_leaves_no_output_or_render_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    model = save_tiny_keras(tmp_path / "run")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0.jpg").write_bytes(b"not an image")
    new = tmp_path / "new"
    with pytest.warns(UserWarning, match="unreadable"):
        rc = main(["--model", str(model), "--input", str(bad), "--out", str(new / "p.json"),
                   "--render", str(new / "rendered"), "--no-progress"])  # fmt: skip
    assert rc == 2 and "unreadable" in capsys.readouterr().err
    assert not new.exists()
