"""The grid/anchor spec: cells, anchor pixels and cell units, against hand-computed numbers."""

import numpy as np
import pytest

from keras_lmk.detector.grid import DEFAULT_ANCHORS, GridSpec


def test_grid_cells_and_anchor_pixels_hand_computed():
    spec = GridSpec(input_height=16, input_width=24, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)))
    assert (spec.grid_h, spec.grid_w, spec.num_cells, spec.num_anchors) == (2, 3, 6, 2)
    # row-major: cell s = row * 3 + col, origin (col * 8, row * 8)
    np.testing.assert_array_equal(spec.cell_origins(), [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]])
    np.testing.assert_allclose(spec.anchor_pixels()[5], [[20, 12], [18, 14]])  # cell (1, 2)
    assert spec.anchor_pixels().shape == (6, 2, 2) and spec.anchor_array().dtype == np.float32


def test_cell_units_hand_computed_and_round_trip():
    spec = GridSpec(input_height=16, input_width=24, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)))
    # pixel (30, 2) relative to cell 0 (origin 0, 0) is (3.75, 0.25); relative to cell 4 (8, 8): (2.75, -0.75)
    np.testing.assert_allclose(spec.to_cell_units([[30, 2], [30, 2]], [0, 4]), [[3.75, 0.25], [2.75, -0.75]])
    # [B, S, A, 2] in cell units -> pixels: zeros land on the cell origins, (1, 1) one stride further
    pts = np.zeros((1, 6, 2, 2), np.float32)
    pts[0, 5, 1] = [1.0, 1.0]
    px = spec.to_pixels(pts)
    np.testing.assert_allclose(px[0, 5], [[16, 8], [24, 16]])
    np.testing.assert_allclose(px[0, 3, 0], [0, 8])
    # [S, 2] (one point per cell) works too, and anchors in cell units land on anchor_pixels
    np.testing.assert_allclose(
        spec.to_pixels(np.tile(spec.anchor_array()[None], (6, 1, 1))), spec.anchor_pixels()
    )
    cells = np.array([0, 2, 5])
    p = np.array([[1.0, 2.0], [20.5, 3.0], [23.0, 15.0]])
    back = spec.to_cell_units(p, cells) * spec.stride + spec.cell_origins()[cells]
    np.testing.assert_allclose(back, p, atol=1e-5)


def test_defaults_are_the_method_s_five_anchors():
    spec = GridSpec()
    assert (spec.input_width, spec.input_height, spec.stride, spec.num_classes) == (512, 320, 8, 7)
    assert (spec.grid_w, spec.grid_h, spec.num_cells) == (64, 40, 2560)
    assert (
        spec.anchors
        == DEFAULT_ANCHORS
        == ((0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))
    )


def test_grid_rejects_bad_specs():
    with pytest.raises(ValueError, match="multiple of stride"):
        GridSpec(input_height=20, input_width=24, stride=8)
    with pytest.raises(ValueError, match="multiple of stride"):
        GridSpec(input_height=16, input_width=16, stride=0)
    with pytest.raises(ValueError, match="anchors"):
        GridSpec(anchors=((0.5, 1.5),))
    with pytest.raises(ValueError, match="anchors"):
        GridSpec(anchors=())
    with pytest.raises(ValueError, match="num_classes"):
        GridSpec(num_classes=1)


def test_json_round_trip_normalises_lists():
    spec = GridSpec(input_height=32, input_width=64, stride=16, anchors=((0.5, 0.5), (0, 1)), num_classes=3)
    d = spec.to_json()
    assert d == {"input_height": 32, "input_width": 64, "stride": 16, "anchors": [[0.5, 0.5], [0.0, 1.0]],
                 "num_classes": 3}  # fmt: skip
    assert GridSpec.from_json(d) == spec
    # lists (as YAML gives them) compare equal to tuples
    assert GridSpec(32, 64, 16, [[0.5, 0.5], [0, 1]], 3) == spec


def test_grid_accepts_the_edges_of_its_valid_ranges():
    # anchors on the cell border (u or v exactly 0 or 1), two classes (background + one), stride 1
    spec = GridSpec(input_height=4, input_width=6, stride=1, anchors=((1.0, 0.0), (0.0, 1.0)), num_classes=2)
    assert (spec.grid_h, spec.grid_w, spec.num_anchors, spec.num_classes) == (4, 6, 2, 2)
    with pytest.raises(ValueError, match="anchors"):
        GridSpec(anchors=((1.5, 0.5),))  # u outside [0, 1]
    with pytest.raises(ValueError, match=r"^num_classes counts background plus at least one landmark class$"):
        GridSpec(num_classes=1)


def test_to_pixels_takes_one_point_per_cell_with_or_without_a_batch_axis():
    spec = GridSpec(input_height=16, input_width=24, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)))
    # [S, 2]: cell s's (0.5, 0.25) lands at its origin + (4, 2); origins by hand, row-major
    origins = np.array([[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]], np.float32)
    pts = np.tile([0.5, 0.25], (6, 1))
    np.testing.assert_allclose(spec.to_pixels(pts), origins + [4, 2])
    # [B, S, 2] with B != S: the same per batch item, shape kept
    batch = np.stack([pts, np.zeros((6, 2))])
    px = spec.to_pixels(batch)
    assert px.shape == (2, 6, 2)
    np.testing.assert_allclose(px[0], origins + [4, 2])
    np.testing.assert_allclose(px[1], origins)
    assert spec.cell_origins().dtype == np.float32  # documented float32
