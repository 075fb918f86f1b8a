import json

import numpy as np
import pytest
from inference_helpers import TINY_SPEC, TINY_TAXONOMY, convert_tflite, save_tiny_keras, tiny_keras_model

from keras_lmk.decode import DecoderConfig
from keras_lmk.grid import GridSpec
from keras_lmk.runtime import (
    KerasRunner,
    LandmarkRuntime,
    ModelCardError,
    make_model_card,
    open_runner,
    quantize_input,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("rt")
    keras_path = save_tiny_keras(d)
    import keras

    model = keras.saving.load_model(keras_path, compile=False)
    convert_tflite(model, d / "model.tflite")
    convert_tflite(model, d / "model_int8.tflite", int8=True)
    return d


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
    assert rt.input_detail["dtype"] == np.uint8
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
    (tmp_path / "lone.json").write_text(json.dumps(make_model_card(other, TINY_TAXONOMY)))
    with pytest.raises(ModelCardError, match="input shape"):
        LandmarkRuntime(lone)
    other = GridSpec(64, 64, 8, ((0.5, 0.5),), 3)  # one anchor: outputs do not match
    (tmp_path / "lone.json").write_text(json.dumps(make_model_card(other, TINY_TAXONOMY)))
    with pytest.raises(ModelCardError, match="expects"):
        LandmarkRuntime(lone)
    (tmp_path / "lone.json").write_text("{")
    with pytest.raises(ModelCardError, match="invalid JSON"):
        LandmarkRuntime(lone)
    with pytest.raises(ValueError, match=".tflite or .keras"):
        open_runner(tmp_path / "x.onnx")


def test_keras_runner_with_in_memory_model_and_card():
    model = tiny_keras_model()
    kr = KerasRunner("mem.keras", make_model_card(TINY_SPEC, TINY_TAXONOMY), model=model)
    dets = kr.predict_frame(frame(2, 64, 64))
    assert dets.points.shape[1] == 2 and np.isfinite(dets.points).all()
