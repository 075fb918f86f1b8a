"""TFLite export library: Keras model -> fp32 / fp16 / dynamic / int8 / QAT ``.tflite`` + model card + report.

    tflite = convert_keras(model, spec, "int8", representative=calibration_images(records, spec, 100))
    check_builtin_only(tflite)                     # raises ExportError on Flex/custom ops
    card = export_card(base_card, tflite, "int8")  # base card + per-tensor quantization from the interpreter

The CLI is :mod:`keras_lmk.deploy.export`; QAT lives in :mod:`keras_lmk.deploy.qat`. Conversion goes through
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

import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from keras_lmk.detector.decode import quantization_of
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import letterbox_image

QUANT_MODES = ("fp32", "fp16", "dynamic", "int8", "qat")
INTEGER_MODES = ("int8", "qat")
SIGNATURE = "serving_default"


class ExportError(ValueError):
    """Conversion produced something a device cannot run as intended (non-builtin ops, missing outputs)."""


# ------------------------------------------------------------------------------------------- calibration


def calibration_images(records: Sequence, spec: GridSpec, steps: int, seed: int = 0) -> list[np.ndarray]:
    """``steps`` letterboxed images float32 [1, H, W, 3] (RGB 0..255) from ``records``' image files.

    Same preprocessing as inference (:func:`keras_lmk.detector.letterbox.letterbox_image`); records are drawn
    in a
    seeded random order (cycled when there are fewer than ``steps``). Pixel (0, 0) is set to 0 and the last
    pixel to 255 so the calibrated input range is exactly [0, 255] (uint8 input scale 1, zero point 0).
    """
    from keras_lmk.data.frames import read_image_rgb

    if not records:
        raise ValueError("no calibration records")
    order = np.random.default_rng(seed).permutation(len(records))
    out: list[np.ndarray] = []
    for i in range(steps):
        rec = records[order[i % len(order)]]
        rgb = read_image_rgb(rec.image_path)
        if rgb is None:
            raise ValueError(f"{rec.image_path}: unreadable calibration image")
        img, _ = letterbox_image(rgb, spec.input_width, spec.input_height)
        img = img.astype(np.float32)
        img[0, 0, :] = 0.0
        img[-1, -1, :] = 255.0
        out.append(img[None])
    return out


def calibration_records(calib_data: str | Path, taxonomy, images: str | Path | None = None) -> list:
    """Training records for calibration: a run directory (its config.yaml rebuilds the training split via
    :func:`keras_lmk.data.sources.load_training_records`) or a COCO keypoint JSON."""
    calib_data = Path(calib_data)
    if calib_data.is_dir():
        from keras_lmk.data.sources import load_training_records
        from keras_lmk.training.config import Config
        from keras_lmk.training.config_io import load_yaml_config

        if not (calib_data / "config.yaml").is_file():
            raise FileNotFoundError(f"{calib_data}: run directory without config.yaml")
        cfg = load_yaml_config(Config(), calib_data / "config.yaml")
        train, _ = load_training_records(cfg.data, taxonomy)
        return train
    from keras_lmk.data.coco import load_coco

    if not calib_data.is_file():
        raise FileNotFoundError(f"{calib_data}: no such run directory or COCO JSON")
    return load_coco(calib_data, taxonomy, images)


def run_config(run_dir: str | Path):
    """The resolved training Config of a run directory (config.yaml)."""
    from keras_lmk.training.config import Config
    from keras_lmk.training.config_io import load_yaml_config

    return load_yaml_config(Config(), Path(run_dir) / "config.yaml")


# -------------------------------------------------------------------------------------------- conversion


def write_saved_model(model, spec: GridSpec, path: str | Path) -> Path:
    """Keras 3 model -> SavedModel with one fixed-shape ``serving_default`` signature returning the dict."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(image):
        out = model(image, training=False)
        return dict(out)  # named outputs become the signature's output names

    sig = tf.TensorSpec([1, spec.input_height, spec.input_width, 3], tf.float32, name="image")
    archive.add_endpoint(SIGNATURE, serve, input_signature=[sig])
    archive.write_out(str(path), verbose=False)
    return Path(path)


def convert_saved_model(
    path: str | Path, quant: str, representative: Iterable[np.ndarray] | None = None
) -> bytes:
    """SavedModel -> TFLite flatbuffer for one quantization mode (builtin ops only; raises otherwise).

    ``qat``: the SavedModel holds fake-quant ranges; the converter still insists on representative data for
    full-integer output and uses it only for tensors without a trained range.
    """
    import tensorflow as tf

    if quant not in QUANT_MODES:
        raise ValueError(f"unknown quantization {quant!r}; expected one of {QUANT_MODES}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=[SIGNATURE])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif quant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quant in INTEGER_MODES:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.int8
        if representative is not None or quant == "int8":
            if representative is None:
                raise ValueError("int8 post-training quantization needs calibration images")
            images = list(representative)
            if not images:
                raise ValueError("int8 post-training quantization needs at least one calibration image")
            conv.representative_dataset = lambda: ({"image": x} for x in images)
    try:
        tflite = conv.convert()
    except Exception as e:  # ConverterError: the message lists the offending ops
        raise ExportError(f"{quant}: conversion with TFLite builtin ops only failed: {e}") from e
    check_builtin_only(tflite)
    return tflite


def convert_keras(
    model, spec: GridSpec, quant: str, representative: Iterable[np.ndarray] | None = None
) -> bytes:
    """Keras 3 model -> TFLite bytes (``fp32``, ``fp16``, ``dynamic`` or ``int8``; QAT: deploy/qat.py)."""
    if quant == "qat":
        raise ValueError("qat is exported by keras_lmk.deploy.qat.qat_export (it fine-tunes a tf_keras twin)")
    with tempfile.TemporaryDirectory(prefix="lmk_export_") as tmp:
        write_saved_model(model, spec, Path(tmp) / "saved_model")
        return convert_saved_model(Path(tmp) / "saved_model", quant, representative)


# ------------------------------------------------------------------------------------------- inspection


def op_names(tflite: bytes) -> list[str]:
    """Operator codes of a flatbuffer (sorted, unique): builtin names, ``CUSTOM:<name>`` otherwise."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(tflite, 0)
    out = set()
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            out.add(f"CUSTOM:{(oc.CustomCode() or b'?').decode()}")
        else:
            out.add(names.get(code, f"UNKNOWN:{code}"))
    return sorted(out)


def check_builtin_only(tflite: bytes) -> list[str]:
    """Raise ExportError when the flatbuffer holds custom (incl. Flex) ops; return the op names."""
    ops = op_names(tflite)
    bad = [o for o in ops if o.startswith(("CUSTOM:", "UNKNOWN:"))]
    if bad:
        raise ExportError(
            f"model uses non-builtin ops {bad}; devices without Flex/custom kernels cannot run it"
        )
    return ops


def _interpreter(tflite: bytes | str | Path, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(tflite, bytes):
        it = Interpreter(model_content=tflite, num_threads=threads)
    else:
        it = Interpreter(model_path=str(tflite), num_threads=threads)
    it.allocate_tensors()
    return it


def tensor_info(detail: dict, name: str | None = None) -> dict:
    """JSON description of one interpreter tensor: name, shape, dtype and its quantization."""
    scales, zps, axis = quantization_of(detail)
    info = {
        "name": name or detail["name"],
        "tensor_name": detail["name"],
        "shape": [int(s) for s in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
    }
    if scales.size:
        info["quantization"] = {
            "scale": [float(s) for s in scales] if scales.size > 1 else float(scales[0]),
            "zero_point": [int(z) for z in zps] if zps.size > 1 else int(zps[0]),
            "quantized_dimension": axis,
            "dequantize": "real = (q - zero_point) * scale",
        }
    else:
        info["quantization"] = None
    return info


def io_details(tflite: bytes | str | Path) -> dict:
    """{"input": tensor_info, "outputs": {"class_logits": tensor_info, "points": tensor_info}} by signature
    name (read from the interpreter)."""
    it = _interpreter(tflite)
    by_index = {d["index"]: d for d in it.get_input_details() + it.get_output_details()}
    sig = it._get_full_signature_list().get(SIGNATURE)  # noqa: SLF001 (no public signature->index map)
    if sig is None:
        raise ExportError(f"no {SIGNATURE!r} signature in the model")
    outs = {name: tensor_info(by_index[idx], name) for name, idx in sig["outputs"].items()}
    missing = {"class_logits", "points"} - set(outs)
    if missing:
        raise ExportError(f"signature outputs {sorted(outs)} lack {sorted(missing)}")
    ((in_name, in_idx),) = sig["inputs"].items()
    return {"input": tensor_info(by_index[in_idx], in_name), "outputs": outs}


def export_card(base_card: dict, tflite: bytes | str | Path, quant: str) -> dict:
    """The training model card (train.model_card layout) plus what the interpreter says about the file:
    input dtype/quantization and, per output, tensor name, shape, dtype and quantization."""
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
        outputs.append({**o, **io["outputs"][o["name"]]})
    card["outputs"] = outputs
    return card


# ------------------------------------------------------------------------------------------- benchmark


def measure_latency(tflite: bytes | str | Path, threads: int, runs: int = 20, warmup: int = 3) -> float:
    """Median wall time (ms) of one invoke with ``threads`` threads on a fixed random input."""
    it = _interpreter(tflite, threads)
    d = it.get_input_details()[0]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, d["shape"]).astype(d["dtype"])
    it.set_tensor(d["index"], x)
    for _ in range(warmup):
        it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def raw_outputs(tflite: bytes | str | Path, image_in: np.ndarray) -> dict[str, np.ndarray]:
    """Run one letterboxed image (uint8/float [H, W, 3], 0..255) and return the raw signature outputs
    (integer for int8 models) by name."""
    from keras_lmk.inference.runtime import quantize_input

    it = _interpreter(tflite)
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], quantize_input(np.asarray(image_in, np.float32)[None], d))
    it.invoke()
    sig = it._get_full_signature_list()[SIGNATURE]  # noqa: SLF001
    return {name: it.get_tensor(idx).copy() for name, idx in sig["outputs"].items()}


# ------------------------------------------------------------------------------------------- variants


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

    import keras

    import keras_lmk.detector.layers  # noqa: F401  (custom layers for safe-mode loading)
    from keras_lmk.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, check_writable_dir
    from keras_lmk.inference.runtime import find_model_card, load_model_card

    bad = [q for q in quants if q not in QUANT_MODES]
    if bad or not quants:
        raise ValueError(f"unknown quantization {bad}; expected some of {QUANT_MODES}")
    model_path, out_dir = Path(model_path), check_writable_dir(out_dir)
    name = name or model_path.stem
    card = load_model_card(model_path)
    base_card = json.loads(find_model_card(model_path).read_text())
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
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
                "mAP": _finite(tol["mAP"]),
                "median_error_px": _finite(s["point_error_px"]["median"]),
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


def _finite(v):
    """NaN (no matches) -> None, so the report is strict JSON."""
    return None if v is None or not np.isfinite(v) else float(v)


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
