"""Custom Keras layers of the landmark model (serialisable in safe mode)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lmk")
class AnchorOffsets(keras.layers.Layer):
    """Adds the fixed anchor positions to predicted offsets: ``points = anchors + offsets``.

    Input: offsets float [B, S, A, 2], cell units relative to each anchor (x right, y down).
    Output: points float [B, S, A, 2], cell units relative to the cell origin (see
    ``keras_lmk/detector/grid.py``).
    ``anchors`` is the spec's ``anchor_array()`` ([A, 2]); it is a constant, not a weight, so it lowers to a
    single broadcast ADD in TFLite.

    ``bound`` (cell units, optional): offsets are clipped to [-bound, bound] first (two builtin
    MINIMUM/MAXIMUM ops). It fixes the range of the points output, so its int8 step is at most
    (2 * bound + 1) / 255 cell whatever a background cell would regress; it must exceed every training target
    (see ``keras_lmk.training.config.RunConfig``: point_radius / stride + 0.5).
    """

    def __init__(self, anchors, bound: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.anchors = tuple((float(u), float(v)) for u, v in np.asarray(anchors, np.float32).reshape(-1, 2))
        if bound is not None and not bound > 0:
            raise ValueError(f"AnchorOffsets bound must be > 0 or None, got {bound}")
        self.bound = None if bound is None else float(bound)

    def call(self, offsets):
        anchors = ops.convert_to_tensor(np.asarray(self.anchors, np.float32), dtype=offsets.dtype)
        if self.bound is not None:
            offsets = ops.clip(offsets, -self.bound, self.bound)
        return offsets + anchors  # [B, S, A, 2] + [A, 2]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "anchors": [list(a) for a in self.anchors], "bound": self.bound}


@keras.saving.register_keras_serializable(package="keras_lmk")
class UpsampleNearest(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer factor: [B, H, W, C] -> [B, H*f, W*f, C].

    ``keras.layers.UpSampling2D`` lowers to repeat/tile plus dynamic-shape ops in TFLite; an image resize to a
    static size lowers to a single RESIZE_NEAREST_NEIGHBOR, which int8 kernels and delegates handle well.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        return ops.image.resize(x, (h * self.factor, w * self.factor), interpolation="nearest")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, c)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
