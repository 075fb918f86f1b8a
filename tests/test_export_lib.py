"""Export library (keras_lmk.deploy.export_lib): the exported model card merges the training card with what
the interpreter reports (faked here with hand-written tensor facts), and the report table by hand. The full
export of every variant runs in test_export.py (the command line)."""

import pytest

from keras_lmk.deploy import export_lib

INT8_IO = {
    "input": {"name": "image", "tensor_name": "serving_image:0", "shape": [1, 64, 64, 3], "dtype": "uint8",
              "quantization": {"scale": 1.0, "zero_point": 0}},
    "outputs": {
        "class_logits": {"name": "class_logits", "tensor_name": "Identity", "shape": [1, 64, 2, 3],
                         "dtype": "int8", "quantization": {"scale": 0.05, "zero_point": -3}},
        "points": {"name": "points", "tensor_name": "Identity_1", "shape": [1, 64, 2, 2], "dtype": "int8",
                   "quantization": {"scale": 0.004, "zero_point": 1}},
    },
}  # fmt: skip
BASE = {
    "grid": {"stride": 8},
    "input": {"height": 64, "width": 64, "pixels": "RGB 0..255"},
    "outputs": [{"name": "class_logits", "meaning": "logits"}, {"name": "points", "meaning": "offsets"}],
}


def test_card_of_an_int8_model(monkeypatch):
    monkeypatch.setattr(export_lib, "io_details", lambda tflite: INT8_IO)
    card = export_lib.export_card(BASE, b"model", "int8")
    assert card["quantization"] == "int8" and card["grid"] == {"stride": 8}
    assert card["input"] == {
        "height": 64,
        "width": 64,
        "pixels": "RGB 0..255",
        **INT8_IO["input"],
        "layout": "NHWC",
        "batch": 1,
        "feed": "uint8 RGB 0..255 letterboxed pixels as they are (scale 1, zero point 0)",
    }
    logits, points = card["outputs"]
    assert logits == {"meaning": "logits", **INT8_IO["outputs"]["class_logits"]}
    # one int8 step of the points output: 0.004 cells = 0.032 input pixels at stride 8
    assert points["resolution"] == {"cell_units": 0.004, "input_px": pytest.approx(0.032)}
    assert points["meaning"] == "offsets" and points["quantization"]["zero_point"] == 1
    assert (
        "quantization" not in BASE and "resolution" not in BASE["outputs"][1]
    )  # the base card is not changed


def test_card_of_a_float_model_has_no_point_step(monkeypatch):
    io = {
        "input": {**INT8_IO["input"], "dtype": "float32", "quantization": None},
        "outputs": {
            k: {**v, "dtype": "float32", "quantization": None} for k, v in INT8_IO["outputs"].items()
        },
    }
    monkeypatch.setattr(export_lib, "io_details", lambda tflite: io)
    card = export_lib.export_card(BASE, b"model", "fp16")
    assert card["input"]["feed"] == "float32 RGB 0..255 letterboxed pixels (not normalised)"
    assert [o.get("resolution") for o in card["outputs"]] == [None, None]
    assert [o["quantization"] for o in card["outputs"]] == [None, None]


def test_report_table_by_hand():
    report = {
        "model": "run/model.keras",
        "input": [64, 48],
        "latency_runs": 5,
        "rows": [
            {"quant": "fp32", "size_kb": 120.5, "latency_ms_1t": 2.0, "latency_ms_2t": 1.25, "mAP": 0.5,
             "mAP_drop_points": 0.0, "median_error_px": 1.123456},
            {"quant": "int8", "size_kb": 40.0, "latency_ms_1t": 1.0, "mAP": None},
        ],
        "evaluation": {"data": "val.json", "keras": {"mAP": 0.5, "median_error_px": 1.2}},
    }  # fmt: skip
    assert export_lib.report_markdown(report) == (
        "Export of run/model.keras (input 64x48, latency = median of 5 invokes, ai-edge-litert)\n"
        "\n"
        "| variant | size KB | ms @1 thread | ms @2 threads | point-mAP | mAP drop (pts) | median err px |\n"
        "|---|---|---|---|---|---|---|\n"
        "| fp32 | 120.5 | 2 | 1.25 | 0.5 | 0 | 1.123 |\n"
        "| int8 | 40 | 1 | - | - | - | - |\n"
        "\n"
        "Keras float reference: point-mAP 0.5, median error 1.2 px on val.json\n"
    )
    del report["evaluation"]
    assert export_lib.report_markdown(report).endswith("| int8 | 40 | 1 | - | - | - | - |\n")
