"""TFLite export library: Keras model -> fp32 / fp16 / dynamic / int8 / QAT ``.tflite`` + model card + report.

    tflite = convert_keras(model, spec, "int8", representative=calibration_images(records, spec, 100))
    check_builtin_only(tflite)                     # raises ExportError on Flex/custom ops
    card = export_card(base_card, tflite, "int8")  # base card + per-tensor quantization from the interpreter

The CLI is :mod:`keras_lmk.export`; QAT lives in :mod:`keras_lmk.deploy.qat`. Conversion goes through
a SavedModel
whose single ``serving_default`` signature takes ``image`` float32 [1, H, W, 3] (RGB 0..255, NHWC, fixed
shape) and returns the dict ``{"class_logits", "points"}``: the signature output names are what
:class:`keras_lmk.inference.runtime.LandmarkRuntime` looks the outputs up by. Only TFLite builtin ops are
allowed.

Integer models (``int8``, ``qat``): input uint8 RGB 0..255 with scale 1, zero point 0 (the calibration images
carry one 0 and one 255 pixel so the calibrated input range is exactly [0, 255]); outputs int8, dequantised
by the consumer with the scale/zero point of each output tensor (written into the model card).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from keras_lmk.deploy.convert import (
    INTEGER_MODES,
    QUANT_MODES,
    calibration_images,
    calibration_records,
    convert_keras,
    run_config,
)
from keras_lmk.deploy.inspect import io_details, measure_latency, op_names


def export_card(base_card: dict, tflite: bytes | str | Path, quant: str) -> dict:
    """The training model card (train.model_card layout) plus what the interpreter says about the file:
    input dtype/quantization and, per output, tensor name, shape, dtype and quantization; for an integer
    ``points`` output also its step (``resolution``: one quantization step in cell units and input pixels)."""
    io = io_details(tflite)
    card = {**base_card, "quantization": quant}
    card["input"] = {
        **base_card.get("input", {}),
        **io["input"],
        "name": "image",
        "layout": "NHWC",
        "batch": 1,
    }
    if quant in INTEGER_MODES:
        card["input"]["feed"] = "uint8 RGB 0..255 letterboxed pixels as they are (scale 1, zero point 0)"
    else:
        card["input"]["feed"] = "float32 RGB 0..255 letterboxed pixels (not normalised)"
    outputs = []
    for o in base_card.get("outputs", [{"name": "class_logits"}, {"name": "points"}]):
        out = {**o, **io["outputs"][o["name"]]}
        scale = (out.get("quantization") or {}).get("scale")
        if o["name"] == "points" and scale:  # the int8 point step: what the device can resolve
            stride = base_card.get("grid", {}).get("stride", 1)
            out["resolution"] = {"cell_units": scale, "input_px": scale * stride}
        outputs.append(out)
    card["outputs"] = outputs
    return card


# ------------------------------------------------------------------------------------------- benchmark


def export_variants(
    model_path: str | Path,
    out_dir: str | Path,
    quants: Sequence[str],
    *,
    calib_data: str | Path | None = None,
    calib_images: str | Path | None = None,
    calib_steps: int = 100,
    eval_data: str | Path | None = None,
    eval_images: str | Path | None = None,
    latency_runs: int = 20,
    qat_steps: int = 200,
    qat_batch_size: int = 8,
    qat_learning_rate: float = 1e-4,
    name: str | None = None,
    log=print,
) -> dict:
    """Write ``<name>_<quant>.tflite`` + ``<name>_<quant>.json`` per variant and export_report.{json,md}.

    calib_data: run directory (config.yaml) or COCO JSON; default: the model's run directory.
    eval_data: COCO JSON or synthetic drive directory for :func:`keras_lmk.evaluation.evaluate.run`
    (optional).
    Returns the report dict ({"rows": [...], ...}).
    """
    import json

    from keras_lmk.atomic import (
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_text,
        check_writable_dir,
        strict_json,
    )
    from keras_lmk.detector.card import find_model_card, load_model_card
    from keras_lmk.detector.model import load_model

    bad = [q for q in quants if q not in QUANT_MODES]
    if bad or not quants:
        raise ValueError(f"unknown quantization {bad}; expected some of {QUANT_MODES}")
    model_path, out_dir = Path(model_path), check_writable_dir(out_dir)
    if not model_path.is_file():  # before looking for its card ("no model card found" misleads)
        raise FileNotFoundError(f"{model_path}: no such model file")
    name = name or model_path.stem
    card = load_model_card(model_path)
    base_card = json.loads(find_model_card(model_path).read_text())
    model = load_model(model_path)
    spec, taxonomy = card.spec, card.taxonomy

    records = None
    if any(q in INTEGER_MODES for q in quants):
        src = calib_data or model_path.parent
        records = calibration_records(src, taxonomy, calib_images)
        log(f"calibration: {len(records)} training images from {src}, {calib_steps} steps")
    rows = []
    for quant in quants:
        t0 = time.perf_counter()
        extra: dict = {}
        if quant == "qat":
            from keras_lmk.deploy.qat import qat_export

            loss_cfg = (
                run_config(model_path.parent).loss if (model_path.parent / "config.yaml").is_file() else None
            )
            tflite, info = qat_export(
                model,
                spec,
                taxonomy,
                records,
                loss_cfg=loss_cfg,
                steps=qat_steps,
                batch_size=qat_batch_size,
                learning_rate=qat_learning_rate,
                calib_steps=min(calib_steps, 64),
            )
            extra = {
                "qat_steps": info["steps"],
                "twin_max_abs_diff": info["twin_max_abs_diff"],
                "qat_loss_first": info["losses"][0] if info["losses"] else None,
                "qat_loss_last": info["losses"][-1] if info["losses"] else None,
            }
        else:
            rep = calibration_images(records, spec, calib_steps) if quant == "int8" else None
            tflite = convert_keras(model, spec, quant, rep)
        path = out_dir / f"{name}_{quant}.tflite"
        atomic_write_bytes(path, tflite)
        atomic_write_json(path.with_suffix(".json"), export_card(base_card, tflite, quant))
        row = {
            "quant": quant,
            "file": path.name,
            "size_kb": round(len(tflite) / 1024, 1),
            "convert_s": round(time.perf_counter() - t0, 1),
            "ops": op_names(tflite),
            "latency_ms_1t": round(measure_latency(tflite, 1, latency_runs), 3),
            "latency_ms_2t": round(measure_latency(tflite, 2, latency_runs), 3),
            **extra,
        }
        rows.append(row)
        log(f"{quant}: {path} ({row['size_kb']} KB, {row['latency_ms_1t']} ms @1t)")

    if eval_data:
        from keras_lmk.evaluation.evaluate import run as evaluate

        targets = [("keras", model_path)] + [(r["quant"], out_dir / r["file"]) for r in rows]
        evals = {}
        for label, mpath in targets:
            s = evaluate(
                mpath, eval_data, out_dir / "eval" / label, images=eval_images, threads=2, progress=False
            )
            tol = s["tolerances"][s["primary_tolerance"]]
            evals[label] = {
                "mAP": strict_json(tol["mAP"]),  # NaN (no matches) -> None
                "median_error_px": strict_json(s["point_error_px"]["median"]),
            }
        ref = evals["keras"]["mAP"]
        for r in rows:
            r.update(evals[r["quant"]])
            if ref is not None and r["mAP"] is not None:
                r["mAP_drop_points"] = round(100 * (ref - r["mAP"]), 2)
        report_eval = {"keras": evals["keras"], "data": str(eval_data)}
    else:
        report_eval = None
    report = {
        "model": str(model_path),
        "input": [spec.input_height, spec.input_width],
        "latency_runs": latency_runs,
        "evaluation": report_eval,
        "rows": rows,
    }
    atomic_write_json(out_dir / "export_report.json", report)
    md = report_markdown(report)
    atomic_write_text(out_dir / "export_report.md", md)
    log(md)
    return report


def report_markdown(report: dict) -> str:
    cols = [
        ("quant", "variant"),
        ("size_kb", "size KB"),
        ("latency_ms_1t", "ms @1 thread"),
        ("latency_ms_2t", "ms @2 threads"),
        ("mAP", "point-mAP"),
        ("mAP_drop_points", "mAP drop (pts)"),
        ("median_error_px", "median err px"),
    ]

    def fmt(v):
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = [
        f"Export of {report['model']} (input {report['input'][0]}x{report['input'][1]}, "
        f"latency = median of {report['latency_runs']} invokes, ai-edge-litert)",
        "",
        "| " + " | ".join(c[1] for c in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in report["rows"]:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |")
    if report.get("evaluation"):
        k = report["evaluation"]["keras"]
        lines += [
            "",
            f"Keras float reference: point-mAP {fmt(k['mAP'])}, median error "
            f"{fmt(k['median_error_px'])} px on {report['evaluation']['data']}",
        ]
    return "\n".join(lines) + "\n"
