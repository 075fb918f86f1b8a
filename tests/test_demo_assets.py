"""The mobile-kit command line (python -m keras_lmk.demo_assets) builds a consistent kit from a tiny hand-made
run directory; the committed kit's goldens are checked in test_demo_kit.py."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from inference_helpers import TINY_SPEC, TINY_TAXONOMY, tiny_keras_model
from test_export import planted_images

from keras_lmk.demo_assets import main as demo_assets_main
from keras_lmk.deploy import demo_kit
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.detector.model import ModelConfig


def tiny_run_dir(d: Path) -> Path:
    """model.keras + model_card.json + config.yaml (COCO source of planted squares), no training."""
    from keras_lmk.data.coco import write_coco
    from keras_lmk.detector.card import model_card
    from keras_lmk.training.config import resolve_config
    from keras_lmk.training.config_io import to_dict

    recs = planted_images(d / "data", n=6)
    write_coco(recs, TINY_TAXONOMY, d / "data" / "annotations.json", image_root=d / "data")
    (d / "tiny_taxonomy.json").write_text(json.dumps(TINY_TAXONOMY.to_json()))
    cfg = resolve_config("debug")
    cfg = dataclasses.replace(
        cfg,
        grid=TINY_SPEC,
        model=ModelConfig(width=0.25, head_channels=8, head_depth=0),  # tiny_keras_model's architecture
        decoder=DecoderConfig(score_threshold=0.3),
        data=dataclasses.replace(
            cfg.data,
            source="coco",
            coco_json=str(d / "data" / "annotations.json"),
            taxonomy=str(d / "tiny_taxonomy.json"),
            val_fraction=0.5,
            gtsdb_dir=str(d / "no_gtsdb"),
        ),
    )
    (d / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    (d / "model_card.json").write_text(json.dumps(model_card(cfg.grid, TINY_TAXONOMY, cfg.decoder)))
    tiny_keras_model().save(d / "model.keras")
    return d


def found_and_other(landmarks: list[dict], truth: list[dict], radius: float = 10.0) -> tuple[int, int]:
    """By hand, for frames of one labelled landmark each (the planted squares): (1 if a detection of its class
    lies within ``radius`` px of it, else 0; the other detections)."""
    (gt,) = truth
    near = [
        d
        for d in landmarks
        if d["class_id"] == gt["class_id"] and np.hypot(d["x"] - gt["x"], d["y"] - gt["y"]) <= radius
    ]
    return int(bool(near)), len(landmarks) - bool(near)


def assert_samples_follow_the_rule(run: Path, kit: Path, count: int):
    """The kit's validation samples are the frames its model shows best: run the kit's model on every
    validation frame of the run, judge each by hand, rank by (other detections, split order) among those
    that show their landmark, and compare with the samples and what their expected.json says. Returns how
    many frames show their landmark."""
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.data.sources import load_source_splits
    from keras_lmk.deploy.convert import run_config
    from keras_lmk.inference.runtime import LandmarkRuntime

    rt = LandmarkRuntime(kit / "model_int8.tflite", num_threads=1)
    _, val = load_source_splits(run_config(run).data, TINY_TAXONOMY)["coco"]  # in the split's order
    judged = []
    for i, r in enumerate(val):
        got = demo_kit.detections_json(rt.predict_frame(read_image_rgb(r.image_path)), TINY_TAXONOMY)
        (c,), ((x, y),) = r.classes, r.points  # one planted square each
        truth = [{"class_id": int(c), "x": float(x), "y": float(y)}]
        found, other = found_and_other(got, truth)
        if found:
            judged.append((other, i))
    shown = [i for _, i in sorted(judged)[:count]]
    want = [val[i] for i in shown + [i for i in range(len(val)) if i not in shown][: count - len(shown)]]
    for k, r in enumerate(want):
        exp = json.loads((kit / "samples" / f"sample_{k}_coco.expected.json").read_text())
        rgb = read_image_rgb(kit / "samples" / exp["image"])
        np.testing.assert_array_equal(rgb, read_image_rgb(r.image_path))
        assert exp["chosen"]["found"] == found_and_other(exp["landmarks"], exp["ground_truth"])[0]
    return len(judged)


def test_demo_assets_build_and_check(tmp_path):
    run = tiny_run_dir(tmp_path / "run")
    out = tmp_path / "kit"
    assert (
        demo_assets_main(
            ["--run", str(run), "--out", str(out), "--samples", "2", "--calib-steps", "4", "--side-balanced"]
        )
        == 0
    )
    assert (out / "labels.txt").read_text().split() == TINY_TAXONOMY.names
    card = json.loads((out / "model_int8.json").read_text())
    assert card["decoder"]["side_balanced_classes"] == [2]  # the lower-right rule's class, not the centre's
    assert card["input"]["dtype"] == "uint8" and card["input"]["quantization"]["scale"] == pytest.approx(1.0)
    assert card["grid_stride"] == 8 and card["anchor_positions"] == [list(a) for a in TINY_SPEC.anchors]
    assert [o["name"] for o in card["outputs"]] == ["class_logits", "points"]
    assert all(o["dtype"] == "int8" and o["quantization"]["scale"] > 0 for o in card["outputs"])
    assert [c["point_rule"] for c in card["taxonomy"]["classes"]] == [
        None,
        "bbox_center",
        "bbox_bottom_right",
    ]
    samples = sorted((out / "samples").glob("*.expected.json"))
    # two validation frames, then the phone frame made from the first; goldens of the first and the phone's
    assert [p.name.split(".")[0] for p in samples] == [
        "sample_0_coco",
        "sample_1_coco",
        "sample_2_coco_1920x1080",
    ]
    assert len(list((out / "golden").glob("*.npy"))) == 6
    assert demo_kit.check(out) == []
    # the untrained model votes for the square's class nearly everywhere: frames show their square with
    # different numbers of other detections, so the ranking is exercised
    assert assert_samples_follow_the_rule(run, out, count=2) >= 2
    # the check notices a changed golden tensor
    g = next((out / "golden").glob("*_points.npy"))
    raw = np.load(g)
    raw.flat[0] = np.int8(raw.flat[0] + 5 if raw.flat[0] < 100 else raw.flat[0] - 5)
    np.save(g, raw)
    assert any("raw points" in p for p in demo_kit.check(out))


def test_demo_assets_goldens_cover_a_phone_frame_shrunk_into_the_input(tmp_path):
    # At an input of 192x128 the validation images (here 96x96) are enlarged (scale 4/3); the kit adds a
    # 1920x1080 frame made from its first sample, with goldens: 1920x1080 -> 192x128 is scale
    # min(192 / 1920, 128 / 1080) = 1/10 < 1, 1080 / 10 = 108 rows, (128 - 108) / 2 = 10 grey rows above
    # and below, the area filter (section 1 of android_demo_assets/README.md). The shipped 1664x992 takes
    # the same path (scale 13/15); a small input keeps the test fast.
    import cv2

    run = tiny_run_dir(tmp_path / "run")
    out = tmp_path / "kit"
    argv = ["--run", str(run), "--out", str(out), "--samples", "1", "--calib-steps", "2"]
    assert demo_assets_main([*argv, "--input-size", "192x128"]) == 0
    goldens = [
        e
        for p in sorted((out / "samples").glob("*.expected.json"))
        if "golden_tensors" in (e := json.loads(p.read_text()))
    ]
    assert [e["letterbox"]["scale"] > 1 for e in goldens] == [True, False]  # one enlarged, one shrunk
    phone = goldens[1]
    assert (phone["image"], phone["width"], phone["height"]) == ("sample_1_coco_1920x1080.png", 1920, 1080)
    assert phone["letterbox"] == {"scale": pytest.approx(1 / 10), "pad_x": 0, "pad_y": 10}
    x = np.load(out / phone["golden_tensors"]["input"])
    assert x.shape == (128, 192, 3) and (x[:10] == 114).all() and (x[118:] == 114).all()
    frame = cv2.imread(str(out / "samples" / phone["image"]))
    np.testing.assert_array_equal(
        x[10:118],
        cv2.cvtColor(cv2.resize(frame, (192, 108), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB),
    )
    # made from the first sample: its 96 x 54 centre (96 * 9 / 16 rows from row 21), x 20 (bilinear)
    first = cv2.imread(str(out / "samples" / goldens[0]["image"]))
    np.testing.assert_array_equal(
        frame, cv2.resize(first[21:75], (1920, 1080), interpolation=cv2.INTER_LINEAR)
    )
    want = [
        {**g, "x": g["x"] * 20, "y": (g["y"] - 21) * 20}
        for g in goldens[0]["ground_truth"]
        if 21 <= g["y"] <= 75
    ]
    assert phone["ground_truth"] == [
        {**g, "x": pytest.approx(g["x"]), "y": pytest.approx(g["y"])} for g in want
    ]
    assert demo_kit.check(out) == []


def test_demo_assets_input_size_deploys_the_weights_at_another_size(tmp_path):
    # --input-size: the same weights in a model built for 96x64 (the run's is 64x64): the interpreter's
    # input and outputs have that size's shapes (S = 64/8 * 96/8 = 96 cells), the card says so, the goldens
    # reproduce
    from ai_edge_litert.interpreter import Interpreter

    run = tiny_run_dir(tmp_path / "run")
    out = tmp_path / "kit"
    argv = [
        "--run",
        str(run),
        "--out",
        str(out),
        "--samples",
        "1",
        "--calib-steps",
        "4",
        "--input-size",
        "96x64",
    ]
    assert demo_assets_main(argv) == 0
    interp = Interpreter(model_path=str(out / "model_int8.tflite"))
    assert list(interp.get_input_details()[0]["shape"]) == [1, 64, 96, 3]
    assert sorted(tuple(o["shape"]) for o in interp.get_output_details()) == [(1, 96, 2, 2), (1, 96, 2, 3)]
    card = json.loads((out / "model_int8.json").read_text())
    assert (card["input"]["height"], card["input"]["width"]) == (64, 96)
    assert (card["grid"]["input_height"], card["grid"]["input_width"]) == (64, 96)
    assert {o["name"]: o["shape"][1] for o in card["outputs"]} == {"class_logits": 96, "points": 96}
    assert np.load(next((out / "golden").glob("*_input.npy"))).shape == (64, 96, 3)
    assert demo_kit.check(out) == []


@pytest.mark.parametrize("size", ["96", "96x60", "0x64"])
def test_demo_assets_bad_input_size_exits_2(tmp_path, size, capsys):
    run = tiny_run_dir(tmp_path / "run")
    try:  # a malformed size is argparse's error, one off the stride the grid's
        code = demo_assets_main(["--run", str(run), "--out", str(tmp_path / "kit"), "--input-size", size])
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert size in capsys.readouterr().err


def test_demo_assets_one_fixed_threshold_and_merge_across_classes(tmp_path):
    run = tiny_run_dir(tmp_path / "run")
    card = json.loads((run / "model_card.json").read_text())
    card["decoder"]["class_score_thresholds"] = [None, 0.9, 0.8]  # a run card calibrated per class
    (run / "model_card.json").write_text(json.dumps(card))
    out = tmp_path / "kit"
    argv = ["--run", str(run), "--out", str(out), "--samples", "1", "--calib-steps", "4"]
    flags = ["--merge-across-classes", "--score-threshold", "0.45", "--suppress-radius", "16"]
    assert demo_assets_main([*argv, *flags]) == 0
    dec = json.loads((out / "model_int8.json").read_text())["decoder"]
    assert dec["merge_across_classes"] is True and dec["score_threshold"] == 0.45
    assert dec["suppress_radius_px"] == 16.0
    assert "class_score_thresholds" not in dec  # one threshold for every class
    assert demo_kit.check(out) == []


def test_demo_assets_fixed_threshold_and_calibration_exclude_each_other(tmp_path, capsys):
    run = tiny_run_dir(tmp_path / "run")
    argv = ["--run", str(run), "--out", str(tmp_path / "kit"), "--score-threshold", "0.5"]
    assert demo_assets_main([*argv, "--calibrate-on", str(run / "data" / "annotations.json")]) == 2
    assert "exclude" in capsys.readouterr().err
    assert demo_assets_main([*argv[:4], "--score-threshold", "1.5"]) == 2
