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
