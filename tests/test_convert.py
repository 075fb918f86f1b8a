"""Keras -> TFLite conversion (keras_lmk.deploy.convert): calibration images are the inference input of each
file, a converted tiny model gives Keras' numbers per named output (fp32) and integer I/O (int8), non-builtin
ops and bad arguments fail loudly. The full export of every variant runs in test_export.py."""

import cv2
import numpy as np
import pytest
from inference_helpers import TINY_SPEC, tiny_keras_model
from test_export import planted_images

from keras_lmk.data.records import ImageRecord
from keras_lmk.deploy.convert import (
    ExportError,
    calibration_images,
    calibration_records,
    convert_keras,
    convert_saved_model,
)


def interpreter_outputs(tflite: bytes, image: np.ndarray) -> dict[str, np.ndarray]:
    """Signature outputs by name for one input, read straight from the interpreter (no keras_lmk code)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=tflite).get_signature_runner("serving_default")
    return {k: np.asarray(v) for k, v in runner(image=image).items()}


@pytest.fixture(scope="module")
def tiny():
    model = tiny_keras_model()
    image = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    keras_out = {k: np.asarray(v) for k, v in model(image, training=False).items()}
    return model, image, keras_out


def test_fp32_gives_the_keras_numbers_per_named_output(tiny):
    model, image, keras_out = tiny
    out = interpreter_outputs(convert_keras(model, TINY_SPEC, "fp32"), image)
    assert sorted(out) == ["class_logits", "points"]
    assert out["class_logits"].shape == (1, 64, 2, 3) and out["points"].shape == (1, 64, 2, 2)  # 8x8 cells
    for name, k in keras_out.items():
        assert out[name].dtype == np.float32 and out[name].shape == k.shape == (
            1,
            64,
            2,
            3 if "logits" in name else 2,
        )
        np.testing.assert_allclose(out[name], k, atol=1e-4, rtol=1e-4)


def test_int8_takes_uint8_pixels_and_gives_int8_outputs(tiny, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model, image, keras_out = tiny
    calib = calibration_images(planted_images(tmp_path, n=4, size=64), TINY_SPEC, 4)
    tflite = convert_keras(model, TINY_SPEC, "int8", calib)
    it = Interpreter(model_content=tflite)
    (inp,) = it.get_input_details()
    assert inp["dtype"] == np.uint8 and inp["quantization"] == (1.0, 0)  # pixels fed as they are
    sig = it._get_full_signature_list()["serving_default"]["outputs"]
    details = {d["index"]: d for d in it.get_output_details()}
    it.allocate_tensors()
    it.set_tensor(inp["index"], image.round().astype(np.uint8))
    it.invoke()
    for name, idx in sig.items():
        d = details[idx]
        q = it.get_tensor(idx)
        assert d["dtype"] == np.int8 and q.shape == keras_out[name].shape
        scale, zp = d["quantization"]
        deq = (q.astype(np.float64) - zp) * scale  # dequantised by hand
        span = keras_out[name].max() - keras_out[name].min()
        assert np.abs(deq - keras_out[name]).mean() < 0.1 * span, name


def test_bad_modes_and_missing_calibration_are_errors(tiny, tmp_path):
    model = tiny[0]
    with pytest.raises(ValueError, match="calibration"):
        convert_keras(model, TINY_SPEC, "int8", None)
    with pytest.raises(ValueError, match="qat_export"):
        convert_keras(model, TINY_SPEC, "qat")
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        convert_saved_model(tmp_path, "int4")
    with pytest.raises(ValueError, match="no calibration records"):
        calibration_images([], TINY_SPEC, 3)


def test_calibration_records_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory without config.yaml"):
        calibration_records(tmp_path, None)
    with pytest.raises(FileNotFoundError, match="nope.json: no such run directory or COCO JSON"):
        calibration_records(tmp_path / "nope.json", None)


def test_non_builtin_op_fails_loudly(tmp_path):
    import tensorflow as tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4, 4, 3], tf.float32, name="image")])
        def serve(self, image):
            m = tf.reshape(image, [1, 4, 4, 3])[..., :3, :3, 0]
            return {"class_logits": tf.linalg.det(m), "points": tf.linalg.det(m)}

    mod = Odd()
    tf.saved_model.save(mod, str(tmp_path / "sm"), signatures={"serving_default": mod.serve})
    with pytest.raises(ExportError, match="builtin"):
        convert_saved_model(tmp_path / "sm", "fp32")


def test_calibration_images_use_the_letterbox_and_span_0_255(tmp_path):
    recs = planted_images(tmp_path, n=3)
    imgs = calibration_images(recs, TINY_SPEC, 3)
    assert len(imgs) == 3 and imgs[0].shape == (1, 64, 64, 3) and imgs[0].dtype == np.float32
    assert imgs[0].min() == 0 and imgs[0].max() == 255


def test_calibration_images_are_the_inference_input_of_each_file(tmp_path):
    """Calibration must feed what inference feeds: letterbox_image(read_image_rgb(file)) as float32 RGB,
    except pixel (0, 0) set to 0 and the last pixel to 255. Files with known content, written by cv2 (BGR
    on disk): the expected arrays of the first two are written out by hand."""
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.detector.letterbox import PAD_VALUE, letterbox_image

    red, blue, olive = (255, 0, 0), (0, 0, 255), (200, 150, 30)  # RGB
    # 64x64 = the input size (letterbox is the identity): left half red, right half blue
    a = np.zeros((64, 64, 3), np.uint8)
    a[:, :32], a[:, 32:] = red, blue
    # 128x64: scale 0.5 -> 64x32, centred with 16 grey rows above and below
    b = np.full((64, 128, 3), olive, np.uint8)
    expect_b = np.full((64, 64, 3), PAD_VALUE, np.uint8)
    expect_b[16:48] = olive
    # 50x40 noise: compared with letterbox_image(read_image_rgb(...)) itself
    c = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    paths = []
    for name, rgb in (("a", a), ("b", b), ("c", c)):
        paths.append(tmp_path / f"{name}.png")
        assert cv2.imwrite(str(paths[-1]), rgb[..., ::-1])  # cv2 writes BGR
    expected = [a, expect_b, letterbox_image(read_image_rgb(paths[2]), 64, 64)[0]]
    expected = [e.astype(np.float32) for e in expected]
    for e in expected:
        e[0, 0], e[-1, -1] = 0.0, 255.0
    records = [
        ImageRecord(str(p), im.shape[1], im.shape[0], np.zeros((0, 4)), np.zeros((0, 2)), np.zeros(0))
        for p, im in zip(paths, (a, b, c), strict=True)
    ]
    # 6 steps over 3 files: each file exactly twice, in some seeded order
    imgs = calibration_images(records, TINY_SPEC, 6)
    assert len(imgs) == 6
    used = [0, 0, 0]
    for img in imgs:
        assert img.shape == (1, 64, 64, 3) and img.dtype == np.float32
        hits = [k for k, e in enumerate(expected) if np.array_equal(img[0], e)]
        assert len(hits) == 1, "a calibration image equals none of the files' inference inputs"
        used[hits[0]] += 1
    assert used == [2, 2, 2]
