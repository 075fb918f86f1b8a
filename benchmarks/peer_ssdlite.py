"""The speed peer: SSDLite-MobileNetV2 (alpha 1.0), built from keras.applications with ``weights=None``.

Follows the SSDLite recipe (Sandler et al. 2018, MobileNetV2 paper, section 6.2): MobileNetV2 features at
stride 16 (expansion layer of block 13) and stride 32 (last 1280-channel layer), four extra feature layers
(1x1 conv -> depthwise 3x3 stride 2 -> 1x1 conv), and box/class heads that are depthwise-separable 3x3 convs.
6 anchors per location (3 on the first map), 4 box coordinates, ``num_classes`` + background scores.
Only used for latency/size comparison: same input size, same int8 calibration, same interpreter.
"""

from __future__ import annotations

import keras
from keras import layers


def _separable_head(x, filters: int, name: str):
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    return layers.Conv2D(filters, 1, name=f"{name}_pw")(x)


def _extra_layer(x, mid: int, out: int, name: str):
    x = layers.Conv2D(mid, 1, use_bias=False, name=f"{name}_1x1")(x)
    x = layers.BatchNormalization(name=f"{name}_1x1_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_1x1_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_out")(x)
    x = layers.BatchNormalization(name=f"{name}_out_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_out_relu")(x)


def build_ssdlite_mobilenetv2(input_height: int, input_width: int, num_classes: int = 7) -> keras.Model:
    inp = keras.Input((input_height, input_width, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    backbone = keras.applications.MobileNetV2(input_tensor=x, include_top=False, weights=None, alpha=1.0)
    c4 = backbone.get_layer("block_13_expand_relu").output  # stride 16, 576 ch
    c5 = backbone.get_layer("out_relu").output  # stride 32, 1280 ch
    feats = [c4, c5]
    y = c5
    for i, (mid, out) in enumerate([(256, 512), (128, 256), (128, 256), (64, 128)]):
        y = _extra_layer(y, mid, out, f"extra{i}")
        feats.append(y)
    boxes, scores = [], []
    for i, f in enumerate(feats):
        anchors = 3 if i == 0 else 6
        b = _separable_head(f, anchors * 4, f"box{i}")
        c = _separable_head(f, anchors * num_classes, f"cls{i}")
        boxes.append(layers.Reshape((-1, 4), name=f"box{i}_flat")(b))
        scores.append(layers.Reshape((-1, num_classes), name=f"cls{i}_flat")(c))
    box = layers.Concatenate(axis=1, name="boxes")(boxes)
    cls = layers.Concatenate(axis=1, name="scores")(scores)
    return keras.Model(inp, {"boxes": box, "scores": cls}, name="ssdlite_mobilenetv2")
