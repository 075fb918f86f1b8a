"""The ``pipeline.augment`` section of the training config, free of TensorFlow so that configs load and fail
fast. The augmentations themselves are :mod:`keras_lmk.training.augment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class AugmentConfig:
    # photometric (image in 0..1 units)
    brightness: float = 0.15  # max additive delta
    contrast: float = 0.25  # factor in [1 - c, 1 + c]
    saturation: float = 0.3  # factor in [1 - s, 1 + s]
    hue: float = 0.02  # max hue shift, fraction of the colour circle
    noise_std: float = 0.02  # Gaussian noise, std drawn per image in [0, noise_std]
    # geometric, about the image centre: out = zoom * (in - c) + c + shift
    zoom_min: float = 0.75  # < 1 zooms out (pads with the letterbox grey): smaller landmarks
    zoom_max: float = 1.33  # > 1 zooms in (crops): larger landmarks
    translate: float = 0.1  # max shift, fraction of the image width/height
    min_visible: float = 0.5  # drop a landmark whose box keeps less than this fraction of its area
    hflip_prob: float = 0.0
    hflip_mode: Literal["safe_only", "recompute"] = "safe_only"
    ignore_cut: bool = False  # landmarks cut by the frame edge become ignore regions (see clip_and_drop)

    def __post_init__(self):
        if not 0 < self.zoom_min <= self.zoom_max:
            raise ValueError(f"need 0 < zoom_min <= zoom_max, got {self.zoom_min}, {self.zoom_max}")
        if not 0 <= self.hflip_prob <= 1 or not 0 <= self.min_visible <= 1:
            raise ValueError("hflip_prob and min_visible must be in [0, 1]")
        if not 0 <= self.hue <= 0.5:
            raise ValueError("hue must be in [0, 0.5]")
