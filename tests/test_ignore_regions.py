"""Complete negatives: a teacher's cell probabilities -> ignore boxes (hand-computed grids)."""

import numpy as np
import pytest

from keras_lmk.data.sources import ignore_classes
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.ignore_regions import cell_probabilities, ignore_boxes

# 6 x 4 cells of 8 px, 4 classes (background + 3)
SPEC = GridSpec(input_height=32, input_width=48, stride=8, num_classes=4)


def probs_with(cells_by_class: dict[int, list[tuple[int, int]]], p=0.8) -> np.ndarray:
    """[S, M]: background 1 everywhere except the given (row, col) cells, where class c has ``p``."""
    out = np.zeros((SPEC.num_cells, SPEC.num_classes), np.float32)
    out[:, 0] = 1.0
    for c, cells in cells_by_class.items():
        for r, col in cells:
            s = r * SPEC.grid_w + col
            out[s] = 0.0
            out[s, 0], out[s, c] = 1 - p, p
    return out


def test_cell_probabilities_is_the_anchor_mean_of_softmaxes():
    logits = np.zeros((SPEC.num_cells, 2, 4), np.float32)
    logits[0, 0] = [np.log(3), 0, 0, 0]  # softmax [0.5, 1/6, 1/6, 1/6]
    logits[0, 1] = [0, 0, 0, np.log(5)]  # softmax [1/8, 1/8, 1/8, 5/8]
    p = cell_probabilities(logits)
    np.testing.assert_allclose(
        p[0], [(0.5 + 0.125) / 2, (1 / 6 + 1 / 8) / 2, (1 / 6 + 1 / 8) / 2, (1 / 6 + 5 / 8) / 2], rtol=1e-6
    )
    np.testing.assert_allclose(p[1], [0.25] * 4, rtol=1e-6)


def test_one_box_per_connected_group_grown_by_a_cell():
    # class 2 on cells (1, 1) and (2, 2) (diagonal: one 8-connected group); class 3 on (0, 5)
    probs = probs_with({2: [(1, 1), (2, 2)], 3: [(0, 5)]})
    boxes = ignore_boxes(probs, SPEC, classes=[2, 3], threshold=0.5, grow_cells=1)
    # group rows 1-2, cols 1-2 grown to rows 0-3, cols 0-3 -> px [0, 0, 32, 32]; (0, 5) -> cols 4-5 (clipped
    # at 6), rows 0-1 -> [32, 0, 48, 16]; sorted by (y0, x0)
    np.testing.assert_array_equal(boxes, [[0, 0, 32, 32], [32, 0, 48, 16]])


def test_only_the_named_classes_at_or_above_the_threshold_count():
    probs = probs_with({1: [(3, 0)], 2: [(1, 4)]}, p=0.5)
    np.testing.assert_array_equal(ignore_boxes(probs, SPEC, [2], 0.5, grow_cells=0), [[32, 8, 40, 16]])
    assert ignore_boxes(probs, SPEC, [2], 0.51).shape == (0, 4)  # 0.5 < 0.51
    assert ignore_boxes(probs, SPEC, [], 0.5).shape == (0, 4)


def test_ignore_boxes_refuses_bad_arguments():
    probs = probs_with({})
    with pytest.raises(ValueError, match="threshold"):
        ignore_boxes(probs, SPEC, [1], 0.0)
    with pytest.raises(ValueError, match="classes"):
        ignore_boxes(probs, SPEC, [0], 0.5)
    with pytest.raises(ValueError, match="probs"):
        ignore_boxes(probs[:5], SPEC, [1], 0.5)


def test_markings_also_ignore_their_unoutlined_markings():
    assert "road_marking" in ignore_classes("markings") and "signal" in ignore_classes("markings")
    assert "road_marking" in ignore_classes("gtsdb") and "warning" not in ignore_classes("gtsdb")
    assert ignore_classes("synthetic") == ()
