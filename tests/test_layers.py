"""Custom layers: anchor offsets (cell units) and nearest upsampling, against hand-computed arrays and numpy;
both survive a get_config round trip (safe-mode loading rebuilds them from it)."""

import keras
import numpy as np
import pytest

from keras_lmk.detector.layers import AnchorOffsets, UpsampleNearest


def test_anchor_offsets_layer_adds_anchors():
    layer = AnchorOffsets([[0.5, 0.5], [0.25, 0.75]])
    off = np.zeros((1, 3, 2, 2), np.float32)
    off[0, 1, 1] = [0.1, -0.2]
    out = np.asarray(layer(off))
    assert np.allclose(out[0, 0], [[0.5, 0.5], [0.25, 0.75]])
    assert np.allclose(out[0, 1, 1], [0.35, 0.55])
    assert AnchorOffsets.from_config(layer.get_config()).anchors == layer.anchors


def test_anchor_offsets_bound_clips_offsets():
    layer = AnchorOffsets([[0.5, 0.5]], bound=2.0)
    off = np.array([[[[5.0, -0.3]], [[-7.0, 1.9]]]], np.float32)  # [1, 2 cells, 1 anchor, 2]
    out = np.asarray(layer(off))
    # clip to [-2, 2] then + (0.5, 0.5): (2.5, 0.2) and (-1.5, 2.4)
    np.testing.assert_allclose(out[0, :, 0], [[2.5, 0.2], [-1.5, 2.4]], atol=1e-6)
    assert AnchorOffsets.from_config(layer.get_config()).bound == 2.0
    with pytest.raises(ValueError, match="bound"):
        AnchorOffsets([[0.5, 0.5]], bound=0.0)


def test_upsample_nearest_repeats_each_pixel():
    x = np.arange(2 * 2 * 3 * 2, dtype=np.float32).reshape(2, 2, 3, 2)  # [B, H, W, C]
    out = np.asarray(UpsampleNearest(2)(x))
    # numpy reference: every pixel becomes a 2x2 block
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2))
    assert out[0, :, :, 0].tolist()[:2] == [[0, 0, 2, 2, 4, 4], [0, 0, 2, 2, 4, 4]]
    np.testing.assert_array_equal(np.asarray(UpsampleNearest(3)(x)), np.repeat(np.repeat(x, 3, 1), 3, 2))


def test_upsample_nearest_shapes_and_config():
    layer = UpsampleNearest(4)
    assert layer.compute_output_shape((None, 5, None, 8)) == (None, 20, None, 8)
    again = UpsampleNearest.from_config(layer.get_config())
    assert again.factor == 4
    inp = keras.Input((6, 10, 3))
    assert tuple(UpsampleNearest(2)(inp).shape) == (None, 12, 20, 3)
