"""The ``model`` section of the training config, free of TensorFlow so that configs load and fail fast.
The model itself is :mod:`keras_lmk.detector.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelConfig:
    backbone: Literal["lmknet", "mobilenetv2"] = "lmknet"
    width: float = 1.0  # lmknet channel multiplier
    alpha: float = 0.35  # MobileNetV2 width multiplier (1.0 costs ~1 GMAC at 512x320)
    head_channels: int = 64  # channels of the fused feature map and the head
    head_depth: int = 2  # depthwise-separable 3x3 blocks on the fused stride-`spec.stride` map
    weights_path: str | None = None  # optional local .weights.h5 of the same architecture
    # fine-tuning from another run: a local .weights.h5 of the same architecture whose *backbone* weights are
    # copied (the fusion and the head start fresh), and whether the backbone then stays fixed (its BatchNorm
    # layers in inference mode): a probe of the head on given features, or a cheap fine-tune on little data
    backbone_weights_path: str | None = None
    freeze_backbone: bool = False
    # BatchNorm moving-average momentum for every BN layer (keras.applications uses 0.999, Keras 0.99). With
    # 0.99 the initial moving variance (1.0) still weighs 9% after 240 steps and inference-mode outputs
    # collapse on short runs (seen in the quick ablation); 0.97 forgets it within ~150 steps.
    bn_momentum: float = 0.97
    # cell units: clip the predicted offsets to +-offset_bound (fixes the int8 range of the points output;
    # must exceed the training targets, so it goes with pipeline.point_radius). None: unbounded.
    offset_bound: float | None = None

    def __post_init__(self):
        if self.width <= 0 or self.alpha <= 0:
            raise ValueError("width and alpha must be positive")
        if self.head_channels < 8 or self.head_depth < 0:
            raise ValueError("head_channels must be >= 8 and head_depth >= 0")
        if self.offset_bound is not None and not self.offset_bound > 0:
            raise ValueError(f"model.offset_bound must be > 0 cells or null, got {self.offset_bound}")
        if self.weights_path and self.backbone_weights_path:
            raise ValueError(
                "set model.weights_path (the whole model) or model.backbone_weights_path, not both"
            )
