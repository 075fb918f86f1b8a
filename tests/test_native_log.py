"""Native log filtering (keras_lmk.native_log): LiteRT's delegate notice and TensorFlow's start-up chatter go,
every other line written to file descriptor 2 stays."""

import os
from pathlib import Path

from keras_lmk.inference.runtime import LandmarkRuntime
from keras_lmk.native_log import is_startup_noise, quiet_native_stderr

MODEL = Path(__file__).resolve().parents[1] / "android_demo_assets" / "model_int8.tflite"


def test_opening_a_tflite_model_prints_no_delegate_notice(capfd):
    LandmarkRuntime(MODEL)
    assert "XNNPACK" not in capfd.readouterr().err


def test_other_native_lines_pass_and_debug_keeps_everything(capfd, monkeypatch):
    with quiet_native_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nreal problem: disk full\n")
    assert capfd.readouterr().err == "real problem: disk full\n"
    monkeypatch.setenv("KERAS_LMK_DEBUG", "1")
    with quiet_native_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" in capfd.readouterr().err


def test_the_noise_pattern_is_exact():
    assert is_startup_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not is_startup_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU. and then it failed")
    assert not is_startup_noise("ERROR: tensor 3 has no data")
    # the TFLite converter's int8 settings, printed on every int8 export
    assert is_startup_noise("fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, "
                            "output_inference_type: INT8")  # fmt: skip
    assert not is_startup_noise("fully_quantize failed: tensor 3 has no range")
