"""The ``pipeline.augment`` section of the training config, free of TensorFlow so that configs load and fail
fast. The augmentations themselves are :mod:`keras_lmk.training.augment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class CopyPasteConfig:
    """Real landmark crops pasted onto other training images (:mod:`keras_lmk.training.copy_paste`)."""

    classes: tuple[str, ...] = ()  # class names whose crops are pasted; () = off
    prob: float = 0.5  # probability that a training example gets pastes
    per_image: int = 2  # at most this many crops per example (1..per_image, uniform)
    margin: float = 0.5  # context kept around a landmark's box, fraction of its size per side
    scale_min: float = 0.8  # pasted size relative to the crop's own model-input scale (log-uniform)
    scale_max: float = 1.25
    max_crops: int = 2000  # crops kept in memory, spread evenly over the training records
    balance: float = 0.0  # a crop is drawn with weight (crops of its class)^-balance: 0 uniform, 1 per class

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        if not 0 <= self.prob <= 1 or self.per_image < 1 or self.max_crops < 1:
            raise ValueError("copy_paste: need 0 <= prob <= 1, per_image >= 1 and max_crops >= 1")
        if self.margin < 0 or not 0 < self.scale_min <= self.scale_max:
            raise ValueError("copy_paste: need margin >= 0 and 0 < scale_min <= scale_max")
        if not 0 <= self.balance <= 1:
            raise ValueError("copy_paste: need 0 <= balance <= 1")


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
    # class names whose examples are never flipped, whatever the mode: e.g. "signal" for Korean horizontal
    # lights, whose lamp order (red left) has no mirror image on the road
    hflip_exclude_classes: tuple[str, ...] = ()
    ignore_cut: bool = False  # landmarks cut by the frame edge become ignore regions (see clip_and_drop)
    copy_paste: CopyPasteConfig = field(default_factory=CopyPasteConfig)

    def __post_init__(self):
        object.__setattr__(self, "hflip_exclude_classes", tuple(self.hflip_exclude_classes))
        if not 0 < self.zoom_min <= self.zoom_max:
            raise ValueError(f"need 0 < zoom_min <= zoom_max, got {self.zoom_min}, {self.zoom_max}")
        if not 0 <= self.hflip_prob <= 1 or not 0 <= self.min_visible <= 1:
            raise ValueError("hflip_prob and min_visible must be in [0, 1]")
        if not 0 <= self.hue <= 0.5:
            raise ValueError("hue must be in [0, 0.5]")
