"""TFLite export: Keras vs fp32 / fp16 / dynamic / int8 numbers per named output, builtin ops only, model
cards with the interpreter's quantization, decoded landmarks of a briefly trained tiny model, CLI report."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from inference_helpers import TINY_SPEC, TINY_TAXONOMY, tiny_keras_model

from keras_lmk.data.records import ImageRecord
from keras_lmk.deploy.inspect import io_details, op_names
from keras_lmk.detector.card import model_card
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.inference.runtime import KerasRunner, LandmarkRuntime

ALLOWED_OPS = {
    "ADD",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MUL",
    "RESHAPE",
    "RESIZE_NEAREST_NEIGHBOR",
    "QUANTIZE",
    "DEQUANTIZE",
    "PAD",
    "CONCATENATION",
    "SUB",
}


def planted_images(root: Path, n: int = 12, size: int = 96, seed: int = 0) -> list[ImageRecord]:
    """Grey images with one saturated red square (class 1, point = its centre) each: a strong signal."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        img = np.full((size, size, 3), 100, np.uint8)
        img += rng.integers(0, 20, img.shape, dtype=np.uint8)
        s = int(rng.integers(20, 32))
        x0, y0 = (int(v) for v in rng.integers(4, size - s - 4, 2))
        img[y0 : y0 + s, x0 : x0 + s] = (235, 20, 20)
        path = root / f"{i:03d}.png"
        cv2.imwrite(str(path), img[..., ::-1])
        box = [x0, y0, x0 + s, y0 + s]
        recs.append(
            ImageRecord(str(path), size, size, [box], [[x0 + s / 2, y0 + s / 2]], [1], image_id=i + 1)
        )
    return recs


def trained_tiny_run(run_dir: Path, steps: int = 40) -> tuple[Path, list[ImageRecord]]:
    """A run directory (model.keras + model_card.json + data/annotations.json) of a tiny model trained for
    ``steps`` steps on planted squares (seconds on a CPU)."""
    import dataclasses

    import keras

    from keras_lmk.data.coco import write_coco
    from keras_lmk.detector.losses import LossConfig
    from keras_lmk.training.pipeline import PipelineConfig, make_dataset
    from keras_lmk.training.trainer import LandmarkTrainer

    recs = planted_images(run_dir / "data")
    write_coco(recs, TINY_TAXONOMY, run_dir / "data" / "annotations.json", image_root=run_dir / "data")
    model = tiny_keras_model(TINY_SPEC)
    pipe = dataclasses.replace(PipelineConfig(), batch_size=6, shuffle_buffer=16)
    ds = make_dataset(recs, TINY_SPEC, pipe, taxonomy=TINY_TAXONOMY, training=True, seed=0).repeat()
    trainer = LandmarkTrainer(model, LossConfig())
    trainer.compile(optimizer=keras.optimizers.Adam(5e-3))
    trainer.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    model.save(run_dir / "model.keras")
    card = model_card(TINY_SPEC, TINY_TAXONOMY, DecoderConfig(score_threshold=0.3))
    (run_dir / "model_card.json").write_text(json.dumps(card))
    return run_dir, recs


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from keras_lmk.export import main

    run_dir, recs = trained_tiny_run(tmp_path_factory.mktemp("run"))
    out = run_dir / "export"
    coco = str(run_dir / "data" / "annotations.json")
    rc = main(
        [
            "--model",
            str(run_dir / "model.keras"),
            "--out",
            str(out),
            "--quant",
            "fp32",
            "fp16",
            "dynamic",
            "int8",
            "--calib-data",
            coco,
            "--calib-steps",
            "8",
            "--eval-data",
            coco,
            "--latency-runs",
            "3",
        ]
    )
    assert rc == 0
    return run_dir, out, recs


def _images(recs, k=3):
    from keras_lmk.data.frames import read_image_rgb

    return [read_image_rgb(r.image_path) for r in recs[:k]]


def test_every_variant_writes_model_and_card(exported):
    _, out, recs = exported
    for q in ("fp32", "fp16", "dynamic", "int8"):
        assert (out / f"model_{q}.tflite").is_file() and (out / f"model_{q}.json").is_file(), q
    report = json.loads((out / "export_report.json").read_text())
    assert [r["quant"] for r in report["rows"]] == ["fp32", "fp16", "dynamic", "int8"]
    keras_map = report["evaluation"]["keras"]["mAP"]
    for r in report["rows"]:
        # the size is the file's, in KB to 0.1; latency numbers: test_measure_latency_is_the_median_invoke
        assert r["size_kb"] == round((out / r["file"]).stat().st_size / 1024, 1)
        assert {"latency_ms_1t", "latency_ms_2t"} <= set(r)
        assert r["mAP"] is not None and "median_error_px" in r
        assert r["mAP_drop_points"] == pytest.approx(round(100 * (keras_map - r["mAP"]), 2), abs=1e-9)
    # fp32 decodes the same landmarks as Keras on every evaluation image (checked against Keras here), so
    # its mAP must equal Keras' exactly
    run_dir = out.parent
    kr, rt = KerasRunner(run_dir / "model.keras"), LandmarkRuntime(out / "model_fp32.tflite")
    for rgb in _images(recs, len(recs)):
        kd, td = kr.predict_frame(rgb), rt.predict_frame(rgb)
        assert td.classes.tolist() == kd.classes.tolist()
        np.testing.assert_allclose(td.points, kd.points, atol=1e-2)
        np.testing.assert_allclose(td.scores, kd.scores, atol=1e-4)
    assert report["rows"][0]["quant"] == "fp32" and report["rows"][0]["mAP"] == keras_map
    assert "| int8 |" in (out / "export_report.md").read_text()
    sizes = {r["quant"]: r["size_kb"] for r in report["rows"]}
    assert sizes["int8"] < sizes["fp32"] and sizes["fp16"] < sizes["fp32"]


def test_fp32_matches_keras_per_named_output(exported):
    run_dir, out, recs = exported
    kr = KerasRunner(run_dir / "model.keras")
    rt = LandmarkRuntime(out / "model_fp32.tflite")
    for rgb in _images(recs):
        kl, kp, _ = kr.infer_frame(rgb)
        tl, tp, _ = rt.infer_frame(rgb)
        np.testing.assert_allclose(tl, kl, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(tp, kp, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("quant,atol", [("fp16", 0.05), ("dynamic", 0.3)])
def test_float_compressed_variants_stay_close(exported, quant, atol):
    run_dir, out, recs = exported
    kr = KerasRunner(run_dir / "model.keras")
    rt = LandmarkRuntime(out / f"model_{quant}.tflite")
    for rgb in _images(recs, 2):
        kl, kp, _ = kr.infer_frame(rgb)
        tl, tp, _ = rt.infer_frame(rgb)
        assert np.abs(tl - kl).max() < atol and np.abs(tp - kp).max() < atol


def test_int8_io_types_and_dequantized_outputs_close(exported):
    run_dir, out, recs = exported
    io = io_details(out / "model_int8.tflite")
    assert io["input"]["dtype"] == "uint8"
    assert io["input"]["quantization"]["scale"] == pytest.approx(1.0, abs=1e-6)
    assert io["input"]["quantization"]["zero_point"] == 0
    kr = KerasRunner(run_dir / "model.keras")
    rt = LandmarkRuntime(out / "model_int8.tflite")
    for rgb in _images(recs):
        kl, kp, _ = kr.infer_frame(rgb)
        tl, tp, _ = rt.infer_frame(rgb)
        for name, k, t in (("class_logits", kl, tl), ("points", kp, tp)):
            o = io["outputs"][name]
            assert o["dtype"] == "int8"
            scale = o["quantization"]["scale"]
            err = np.abs(t - k)
            span = k.max() - k.min()
            # PTQ error: well under a tenth of the output range on average, a quarter at worst
            assert err.mean() < 0.1 * span and err.max() < 0.25 * span + 2 * scale, (name, err.max(), span)


def test_int8_decodes_the_same_landmarks(exported):
    run_dir, out, recs = exported
    kr = KerasRunner(run_dir / "model.keras")
    rt = LandmarkRuntime(out / "model_int8.tflite")
    checked = matched = 0
    for rgb in _images(recs, 6):
        kd, td = kr.predict_frame(rgb), rt.predict_frame(rgb)
        # clear float landmarks (score well above the threshold) are found by int8: same class, within the
        # decoder's merge radius (what the decoder itself counts as one landmark). The 40-step model votes
        # diffusely (confidences ~0.45), so a few merged points move further: require 80 %.
        radius = kr.decoder.merge_radius_px * 96 / 64  # model-input px -> original px
        for c, p, s in zip(kd.classes, kd.points, kd.scores, strict=True):
            if s < kr.decoder.score_threshold + 0.1:
                continue
            checked += 1
            same = td.points[td.classes == c]
            matched += bool(len(same)) and np.linalg.norm(same - p, axis=1).min() < radius
    assert checked >= 2 and matched >= 0.8 * checked, (matched, checked)

    # before the merge: the per-anchor confidence maps (1 - softmax background) agree closely
    def confidence(logits):
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return 1 - e[..., 0] / e.sum(-1)

    for rgb in _images(recs, 2):
        kl, _, _ = kr.infer_frame(rgb)
        tl, _, _ = rt.infer_frame(rgb)
        conf_k, conf_t = confidence(kl), confidence(tl)
        assert np.abs(conf_k - conf_t).max() < 0.1


def test_model_card_lists_interpreter_quantization(exported):
    from ai_edge_litert.interpreter import Interpreter

    _, out, _ = exported
    card = json.loads((out / "model_int8.json").read_text())
    assert card["quantization"] == "int8" and card["grid"] == TINY_SPEC.to_json()
    it = Interpreter(model_path=str(out / "model_int8.tflite"))
    sig = it.get_signature_runner()
    details = {d["index"]: d for d in it.get_output_details()}
    names = it._get_full_signature_list()["serving_default"]["outputs"]
    assert sig is not None
    for o in card["outputs"]:
        d = details[names[o["name"]]]
        assert o["dtype"] == "int8" and o["shape"] == [int(s) for s in d["shape"]]
        assert o["quantization"]["scale"] == pytest.approx(d["quantization"][0])
        assert o["quantization"]["zero_point"] == d["quantization"][1]
        if o["name"] == "points":  # the stated int8 point step is the interpreter's scale, in px x stride
            assert o["resolution"]["cell_units"] == pytest.approx(d["quantization"][0])
            assert o["resolution"]["input_px"] == pytest.approx(d["quantization"][0] * TINY_SPEC.stride)
    fp32 = json.loads((out / "model_fp32.json").read_text())
    assert all(o["quantization"] is None and o["dtype"] == "float32" for o in fp32["outputs"])
    assert all("resolution" not in o for o in fp32["outputs"])


def test_only_builtin_ops(exported):
    _, out, _ = exported
    for q in ("fp32", "fp16", "dynamic", "int8"):
        ops = op_names((out / f"model_{q}.tflite").read_bytes())
        assert set(ops) <= ALLOWED_OPS, (q, ops)


def test_unknown_quant_is_an_error(tmp_path):
    from keras_lmk.export import main

    with pytest.raises(SystemExit):
        main(["--model", "x.keras", "--out", str(tmp_path), "--quant", "int4"])


def test_int8_conversion_prints_no_tensorflow_noise(capfd):
    # export printed TensorFlow's "tf.lite.Interpreter is deprecated ..." warning (its converter calibrates
    # with that interpreter), the converter's "fully_quantize: 0, inference_type: 6, ..." line and LiteRT's
    # delegate notice: none of it is about the user's model
    import warnings

    from keras_lmk.deploy.convert import convert_keras
    from keras_lmk.deploy.inspect import measure_latency

    images = [np.full((1, 64, 64, 3), v, np.float32) for v in (40, 120, 200)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tflite = convert_keras(tiny_keras_model(TINY_SPEC), TINY_SPEC, "int8", images)
        measure_latency(tflite, threads=1, runs=1, warmup=0)
    assert [str(w.message) for w in caught if "deprecated" in str(w.message).lower()] == []
    err = capfd.readouterr().err
    assert "fully_quantize" not in err and "XNNPACK" not in err and "deprecated" not in err.lower(), err
