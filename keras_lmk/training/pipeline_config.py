"""The ``pipeline`` section of the training config, free of TensorFlow so that configs load and fail fast.
The input pipeline itself is :mod:`keras_lmk.training.pipeline`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.augment_config import AugmentConfig


@dataclass(frozen=True)
class PipelineConfig:
    batch_size: int = 16
    shuffle_buffer: int = 512  # elements; the record list itself is always fully shuffled when not cached
    cache: str = ""  # "" no cache, "memory", or a file path prefix for decoded + letterboxed images
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    background_ratio: float | None = 1.0  # sampled background cells per landmark cell; None = all cells
    min_background: int = 8
    # px at the model input: a landmark trains only its cells within this distance of its reference point,
    # the rest of its box is ignored (see encode_targets); None: every cell of the box (the method as written)
    point_radius: float | None = None
    # what a box's cells beyond point_radius become: "ignore" (untrained) or "background" (sampled first)
    far_cells: Literal["ignore", "background"] = "ignore"
    # share of the balanced background cells chosen by the loss as each image's highest-loss background
    # cells (online hard-negative mining, keras_lmk/detector/losses.py) instead of at random; 0 = off
    mined_negatives: float = 0.0
    max_landmarks: int = 256  # an image with more landmarks is reported as a data error
    deterministic: bool = True  # keep element order under parallel map (reproducible runs)
    # (width, height): train on windows of the image letterboxed to the model input instead of the whole
    # input (landmarks keep their full-frame scale; each step costs the crop's pixels). None: whole input.
    train_crop: tuple[int, int] | None = None
    crop_focus: float = 0.7  # probability that a crop is centred on a random landmark (else uniform)

    def __post_init__(self):
        if self.batch_size < 1 or self.shuffle_buffer < 1 or self.max_landmarks < 1:
            raise ValueError("batch_size, shuffle_buffer and max_landmarks must be >= 1")
        if self.train_crop is not None:
            object.__setattr__(self, "train_crop", tuple(int(v) for v in self.train_crop))
            if len(self.train_crop) != 2 or min(self.train_crop) < 1:
                raise ValueError(f"train_crop must be (width, height) >= 1, got {self.train_crop}")
        if self.point_radius is not None and not self.point_radius > 0:
            raise ValueError(f"point_radius must be > 0 px or null, got {self.point_radius}")
        if self.far_cells not in ("ignore", "background"):
            raise ValueError(f"far_cells must be 'ignore' or 'background', got {self.far_cells!r}")
        if not 0 <= self.mined_negatives <= 1:
            raise ValueError(f"mined_negatives must be in [0, 1], got {self.mined_negatives}")
        if not 0 <= self.crop_focus <= 1:
            raise ValueError(f"crop_focus must be in [0, 1], got {self.crop_focus}")

    def train_spec(self, spec: GridSpec) -> GridSpec:
        """The grid the training examples are encoded on: ``spec`` itself, or the crop's size."""
        if self.train_crop is None:
            return spec
        w, h = self.train_crop
        if w > spec.input_width or h > spec.input_height:
            raise ValueError(
                f"train_crop {w}x{h} exceeds the model input {spec.input_width}x{spec.input_height}"
            )
        return dataclasses.replace(spec, input_width=w, input_height=h)
