import json

import numpy as np
import pytest
from inference_helpers import TINY_SPEC, TINY_TAXONOMY, convert_tflite, save_tiny_keras, tiny_keras_model

from keras_lmk.detector.card import ModelCardError, model_card
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.detector.grid import GridSpec
from keras_lmk.inference.runtime import KerasRunner, LandmarkRuntime, open_runner, quantize_input


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("rt")
    keras_path = save_tiny_keras(d)
    import keras

    model = keras.saving.load_model(keras_path, compile=False)
    convert_tflite(model, d / "model.tflite")
    convert_int8_input(model, d / "model_int8.tflite")
    return d


def convert_int8_input(model, path):
    """Full-integer conversion with an int8 input calibrated on pixels 0..510: input scale 2, zero point
    -128, so a slip in the input quantisation shows (the export's uint8 input has scale 1, zero point 0)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)

    def rep():
        rng = np.random.default_rng(0)
        for _ in range(4):
            x = rng.uniform(0, 510, (1, TINY_SPEC.input_height, TINY_SPEC.input_width, 3)).astype(np.float32)
            x[0, 0, 0], x[0, -1, -1] = 0.0, 510.0
            yield [x]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def frame(seed=0, h=48, w=80):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_float_tflite_matches_keras(models):
    kr = open_runner(models / "model.keras")
    rt = open_runner(models / "model.tflite")  # card found as model_card.json
    assert isinstance(kr, KerasRunner) and isinstance(rt, LandmarkRuntime)
    assert rt.spec == TINY_SPEC and rt.taxonomy.names == TINY_TAXONOMY.names
    img = frame()
    lk, pk, lb = kr.infer_frame(img)
    lt, pt, _ = rt.infer_frame(img)
    assert lk.shape == (TINY_SPEC.num_cells, 2, 3) and pk.shape == (TINY_SPEC.num_cells, 2, 2)
    np.testing.assert_allclose(lt, lk, atol=1e-3)
    np.testing.assert_allclose(pt, pk, atol=1e-3)
    low = DecoderConfig(score_threshold=0.01)
    dk = kr.decode(lk, pk, lb, (80, 48), low)
    dt = rt.decode(lt, pt, lb, (80, 48), low)
    assert len(dk) > 0 and len(dk) == len(dt)
    np.testing.assert_allclose(dt.points, dk.points, atol=1e-2)
    d = rt.predict_frame(img)
    assert (d.points[:, 0] <= 80).all() and (d.points[:, 1] <= 48).all()


def test_int8_tflite_dequantises_with_its_own_parameters(models):
    rt = LandmarkRuntime(models / "model_int8.tflite", models / "model_card.json")
    assert rt.input_detail["dtype"] == np.int8
    assert rt.logits_detail["dtype"] == np.int8 and rt.logits_detail["quantization"][0] > 0
    kr = KerasRunner(models / "model.keras")
    img = frame(1)
    lk, pk, _ = kr.infer_frame(img)
    lt, pt, _ = rt.infer_frame(img)
    scale_l = rt.logits_detail["quantization"][0]
    # int8 error: a few quantisation steps of the outputs
    assert np.abs(lt - lk).mean() < 4 * scale_l + 0.05
    assert np.abs(pt - pk).mean() < 0.1


def test_quantize_input_uses_tensor_parameters():
    det = {"name": "image", "dtype": np.int8, "quantization": (1.0, -128), "quantization_parameters": {}}
    assert quantize_input(np.array([0.0, 255.0]), det).tolist() == [-128, 127]
    det = {"name": "image", "dtype": np.uint8, "quantization": (2.0, 0)}
    assert quantize_input(np.array([0.0, 255.0]), det).tolist() == [0, 128]
    assert quantize_input(np.array([3.0]), {"dtype": np.float32}).dtype == np.float32


def test_missing_or_mismatched_card_is_a_clear_error(models, tmp_path):
    lone = tmp_path / "lone.tflite"
    lone.write_bytes((models / "model.tflite").read_bytes())
    with pytest.raises(ModelCardError, match="no model card"):
        LandmarkRuntime(lone)
    other = GridSpec(input_height=64, input_width=128, stride=8, anchors=TINY_SPEC.anchors, num_classes=3)
    (tmp_path / "lone.json").write_text(json.dumps(model_card(other, TINY_TAXONOMY)))
    with pytest.raises(ModelCardError, match="input shape"):
        LandmarkRuntime(lone)
    other = GridSpec(64, 64, 8, ((0.5, 0.5),), 3)  # one anchor: outputs do not match
    (tmp_path / "lone.json").write_text(json.dumps(model_card(other, TINY_TAXONOMY)))
    with pytest.raises(ModelCardError, match="expects"):
        LandmarkRuntime(lone)
    (tmp_path / "lone.json").write_text("{")
    with pytest.raises(ModelCardError, match="invalid JSON"):
        LandmarkRuntime(lone)
    with pytest.raises(ValueError, match=".tflite or .keras"):
        open_runner(tmp_path / "x.onnx")


def test_keras_runner_with_in_memory_model_and_card():
    model = tiny_keras_model()
    kr = KerasRunner("mem.keras", model_card(TINY_SPEC, TINY_TAXONOMY), model=model)
    dets = kr.predict_frame(frame(2, 64, 64))
    assert dets.points.shape[1] == 2 and np.isfinite(dets.points).all()


def _detail(dtype, scale, zero_point):
    """An input tensor detail as the interpreter reports it (per-tensor parameters in both places)."""
    return {
        "name": "image",
        "dtype": dtype,
        "quantization": (scale, zero_point),
        "quantization_parameters": {
            "scales": np.array([scale], np.float32),
            "zero_points": np.array([zero_point], np.int32),
            "quantized_dimension": 0,
        },
    }


def test_quantize_input_with_scale_and_nonzero_zero_point_by_hand():
    """q = clip(round(x / scale + zero_point)) into the dtype's range (TFLite: real = (q - zp) * scale);
    values chosen away from rounding ties."""
    # int8, scale 2, zero point -128 (an input calibrated to [0, 510]): 0 -> -128; 5.2 -> -125.4 -> -125;
    # 100 -> -78; 254 -> -1; 600 -> 172 -> clipped to 127
    x = np.array([0.0, 5.2, 100.0, 254.0, 600.0])
    got = quantize_input(x, _detail(np.int8, 2.0, -128))
    assert got.dtype == np.int8 and got.tolist() == [-128, -125, -78, -1, 127]
    # uint8, scale 0.5, zero point 10: q = 2x + 10; -20 -> -30 -> clipped to 0; 50.3 -> 110.6 -> 111;
    # 200 -> 410 -> clipped to 255
    x = np.array([-20.0, 0.0, 3.0, 50.3, 122.0, 200.0])
    got = quantize_input(x, _detail(np.uint8, 0.5, 10))
    assert got.dtype == np.uint8 and got.tolist() == [0, 10, 16, 111, 254, 255]
    # the legacy (scale, zero point) pair alone gives the same
    legacy = {"name": "image", "dtype": np.int8, "quantization": (2.0, -128)}
    assert quantize_input(np.array([0.0, 100.0]), legacy).tolist() == [-128, -78]


def test_int8_input_with_nonzero_zero_point_is_fed_as_hand_quantised(models):
    """A real int8-input model (scale 2, zero point -128): the runtime's outputs equal the interpreter run by
    hand on q = x / 2 - 128 (even pixels: no rounding ties), dequantised by hand, and stay near Keras."""
    from ai_edge_litert.interpreter import Interpreter

    rt = LandmarkRuntime(models / "model_int8.tflite", models / "model_card.json")
    scale, zp = rt.input_detail["quantization"]
    assert rt.input_detail["dtype"] == np.int8
    assert scale == pytest.approx(2.0, rel=1e-6) and zp == -128
    img = frame(3, 64, 64) // 2 * 2  # the input size: the letterbox is the identity
    lt, pt, _ = rt.infer_frame(img)

    it = Interpreter(model_path=str(models / "model_int8.tflite"))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], (img.astype(np.int16) // 2 - 128).astype(np.int8)[None])
    it.invoke()
    by_index = {d["index"]: d for d in it.get_output_details()}
    hand = {}
    for name, idx in it._get_full_signature_list()["serving_default"]["outputs"].items():
        s, z = by_index[idx]["quantization"]
        hand["points" if "points" in name else "class_logits"] = (
            it.get_tensor(idx).astype(np.float32) - z
        ) * s
    np.testing.assert_allclose(lt, hand["class_logits"].reshape(lt.shape), atol=1e-6)
    np.testing.assert_allclose(pt, hand["points"].reshape(pt.shape), atol=1e-6)
    # and close to the float Keras model (PTQ error)
    lk, pk, _ = KerasRunner(models / "model.keras").infer_frame(img)
    assert np.abs(lt - lk).mean() < 0.1 * (lk.max() - lk.min())
    assert np.abs(pt - pk).mean() < 0.1 * (pk.max() - pk.min())


def test_a_threshold_given_on_the_command_line_replaces_the_per_class_ones():
    from keras_lmk.detector.decode import DecoderConfig
    from keras_lmk.inference.runtime import with_threshold

    card = DecoderConfig(score_threshold=0.8, class_score_thresholds=(None, 0.95, 0.7))
    assert with_threshold(card, None) is card
    one = with_threshold(card, 0.4)
    assert one.class_thresholds(3).tolist() == [0.4, 0.4, 0.4]
