"""Tiny models and model cards shared by the inference tests (runtime, predict, evaluate).

Imported explicitly: ``from inference_helpers import ...`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from keras_lmk.data.taxonomy import parse_taxonomy
from keras_lmk.detector.card import model_card
from keras_lmk.detector.grid import GridSpec

TINY_SPEC = GridSpec(
    input_height=64, input_width=64, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)), num_classes=3
)
TINY_TAXONOMY = parse_taxonomy(
    {
        "name": "tiny",
        "classes": [
            {"id": 0, "name": "background", "point_rule": None},
            {"id": 1, "name": "sign", "point_rule": "bbox_center", "color": [255, 0, 0]},
            {"id": 2, "name": "road_marking", "point_rule": "bbox_bottom_right", "color": [0, 255, 0]},
        ],
    }
)


def tiny_keras_model(spec: GridSpec = TINY_SPEC, seed: int = 0):
    """A tiny model with the contract's named outputs; keras_lmk.detector.model.build_model when available."""
    import keras

    keras.utils.set_random_seed(seed)
    try:
        from keras_lmk.detector.model import ModelConfig, build_model

        model = build_model(spec, ModelConfig(width=0.25, head_channels=8, head_depth=0))
    except ImportError:  # stand-in with the same named outputs
        image = keras.Input((spec.input_height, spec.input_width, 3), name="image")
        x = keras.layers.Rescaling(1 / 127.5, offset=-1)(image)
        x = keras.layers.Conv2D(8, 3, strides=spec.stride, padding="same", activation="relu")(x)
        logits = keras.layers.Reshape(
            (spec.num_cells, spec.num_anchors, spec.num_classes), name="class_logits"
        )(keras.layers.Conv2D(spec.num_anchors * spec.num_classes, 1)(x))
        points = keras.layers.Reshape((spec.num_cells, spec.num_anchors, 2), name="points")(
            keras.layers.Conv2D(spec.num_anchors * 2, 1)(x)
        )
        model = keras.Model(image, {"class_logits": logits, "points": points})
    # make the untrained model vote a little: lower the background bias so some anchors pass a threshold
    for layer in model.layers:
        if layer.name == "class_conv":
            b = np.zeros((spec.num_anchors, spec.num_classes), np.float32)
            b[:, 0] = 0.5
            layer.bias.assign(b.reshape(-1))
    return model


def save_tiny_keras(run_dir: Path, spec: GridSpec = TINY_SPEC, decoder=None) -> Path:
    from keras_lmk.detector.decode import DecoderConfig

    run_dir.mkdir(parents=True, exist_ok=True)
    model = tiny_keras_model(spec)
    path = run_dir / "model.keras"
    model.save(path)
    card = model_card(spec, TINY_TAXONOMY, decoder or DecoderConfig(score_threshold=0.3))
    (run_dir / "model_card.json").write_text(json.dumps(card))
    return path


def convert_tflite(model, out_path: Path, *, int8: bool = False, spec: GridSpec = TINY_SPEC) -> Path:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(4):
                yield [rng.uniform(0, 255, (1, spec.input_height, spec.input_width, 3)).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.int8
    out_path.write_bytes(conv.convert())
    return out_path


def read_frames_with_warnings(src):
    """Iterate a FrameSource to the end; returns (frames, warning messages)."""
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        frames = list(src)
    return frames, [str(w.message) for w in ws]
