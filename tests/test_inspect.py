"""What a converted .tflite holds (keras_lmk.deploy.inspect): builtin ops only (a flatbuffer edited to hold a
custom op is refused), tensor facts from hand-written interpreter details, outputs by signature name against
Keras and the interpreter's own quantization, and latency as the median invoke time on a fake clock."""

import numpy as np
import pytest
from inference_helpers import TINY_SPEC, tiny_keras_model
from test_export import planted_images

from keras_lmk.deploy.convert import calibration_images, convert_keras
from keras_lmk.deploy.inspect import ExportError, check_builtin_only, io_details, raw_outputs, tensor_info


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A tiny untrained model and its fp32 and int8 files."""
    out = tmp_path_factory.mktemp("tflite")
    model = tiny_keras_model()
    (out / "model_fp32.tflite").write_bytes(convert_keras(model, TINY_SPEC, "fp32"))
    calib = calibration_images(planted_images(out / "calib", n=4, size=64), TINY_SPEC, 4)
    (out / "model_int8.tflite").write_bytes(convert_keras(model, TINY_SPEC, "int8", calib))
    return model, out


def test_tensor_info_of_hand_written_details():
    per_tensor = {
        "name": "Identity_1",
        "shape": np.array([1, 4, 2]),
        "dtype": np.int8,
        "quantization_parameters": {
            "scales": np.array([0.5]),
            "zero_points": np.array([-3]),
            "quantized_dimension": 0,
        },
    }
    assert tensor_info(per_tensor, "points") == {
        "name": "points",
        "tensor_name": "Identity_1",
        "shape": [1, 4, 2],
        "dtype": "int8",
        "quantization": {
            "scale": 0.5,
            "zero_point": -3,
            "quantized_dimension": 0,
            "dequantize": "real = (q - zero_point) * scale",
        },
    }
    per_channel = {
        **per_tensor,
        "quantization_parameters": {
            "scales": np.array([0.5, 0.25]),
            "zero_points": np.array([0, 0]),
            "quantized_dimension": 2,
        },
    }
    q = tensor_info(per_channel)["quantization"]
    assert (q["scale"], q["zero_point"], q["quantized_dimension"]) == ([0.5, 0.25], [0, 0], 2)
    floating = {
        "name": "x",
        "shape": np.array([2]),
        "dtype": np.float32,
        "quantization_parameters": {
            "scales": np.array([]),
            "zero_points": np.array([]),
            "quantized_dimension": 0,
        },
    }
    assert tensor_info(floating) == {
        "name": "x",
        "tensor_name": "x",
        "shape": [2],
        "dtype": "float32",
        "quantization": None,
    }


def test_io_details_by_signature_name(converted):
    _, out = converted
    fp32, int8 = io_details(out / "model_fp32.tflite"), io_details(out / "model_int8.tflite")
    assert sorted(fp32["outputs"]) == ["class_logits", "points"] and fp32["input"]["name"] == "image"
    assert fp32["input"]["shape"] == [1, 64, 64, 3] and fp32["input"]["quantization"] is None
    assert fp32["outputs"]["points"]["shape"] == [1, 64, 2, 2]
    assert int8["input"]["dtype"] == "uint8" and int8["input"]["quantization"]["scale"] == pytest.approx(1.0)
    assert {o["dtype"] for o in int8["outputs"].values()} == {"int8"}


def test_custom_op_in_flatbuffer_is_rejected(converted):
    _, out = converted
    ops = check_builtin_only((out / "model_fp32.tflite").read_bytes())
    assert "CONV_2D" in ops
    # rename an operator code to CUSTOM in a copy of the flatbuffer: the check must notice
    from ai_edge_litert import schema_py_generated as schema

    buf = bytearray((out / "model_fp32.tflite").read_bytes())
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(buf, 0))
    m.operatorCodes[0].builtinCode = schema.BuiltinOperator.CUSTOM
    m.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    m.operatorCodes[0].customCode = "MyOp"
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ExportError, match="CUSTOM:MyOp"):
        check_builtin_only(bytes(b.Output()))


def test_raw_outputs_are_the_interpreter_tensors_by_name(converted):
    """raw_outputs returns each signature output as the interpreter holds it: float32 for fp32, equal to
    Keras; int8 for int8, which dequantised by hand, (q - zero point) * scale with the interpreter's own
    parameters, is near Keras."""
    from ai_edge_litert.interpreter import Interpreter

    from keras_lmk.detector.letterbox import letterbox_image

    model, out = converted
    img, _ = letterbox_image(np.random.default_rng(2).integers(0, 256, (48, 80, 3), dtype=np.uint8), 64, 64)
    keras_out = {k: np.asarray(v) for k, v in model(img[None].astype(np.float32), training=False).items()}
    assert keras_out["class_logits"].shape == (1, 64, 2, 3) and keras_out["points"].shape == (1, 64, 2, 2)
    raw = raw_outputs(out / "model_fp32.tflite", img)
    for name, k in keras_out.items():
        assert raw[name].dtype == np.float32 and raw[name].shape == k.shape
        np.testing.assert_allclose(raw[name], k, atol=1e-4, rtol=1e-4)
    raw = raw_outputs(out / "model_int8.tflite", img)
    it = Interpreter(model_path=str(out / "model_int8.tflite"))
    by_index = {d["index"]: d for d in it.get_output_details()}
    for name, idx in it._get_full_signature_list()["serving_default"]["outputs"].items():
        k = keras_out[name]
        assert raw[name].dtype == np.int8 and raw[name].shape == k.shape
        scale, zp = by_index[idx]["quantization"]
        deq = (raw[name].astype(np.float64) - zp) * scale
        span = k.max() - k.min()
        assert np.abs(deq - k).mean() < 0.1 * span, name


def test_measure_latency_is_the_median_invoke_time(monkeypatch):
    """A fake interpreter whose invokes take 100 ms (3 warm-ups) then 4, 1, 9, 2, 7 ms on a fake clock:
    the latency is their median, 4 ms; the input fed has the input tensor's shape and dtype."""
    import keras_lmk.deploy.inspect as inspect_lib

    clock = [0.0]
    durations = iter([0.1] * 3 + [0.004, 0.001, 0.009, 0.002, 0.007])

    class FakeInterpreter:
        fed = []

        def get_input_details(self):
            return [{"index": 0, "shape": np.array([1, 4, 6, 3]), "dtype": np.uint8}]

        def set_tensor(self, index, value):
            self.fed.append(value)

        def invoke(self):
            clock[0] += next(durations)

    threads_seen = []
    monkeypatch.setattr(
        inspect_lib, "_interpreter", lambda t, threads=1: threads_seen.append(threads) or FakeInterpreter()
    )
    monkeypatch.setattr(inspect_lib.time, "perf_counter", lambda: clock[0])
    assert inspect_lib.measure_latency(b"model", threads=2, runs=5, warmup=3) == pytest.approx(4.0)
    assert threads_seen == [2]
    assert len(FakeInterpreter.fed) == 1
    assert FakeInterpreter.fed[0].shape == (1, 4, 6, 3) and FakeInterpreter.fed[0].dtype == np.uint8
