"""What a converted .tflite holds and does: its ops (builtin only?), input/output tensors with their
quantization, the model card with those facts added, raw outputs for golden files, and latency.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from keras_lmk.detector.decode import quantization_of
from keras_lmk.native_log import quiet_native_stderr

SIGNATURE = "serving_default"


class ExportError(ValueError):
    """Conversion produced something a device cannot run as intended (non-builtin ops, missing outputs)."""


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

    with quiet_native_stderr():  # LiteRT's "INFO: Created ... XNNPACK delegate" on every interpreter
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
