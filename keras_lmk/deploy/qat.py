"""Quantization-aware fine-tuning (QAT) of a Keras 3 landmark model, through a tf_keras twin.

tensorflow-model-optimization 0.8 quantizes only tf_keras (Keras 2) models: ``quantize_model`` on a Keras 3
model raises ``ValueError`` (tested). So QAT works on a *twin*:

1. :func:`build_twin` rebuilds the functional graph layer by layer with tf_keras layers of the same kind and
   name (Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Add, Concatenate, Reshape, ZeroPadding2D,
   Rescaling; ``UpsampleNearest`` -> ``UpSampling2D(nearest)``;
   ``AnchorOffsets`` -> :class:`TwinAnchorOffsets`)
   and copies every layer's weights (:func:`transfer_weights`); its float outputs equal the Keras 3 model's.
2. :func:`quantize_twin` annotates every layer for the default 8-bit scheme; the two layers tfmot does not
   know (Rescaling, TwinAnchorOffsets: elementwise affine maps without weights) get
   :class:`OutputQuantizeConfig`, which fake-quantises their output only. BatchNormalization is frozen
   (inference statistics) for fine-tuning, the usual QAT practice with small batches.
3. :func:`calibrate_ranges` initialises every activation range from real images before fine-tuning (tfmot
   starts them at [-6, 6] and moves them by an EMA with decay 0.999, far too slow for a short fine-tune), and
   pins the input range to [0, 255] so the int8 model takes raw uint8 pixels with scale 1, zero point 0.
4. :func:`finetune` runs a few steps with the training loss (:func:`keras_lmk.detector.losses.batch_loss`,
written
   with keras.ops, applied to tf tensors in a custom tf.function step).
5. :func:`qat_export` saves a SavedModel whose signature returns ``{"class_logits", "points"}`` and converts
   it with :func:`keras_lmk.deploy.export_lib.convert_saved_model` (int8 builtins, uint8 in, int8 out).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from keras_lmk.deploy.convert import SIGNATURE, convert_saved_model
from keras_lmk.detector.grid import GridSpec

qk = tfmot.quantization.keras


class TwinAnchorOffsets(tf_keras.layers.Layer):
    """tf_keras twin of :class:`keras_lmk.detector.layers.AnchorOffsets`: points = clip(offsets) + anchors."""

    def __init__(self, anchors, bound=None, **kwargs):
        super().__init__(**kwargs)
        self.anchors = [[float(u), float(v)] for u, v in np.asarray(anchors, np.float32).reshape(-1, 2)]
        self.bound = None if bound is None else float(bound)

    def call(self, offsets):
        if self.bound is not None:
            offsets = tf.clip_by_value(offsets, -self.bound, self.bound)
        return offsets + tf.constant(self.anchors, offsets.dtype)  # [B, S, A, 2] + [A, 2]

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors, "bound": self.bound}


class OutputQuantizeConfig(qk.QuantizeConfig):
    """No weights; fake-quantise the output (8 bit, asymmetric, per tensor) like tfmot does for Add."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            qk.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self):
        return {}


CUSTOM_OBJECTS = {"TwinAnchorOffsets": TwinAnchorOffsets, "OutputQuantizeConfig": OutputQuantizeConfig}


def _twin_layer(layer):
    """A fresh tf_keras layer equivalent to the Keras 3 ``layer`` (same name); raises for unknown kinds."""
    L, c, name = tf_keras.layers, layer.get_config(), layer.name
    kind = type(layer).__name__
    if kind == "Conv2D":
        return L.Conv2D(
            c["filters"],
            c["kernel_size"],
            c["strides"],
            c["padding"],
            dilation_rate=c["dilation_rate"],
            groups=c.get("groups", 1),
            activation=c["activation"],
            use_bias=c["use_bias"],
            name=name,
        )
    if kind == "DepthwiseConv2D":
        return L.DepthwiseConv2D(
            c["kernel_size"],
            c["strides"],
            c["padding"],
            depth_multiplier=c["depth_multiplier"],
            dilation_rate=c["dilation_rate"],
            activation=c["activation"],
            use_bias=c["use_bias"],
            name=name,
        )
    if kind == "BatchNormalization":
        return L.BatchNormalization(
            c["axis"], c["momentum"], c["epsilon"], c["center"], c["scale"], name=name
        )
    if kind == "ReLU":
        return L.ReLU(c["max_value"], c["negative_slope"], c["threshold"], name=name)
    if kind == "Activation":
        return L.Activation(c["activation"], name=name)
    if kind == "Add":
        return L.Add(name=name)
    if kind == "Concatenate":
        return L.Concatenate(c["axis"], name=name)
    if kind == "Reshape":
        return L.Reshape(c["target_shape"], name=name)
    if kind == "ZeroPadding2D":
        return L.ZeroPadding2D(c["padding"], name=name)
    if kind == "Rescaling":
        return L.Rescaling(c["scale"], c["offset"], name=name)
    if kind == "UpsampleNearest":
        return L.UpSampling2D(c["factor"], interpolation="nearest", name=name)
    if kind == "AnchorOffsets":
        return TwinAnchorOffsets(c["anchors"], c.get("bound"), name=name)
    if kind == "Dropout":
        return L.Dropout(c["rate"], name=name)
    raise NotImplementedError(
        f"layer {name!r} ({kind}) has no tf_keras twin; add it to keras_lmk.deploy.qat._twin_layer"
    )


def build_twin(model) -> tf_keras.Model:
    """tf_keras functional twin of a Keras 3 functional model (same layer names), weights copied.

    Outputs are a list ``[class_logits, points]`` (tfmot handles list outputs best); layer order and names
    follow the Keras 3 graph.
    """
    if len(model.inputs) != 1:
        raise ValueError("expected a single-input model")
    tensors: dict[int, object] = {}  # id(Keras 3 KerasTensor) -> tf_keras tensor
    inp = model.inputs[0]
    x = tf_keras.Input(tuple(inp.shape[1:]), name=inp._keras_history[0].name, dtype="float32")
    tensors[id(inp)] = x
    for op in model.operations:
        if type(op).__name__ == "InputLayer":
            continue
        if isinstance(op, type(model)) or hasattr(op, "operations"):
            raise NotImplementedError(f"nested model {op.name!r}: flatten it first")
        twin = _twin_layer(op)
        for node in op._inbound_nodes:  # noqa: SLF001 (Keras 3 has no public node API)
            args = [tensors[id(t)] for t in node.input_tensors]
            y = twin(args if len(args) > 1 else args[0])
            outs = node.output_tensors
            tensors[id(outs[0])] = y
    outputs = model._outputs_struct  # noqa: SLF001
    twin_model = tf_keras.Model(
        x,
        [tensors[id(outputs["class_logits"])], tensors[id(outputs["points"])]],
        name=f"{model.name}_tfkeras_twin",
    )
    transfer_weights(model, twin_model)
    return twin_model


def transfer_weights(model, twin: tf_keras.Model) -> None:
    """Copy weights layer by layer (matched by name, shapes checked)."""
    for t in twin.layers:
        if not t.weights:
            continue
        src = [np.asarray(w) for w in model.get_layer(t.name).get_weights()]
        dst = t.get_weights()
        if [s.shape for s in src] != [d.shape for d in dst]:
            raise ValueError(
                f"layer {t.name}: weight shapes {[s.shape for s in src]} vs {[d.shape for d in dst]}"
            )
        t.set_weights(src)


def quantize_twin(twin: tf_keras.Model) -> tf_keras.Model:
    """Default 8-bit QAT model of the twin (weights kept); BatchNormalization frozen."""

    def annotate(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, (tf_keras.layers.Rescaling, TwinAnchorOffsets)):
            return qk.quantize_annotate_layer(fresh, OutputQuantizeConfig())
        return qk.quantize_annotate_layer(fresh)

    with qk.quantize_scope(CUSTOM_OBJECTS):
        annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
        annotated.set_weights(twin.get_weights())
        q = qk.quantize_apply(annotated)
    for layer in q.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, tf_keras.layers.BatchNormalization):
            inner.trainable = False  # tf_keras BN then runs in inference mode even when training=True
    return q


def _range_vars(q: tf_keras.Model):
    """Activation range variables (EMA-updated min/max; weight quantizers excluded)."""
    out = []
    for v in q.non_trainable_variables:
        n = v.name.split("/")[-1].split(":")[0]
        if n.endswith(("_min", "_max")) and "kernel" not in n:
            out.append(v)
    return out


def calibrate_ranges(q: tf_keras.Model, images: Sequence[np.ndarray], input_range=(0.0, 255.0)) -> None:
    """Set each activation range to the min/max it sees on ``images`` (float32 [1, H, W, 3]).

    A training-mode call moves each range by ``v <- d*v + (1-d)*batch`` (d = 0.999); the batch value is
    recovered from the before/after pair and every variable is restored. The input range is then pinned.
    """
    rvars = _range_vars(q)
    all_vars = q.variables
    d = 0.999
    seen: dict[str, float] = {}
    batch = np.concatenate(list(images), axis=0).astype(np.float32)
    for i in range(0, len(batch), 8):
        before = [v.numpy() for v in all_vars]
        old = {v.name: float(v.numpy()) for v in rvars if v.shape.rank == 0}
        q(batch[i : i + 8], training=True)
        for v in rvars:
            if v.name not in old:
                continue
            val = (float(v.numpy()) - d * old[v.name]) / (1 - d)
            better = min if v.name.endswith("_min:0") else max
            seen[v.name] = better(seen.get(v.name, val), val)
        for v, b in zip(all_vars, before, strict=True):
            v.assign(b)
    for v in rvars:
        if v.name in seen:
            v.assign(seen[v.name])
    for v in rvars:  # raw pixels in: the int8 input takes uint8 0..255 with scale 1, zero point 0
        if v.name.startswith("quantize_layer"):
            v.assign(input_range[0] if v.name.endswith("_min:0") else input_range[1])


def finetune(
    q: tf_keras.Model, dataset, loss_cfg, steps: int, learning_rate: float = 1e-4, progress: bool = True
) -> list[float]:
    """``steps`` QAT steps on ``(image, targets)`` batches with the training loss; returns the losses.
    ``progress``: a tqdm bar on stderr (the fine-tuning takes minutes on a CPU)."""
    from tqdm import tqdm

    from keras_lmk.detector.losses import batch_loss

    opt = tf_keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits, points = q(x, training=True)
            total, _, _ = batch_loss({"class_logits": logits, "points": points}, y, loss_cfg)
        grads = tape.gradient(total, q.trainable_variables)
        opt.apply_gradients(zip(grads, q.trainable_variables, strict=True))
        return total

    losses = []
    with tqdm(total=steps, desc="QAT fine-tuning", unit="step", disable=not progress) as bar:
        for x, y in dataset.take(steps):
            losses.append(float(step(x, y)))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3g}")
    return losses


def write_qat_saved_model(q: tf_keras.Model, spec: GridSpec, path: str | Path) -> Path:
    sig = tf.TensorSpec([1, spec.input_height, spec.input_width, 3], tf.float32, name="image")

    @tf.function(input_signature=[sig])
    def serve(image):
        logits, points = q(image, training=False)
        return {"class_logits": logits, "points": points}

    # a bare tf.Module holding the variables: saving the tf_keras model itself would trace every layer
    module = tf.Module()
    module.variables_ = list(q.variables)
    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: serve.get_concrete_function()})
    return Path(path)


def qat_export(
    model,
    spec: GridSpec,
    taxonomy,
    records: Sequence,
    *,
    loss_cfg=None,
    steps: int = 200,
    batch_size: int = 8,
    learning_rate: float = 1e-4,
    calib_steps: int = 32,
    seed: int = 0,
) -> tuple[bytes, dict]:
    """Keras 3 model + training records -> (int8 TFLite bytes, info {"losses", "twin_max_abs_diff"})."""
    from keras_lmk.deploy.convert import calibration_images
    from keras_lmk.detector.losses import LossConfig
    from keras_lmk.training.pipeline import PipelineConfig, make_dataset

    twin = build_twin(model)
    probe = calibration_images(records, spec, 1, seed)[0]
    ref = model(probe, training=False)
    got = twin(probe, training=False)
    diff = max(
        float(np.abs(np.asarray(ref[k]) - np.asarray(g)).max())
        for k, g in zip(("class_logits", "points"), got, strict=True)
    )
    q = quantize_twin(twin)
    calib = calibration_images(records, spec, calib_steps, seed)
    calibrate_ranges(q, calib)
    pipe = dataclasses.replace(PipelineConfig(), batch_size=batch_size, shuffle_buffer=64)
    ds = make_dataset(records, spec, pipe, taxonomy=taxonomy, training=True, seed=seed).repeat()
    losses = finetune(q, ds, loss_cfg or LossConfig(), steps, learning_rate)
    with tempfile.TemporaryDirectory(prefix="lmk_qat_") as tmp:
        write_qat_saved_model(q, spec, Path(tmp) / "saved_model")
        tflite = convert_saved_model(Path(tmp) / "saved_model", "qat", calib)
    return tflite, {"losses": losses, "twin_max_abs_diff": diff, "steps": steps}
