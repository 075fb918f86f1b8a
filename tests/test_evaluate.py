import csv
import json

import cv2
import numpy as np
import pytest
from inference_helpers import save_tiny_keras

from keras_lmk.evaluate import main
from keras_lmk.evaluation.evaluate import run


def write_fixture(root):
    """3 images, signs and a road marking; no signal class in the tiny taxonomy is unlabelled here."""
    images, anns = [], []
    rng = np.random.default_rng(0)
    boxes = {1: [[10, 10, 30, 30]], 2: [[40, 20, 60, 44], [5, 5, 15, 15]], 3: []}
    for i in (1, 2, 3):
        name = f"img/{i:03d}.jpg"
        (root / "img").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
        images.append({"id": i, "file_name": name, "width": 80, "height": 60})
        for b in boxes[i]:
            x0, y0, x1, y1 = b
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                    "keypoints": [(x0 + x1) / 2, (y0 + y1) / 2, 2],
                    "num_keypoints": 1,
                }
            )
    coco = {
        "images": images,
        "annotations": anns,
        "categories": [
            {"id": 1, "name": "sign", "keypoints": ["reference_point"], "skeleton": []},
            {"id": 2, "name": "road_marking", "keypoints": ["reference_point"], "skeleton": []},
        ],
    }
    (root / "val.json").write_text(json.dumps(coco))
    return root / "val.json"


def test_evaluate_coco_end_to_end(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    data = write_fixture(tmp_path / "data")
    out = tmp_path / "eval"
    rc = main(
        [
            "--model",
            str(model),
            "--data",
            str(data),
            "--out",
            str(out),
            "--score-threshold",
            "0.3",
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames"] == 3 and m["num_gt"] == {"sign": 3, "road_marking": 0}
    assert m["unlabelled_classes"] == ["road_marking"]
    assert set(m["tolerances"]) == {"adaptive", "2px", "4px", "8px", "10px", "16px"}
    sign = m["tolerances"]["adaptive"]["per_class"]["sign"]
    assert sign["num_gt"] == 3 and 0.0 <= sign["AP"] <= 1.0
    assert m["frames_per_s"] > 0 and np.array(m["confusion"]["matrix"]).shape == (3, 3)
    assert np.array(m["confusion"]["matrix"])[0, 2] == 0  # unlabelled predictions are not background FPs
    for png in ("pr_curves.png", "point_errors.png", "confusion.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "per_frame.csv").open()))
    assert [int(r["num_gt"]) for r in rows] == [1, 2, 0]
    assert "mAP" in capsys.readouterr().out


def test_evaluate_synthetic_drive_dir_and_errors(tmp_path):
    model = save_tiny_keras(tmp_path / "run")
    drive = tmp_path / "drive"
    write_fixture(drive)
    (drive / "val.json").rename(drive / "annotations.json")
    with pytest.raises(FileNotFoundError, match="map.json"):
        run(model, drive, tmp_path / "e", progress=False)
    for f in ("map.json", "camera.json", "poses.json"):
        (drive / f).write_text("{}")
    s = run(model, drive, tmp_path / "e", progress=False, score_threshold=0.2)
    assert s["frames"] == 3 and s["operating_threshold"] == 0.2
    with pytest.raises(FileNotFoundError, match="nope.json"):
        run(model, tmp_path / "nope.json", tmp_path / "e", progress=False)


def test_failed_evaluation_keeps_the_previous_results(tmp_path):
    """per_frame.csv is streamed to a temporary file: a run that fails part-way leaves the last complete
    results as they were and no temporary file behind."""
    model = save_tiny_keras(tmp_path / "run")
    data = write_fixture(tmp_path / "data")
    out = tmp_path / "eval"
    run(model, data, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for jpg in (tmp_path / "data" / "img").glob("*.jpg"):
        jpg.write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="unreadable"), pytest.raises(ValueError, match="no readable images"):
        run(model, data, out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert "per_frame.csv" in before and "metrics.json" in before


def test_drive_folder_with_a_video_instead_of_images(tmp_path):
    """A recorded drive: annotations.json (one image entry per frame, in order) beside one video."""
    import shutil

    model = save_tiny_keras(tmp_path / "run")
    drive = tmp_path / "drive"
    write_fixture(drive)
    (drive / "val.json").rename(drive / "annotations.json")
    for f in ("map.json", "camera.json", "poses.json"):
        (drive / f).write_text("{}")
    writer = cv2.VideoWriter(str(drive / "drive.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 60))
    for i in (1, 2, 3):
        writer.write(cv2.imread(str(drive / "img" / f"{i:03d}.jpg")))
    writer.release()
    shutil.rmtree(drive / "img")
    s = run(model, drive, tmp_path / "e", progress=False, score_threshold=0.2)
    assert s["frames"] == 3 and s["skipped_images"] == 0 and s["video"] == str(drive / "drive.avi")
    rows = list(csv.DictReader((tmp_path / "e" / "per_frame.csv").open()))
    assert [(int(r["frame_index"]), int(r["num_gt"])) for r in rows] == [(0, 1), (1, 2), (2, 0)]


def test_evaluate_track_needs_landmark_ids_and_reports_tracking(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    data = write_fixture(tmp_path / "data")
    args = [
        "--model",
        str(model),
        "--input",
        str(data),
        "--score-threshold",
        "0.05",
        "--no-progress",
        "--track",
    ]
    assert main([*args, "--out", str(tmp_path / "e1")]) == 2
    assert "--track needs a landmark id" in capsys.readouterr().err
    coco = json.loads(data.read_text())
    for k, ann in enumerate(coco["annotations"]):  # three landmarks, ids 7, 8, 9
        ann["landmark_id"] = [7, 8, 9][k]
    data.write_text(json.dumps(coco))
    assert main([*args, "--out", str(tmp_path / "e2")]) == 0
    t = json.loads((tmp_path / "e2" / "metrics.json").read_text())["tracking"]
    assert (t["tracks"]["frames"], t["tracks"]["gt_landmark_frames"], t["tracks"]["landmarks"]) == (3, 3, 3)
    assert t["tracker"]["min_hits"] == 2 and set(t["detections"]) >= {"recall", "precision", "point_error_px"}
    assert "tracks (within 8 px)" in capsys.readouterr().out


def test_calibrate_writes_the_best_f1_threshold_into_the_card_beside_the_model(tmp_path, capsys):
    model = save_tiny_keras(tmp_path / "run")
    val = write_fixture(tmp_path)
    argv = ["--model", str(model), "--input", str(val), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "e"), "--calibrate"]) == 0
    best = json.loads((tmp_path / "e" / "metrics.json").read_text())["best_f1"]
    card = json.loads((tmp_path / "run" / "model_card.json").read_text())
    assert card["decoder"]["score_threshold"] == best["threshold"] != 0.3
    assert f"wrote {tmp_path / 'run' / 'model_card.json'}: score_threshold" in capsys.readouterr().out
    # evaluating again at the card's new threshold gives that best F1
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["tolerances"]["adaptive"]["f1"] == pytest.approx(best["f1"])


def test_the_curve_decode_cut_at_the_operating_thresholds_is_the_operating_decode():
    """Calibration reads thresholds off the curve decode; with a vote threshold, cutting that decode at any
    per-class thresholds must give exactly what the decoder outputs when it runs at them."""
    from keras_lmk.detector.decode import DecoderConfig, decode
    from keras_lmk.detector.grid import GridSpec
    from keras_lmk.detector.letterbox import Letterbox
    from keras_lmk.evaluation.evaluate import curve_config

    spec = GridSpec(64, 96, 8, num_classes=4)
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2.5, (spec.num_cells, spec.num_anchors, 4)).astype(np.float32)
    logits[..., 0] += 3.0  # mostly background, so the 100-detection cap is not reached
    points = rng.uniform(-0.5, 1.5, (spec.num_cells, spec.num_anchors, 2)).astype(np.float32)
    lb = Letterbox(1.0, 0, 0)
    op = DecoderConfig(score_threshold=0.6, class_score_thresholds=(None, 0.8, None, 0.7), vote_threshold=0.3)
    curve_cfg = curve_config(op, 0.05, 4)
    assert curve_cfg.score_threshold == 0.3  # the curve starts at the vote gate, not at 0.05
    curve = decode(logits, points, spec, lb, curve_cfg)
    want = decode(logits, points, spec, lb, op)
    keep = curve.scores >= np.array([0.0, 0.8, 0.6, 0.7])[curve.classes]
    assert 0 < len(want) < len(curve)
    np.testing.assert_array_equal(curve.classes[keep], want.classes)
    np.testing.assert_allclose(curve.points[keep], want.points, atol=1e-5)
    # a card without a vote threshold: the curve goes down to curve_threshold as before
    assert (
        curve_config(DecoderConfig(score_threshold=0.6, vote_threshold=None), 0.05, 4).score_threshold == 0.05
    )
