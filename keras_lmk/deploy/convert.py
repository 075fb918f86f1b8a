"""Keras -> TFLite conversion: calibration images, a SavedModel with a fixed signature, and the converter
settings of each quantization mode (fp32, fp16, dynamic, int8; QAT: deploy/qat.py).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from keras_lmk.deploy.inspect import SIGNATURE, ExportError, check_builtin_only
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import letterbox_image
from keras_lmk.native_log import debug, quiet_native_stderr

QUANT_MODES = ("fp32", "fp16", "dynamic", "int8", "qat")
INTEGER_MODES = ("int8", "qat")


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
        # the int8 calibration runs TensorFlow's own deprecated tf.lite.Interpreter, which says so on every
        # export, and the converter prints its settings ("fully_quantize: 0, inference_type: 6, ..."): noise
        # to the user, filtered (KERAS_LMK_DEBUG=1 shows it)
        with warnings.catch_warnings(), quiet_native_stderr():
            if not debug():
                warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated")
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
