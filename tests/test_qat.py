"""QAT: tfmot refuses Keras 3 models; the tf_keras twin equals the Keras 3 model; QAT runs end to end on a
tiny model and gives an int8 file that keras_lmk.inference.runtime runs."""

import json

import numpy as np
import pytest
from inference_helpers import TINY_SPEC, TINY_TAXONOMY, tiny_keras_model
from test_export import ALLOWED_OPS, planted_images

from keras_lmk.deploy import qat
from keras_lmk.deploy.export_lib import export_card
from keras_lmk.deploy.inspect import io_details, op_names
from keras_lmk.detector.card import model_card
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.inference.runtime import LandmarkRuntime


def test_quantize_model_rejects_keras3_models():
    import tensorflow_model_optimization as tfmot

    with pytest.raises(ValueError, match="Sequential or Functional"):
        tfmot.quantization.keras.quantize_model(tiny_keras_model())


def test_twin_equals_keras3_model():
    model = tiny_keras_model(seed=3)
    twin = qat.build_twin(model)
    assert [layer.name for layer in twin.layers if layer.weights] == [
        layer.name for layer in model.layers if layer.weights
    ]
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    ref = model(x, training=False)
    logits, points = twin(x, training=False)
    np.testing.assert_allclose(logits.numpy(), np.asarray(ref["class_logits"]), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(points.numpy(), np.asarray(ref["points"]), atol=1e-5, rtol=1e-5)


def test_twin_keeps_the_offset_bound():
    # offsets pushed to +-40 cells by the bias: the bounded model clips them to +-1.5, and so must its twin
    from keras_lmk.detector.model import ModelConfig, build_model

    model = build_model(TINY_SPEC, ModelConfig(width=0.5, head_channels=8, head_depth=0, offset_bound=1.5))
    model.get_layer("offset_conv").bias.assign(
        np.tile([40.0, -40.0], TINY_SPEC.num_anchors).astype(np.float32)
    )
    twin = qat.build_twin(model)
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    _, points = twin(x, training=False)
    offsets = points.numpy() - TINY_SPEC.anchor_array()
    np.testing.assert_allclose(offsets[..., 0], 1.5, atol=1e-5)
    np.testing.assert_allclose(offsets[..., 1], -1.5, atol=1e-5)


def test_unknown_layer_has_no_twin():
    import keras

    class Odd(keras.layers.Layer):
        pass

    with pytest.raises(NotImplementedError, match="no tf_keras twin"):
        qat._twin_layer(Odd(name="odd"))  # noqa: SLF001


@pytest.fixture(scope="module")
def qat_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("qat")
    recs = planted_images(d / "data", n=6)
    model = tiny_keras_model()
    tflite, info = qat.qat_export(model, TINY_SPEC, TINY_TAXONOMY, recs, steps=2, batch_size=3, calib_steps=4)
    path = d / "model_qat.tflite"
    path.write_bytes(tflite)
    card = export_card(
        model_card(TINY_SPEC, TINY_TAXONOMY, DecoderConfig(score_threshold=0.3)), tflite, "qat"
    )
    path.with_suffix(".json").write_text(json.dumps(card))
    return path, info, recs


def test_qat_end_to_end(qat_model):
    path, info, recs = qat_model
    assert info["twin_max_abs_diff"] < 1e-4
    assert len(info["losses"]) == 2 and all(np.isfinite(info["losses"]))
    assert set(op_names(path.read_bytes())) <= ALLOWED_OPS
    io = io_details(path)
    assert io["input"]["dtype"] == "uint8"
    assert (
        io["input"]["quantization"]["scale"] == pytest.approx(1.0)
        and io["input"]["quantization"]["zero_point"] == 0
    )
    assert {o["dtype"] for o in io["outputs"].values()} == {"int8"}
    rt = LandmarkRuntime(path)  # finds model_qat.json, outputs by signature name
    from keras_lmk.data.frames import read_image_rgb

    logits, points, _ = rt.infer_frame(read_image_rgb(recs[0].image_path))
    assert logits.shape == (64, 2, 3) and points.shape == (64, 2, 2)
    assert np.isfinite(logits).all() and np.isfinite(points).all()
    # calibrated ranges, not tfmot's initial [-6, 6]: points (cell units ~0..1) get a fine step
    assert io["outputs"]["points"]["quantization"]["scale"] < 12 / 255
