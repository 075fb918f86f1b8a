"""The landmark detector: a small mobile backbone, top-down feature fusion to the grid stride, a 1x1 head.

    spec = GridSpec()                       # 512x320 input, stride 8, 5 anchors, 7 classes
    model = build_model(spec, ModelConfig())
    out = model(images)                     # images: float32 [B, 320, 512, 3], RGB 0..255
    out["class_logits"]                     # float32 [B, S, A, M]
    out["points"]                           # float32 [B, S, A, 2], cell units (anchor + offset)

Only TFLite builtin ops are used (Conv2D, DepthwiseConv2D, ReLU6, Add, ResizeNearestNeighbor, Reshape, Pad),
and no hard-swish, so int8 conversion stays clean. The default ``lmknet`` backbone has ~0.43 M parameters and
~0.24 GMACs at 512x320 (``count_macs``), under half of SSDLite-MobileNetV2 at the same input.
"""

from __future__ import annotations

import dataclasses
import math
import zipfile
from pathlib import Path

import keras
import numpy as np

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.layers import AnchorOffsets, UpsampleNearest
from keras_lmk.detector.model_config import ModelConfig

BACKGROUND_PRIOR = 0.99  # initial softmax probability of background (focal-loss-style prior)

# lmknet stages: (stride, output channels, inverted-residual blocks after the downsampling block, expansion)
LMKNET_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (4, 24, 1, 2),
    (8, 32, 2, 4),
    (16, 64, 2, 4),
    (32, 128, 2, 4),
)
# keras.applications.MobileNetV2 layers giving stride 4, 8, 16, 32 features
MOBILENETV2_TAPS = {4: "block_2_add", 8: "block_5_add", 16: "block_12_add", 32: "block_16_project_BN"}


def _ch(c: float, divisor: int = 8) -> int:
    return max(divisor, int(c + divisor / 2) // divisor * divisor)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if act else x


def _dw_bn(x, stride: int, name: str):
    x = keras.layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dwbn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_dwrelu")(x)


def _separable(x, filters: int, stride: int, name: str, act: bool = True):
    """Depthwise 3x3 (stride) + pointwise 1x1: the cheap downsampling and smoothing block."""
    return _conv_bn(_dw_bn(x, stride, name), filters, 1, 1, f"{name}_pw", act=act)


def _inverted_residual(x, filters: int, expansion: int, name: str):
    """MobileNetV2 block (stride 1): 1x1 expand, ReLU6, depthwise 3x3, ReLU6, linear 1x1 project, residual."""
    cin = x.shape[-1]
    y = _conv_bn(x, cin * expansion, 1, 1, f"{name}_expand")
    y = _dw_bn(y, 1, name)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", act=False)
    return keras.layers.Add(name=f"{name}_add")([x, y]) if cin == filters else y


def _lmknet(x, width: float) -> dict[int, keras.KerasTensor]:
    """Own tiny backbone. x: [B, H, W, 3] in -1..1 -> {stride: feature map}."""
    feats = {}
    x = _conv_bn(x, _ch(16 * width), 3, 2, "stem")  # stride 2
    for stride, channels, blocks, expansion in LMKNET_STAGES:
        c = _ch(channels * width)
        x = _separable(x, c, 2, f"s{stride}_down", act=False)  # linear bottleneck, as in MobileNetV2
        for i in range(blocks):
            x = _inverted_residual(x, c, expansion, f"s{stride}_ir{i}")
        feats[stride] = x
    return feats


def _mobilenetv2(image, x, alpha: float) -> dict[int, keras.KerasTensor]:
    # input_tensor puts its layers into our graph (no nested model); its ReLU6 + ZeroPadding are builtins
    base = keras.applications.MobileNetV2(
        input_tensor=x, alpha=alpha, include_top=False, weights=None, input_shape=tuple(image.shape[1:])
    )
    return {s: base.get_layer(name).output for s, name in MOBILENETV2_TAPS.items()}


def _fuse(feats: dict[int, keras.KerasTensor], out_stride: int, channels: int, image_hw) -> keras.KerasTensor:
    """Top-down fusion (FPN-like): 1x1 lateral, nearest 2x upsample, add, down to ``out_stride``."""
    h, w = image_hw
    usable = [s for s in sorted(feats) if s >= out_stride and h % s == 0 and w % s == 0]
    if out_stride not in usable:
        raise ValueError(f"stride {out_stride} not available; backbone strides are {sorted(feats)}")
    top = max(usable)
    p = _conv_bn(feats[top], channels, 1, 1, f"lateral{top}")
    s = top
    while s > out_stride:
        s //= 2
        p = UpsampleNearest(2, name=f"up{s}")(p)
        lat = _conv_bn(feats[s], channels, 1, 1, f"lateral{s}")
        p = keras.layers.Add(name=f"fuse{s}")([p, lat])
        if s > out_stride:
            p = _separable(p, channels, 1, f"smooth{s}")
    return p


def build_model(spec: GridSpec, cfg: ModelConfig | None = None) -> keras.Model:
    """Functional model ``image`` float32 [B, H_in, W_in, 3] (RGB 0..255) -> dict outputs (``cfg``: default
    ``ModelConfig()``).

    Outputs: ``class_logits`` float32 [B, S, A, M]; ``points`` float32 [B, S, A, 2] in cell units of each
    cell (``spec.anchor_array()`` + predicted offset; see ``keras_lmk/detector/grid.py``). S is row-major
    over the
    ``spec.grid_h x spec.grid_w`` grid at ``spec.stride``.
    """
    cfg = cfg or ModelConfig()
    h, w = spec.input_height, spec.input_width
    a, m = spec.num_anchors, spec.num_classes
    image = keras.Input((h, w, 3), dtype="float32", name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    if cfg.backbone == "lmknet":
        feats = _lmknet(x, cfg.width)
    elif cfg.backbone == "mobilenetv2":
        feats = _mobilenetv2(image, x, cfg.alpha)
    else:
        raise ValueError(f"unknown backbone {cfg.backbone!r}")

    p = _fuse(feats, spec.stride, cfg.head_channels, (h, w))  # [B, gh, gw, C]
    for i in range(cfg.head_depth):
        p = _separable(p, cfg.head_channels, 1, f"head{i}")
    logits = keras.layers.Conv2D(a * m, 1, name="class_conv")(p)  # [B, gh, gw, A*M]
    offsets = keras.layers.Conv2D(
        a * 2, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="offset_conv"
    )(p)  # [B, gh, gw, A*2]
    logits = keras.layers.Reshape((spec.num_cells, a, m), name="class_logits")(logits)
    offsets = keras.layers.Reshape((spec.num_cells, a, 2), name="offsets")(offsets)
    points = AnchorOffsets(spec.anchor_array(), cfg.offset_bound, name="points")(offsets)
    model = keras.Model(image, {"class_logits": logits, "points": points}, name=f"lmk_{cfg.backbone}")

    # background prior: softmax p(bg) = BACKGROUND_PRIOR at init, so early training is not swamped by the
    # thousands of easy background cells
    bias = np.zeros((a, m), np.float32)
    bias[:, 0] = math.log(BACKGROUND_PRIOR * (m - 1) / (1 - BACKGROUND_PRIOR))
    model.get_layer("class_conv").bias.assign(bias.reshape(-1))

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = cfg.bn_momentum

    if cfg.weights_path:
        load_weights_file(model, cfg.weights_path, "model.weights_path")
    if cfg.backbone_weights_path:
        donor = build_model(spec, ModelConfig(**_architecture(cfg)))
        load_weights_file(donor, cfg.backbone_weights_path, "model.backbone_weights_path")
        for name in backbone_layer_names(model):
            model.get_layer(name).set_weights(donor.get_layer(name).get_weights())
    if cfg.freeze_backbone:
        for name in backbone_layer_names(model):
            model.get_layer(name).trainable = False
    return model


def load_weights_file(model: keras.Model, path: str | Path, key: str) -> None:
    """``model.load_weights(path)``; a missing or unreadable file (h5py's "file signature not found", a
    mismatched architecture) is an error naming the file and the config ``key`` that named it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file ({key})")
    try:
        model.load_weights(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot load these weights ({key}): {e}") from e


# layers from the feature fusion on (see _fuse and build_model); everything before them is the backbone
HEAD_LAYER_PREFIXES = (
    "lateral",
    "up",
    "fuse",
    "smooth",
    "head",
    "class_conv",
    "offset_conv",
    "class_logits",
    "offsets",
    "points",
)


def backbone_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers with weights that belong to the backbone (not the fusion or the head)."""
    return [
        layer.name
        for layer in model.layers
        if layer.weights and not layer.name.startswith(HEAD_LAYER_PREFIXES)
    ]


def _architecture(cfg: ModelConfig) -> dict:
    """``cfg``'s fields that shape the weights (no weight files, no freezing)."""
    fields = dataclasses.asdict(cfg)
    for key in ("weights_path", "backbone_weights_path", "freeze_backbone"):
        fields.pop(key)
    return fields


def with_input_size(net: keras.Model, spec: GridSpec, cfg: ModelConfig) -> keras.Model:
    """``net`` for the input size of ``spec``: the same weights in a model built for that size.

    Every layer is convolutional or per-cell, so weights do not depend on the input size; only the output
    reshapes (S cells) do. Used to deploy a model trained on crops at the full input size.
    """
    if tuple(net.input_shape[1:3]) == (spec.input_height, spec.input_width):
        return net
    out = build_model(spec, ModelConfig(**_architecture(cfg)))
    out.set_weights(net.get_weights())
    return out


def load_model(path, *, compile: bool = False) -> keras.Model:
    """Load a keras_lmk ``.keras`` file in safe mode (no arbitrary code; this module's import registers the
    custom layers). ``compile=True`` restores the optimizer too (resuming training); inference, export and
    conversion need only the weights. The one place the package loads a ``.keras`` file.

    A missing file raises FileNotFoundError and a file that is not a zip archive ValueError, each naming the
    file (Keras itself says "File not found" for both)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Keras model")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a Keras zip archive (a .keras file is the zip written by model.save)")
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one image through the convolution/dense layers (adds and BN not counted)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
            continue
        out = getattr(layer, "output", None)
        if out is None:
            continue
        spatial = int(np.prod(out.shape[1:-1])) if len(out.shape) > 2 else 1
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += spatial * out.shape[-1] * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            total += spatial * out.shape[-1] * kh * kw * cin // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += spatial * layer.input.shape[-1] * out.shape[-1]
    return int(total)
