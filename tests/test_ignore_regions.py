"""Complete negatives: a teacher's cell probabilities -> ignore boxes (hand-computed grids), and the
ignore-region file applied to training records."""

import json

import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.sources import ignore_classes, read_ignore_file, with_ignore_regions
from keras_lmk.data.validation import DataError
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


def record(name, unlabelled=(4, 5)):
    return ImageRecord(
        f"/data/gtsdb-train/{name}",
        100,
        80,
        [[1, 2, 3, 4]],
        [[2, 3]],
        [1],
        unlabelled=unlabelled,
        ignore_boxes=[[50, 50, 60, 60]],
        ignore_classes=[6],
    )


def write(tmp_path, images, fmt="keras_lmk.ignore_regions/1"):
    path = tmp_path / "ign.json"
    path.write_text(json.dumps({"format": fmt, "images": images}))
    return path


def test_records_made_complete_keep_their_own_ignore_regions(tmp_path):
    path = write(tmp_path, {"gtsdb/a.jpg": [[10, 20, 30, 40], [0, 0, 5, 5]], "gtsdb/b.jpg": []})
    table = read_ignore_file(path)
    a, b = with_ignore_regions([record("a.jpg"), record("b.jpg")], "gtsdb", table, path)
    assert a.unlabelled == () and b.unlabelled == ()
    np.testing.assert_array_equal(a.ignore_boxes, [[50, 50, 60, 60], [10, 20, 30, 40], [0, 0, 5, 5]])
    np.testing.assert_array_equal(a.ignore_classes, [6, 0, 0])  # 0: ignored by every class
    np.testing.assert_array_equal(b.ignore_boxes, [[50, 50, 60, 60]])
    np.testing.assert_array_equal(a.boxes, [[1, 2, 3, 4]])  # landmarks untouched


def test_a_training_image_missing_from_the_file_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, {"gtsdb/a.jpg": []})
    with pytest.raises(DataError, match="gtsdb/b.jpg"):
        with_ignore_regions([record("b.jpg")], "gtsdb", read_ignore_file(path), path)
    with pytest.raises(DataError, match="markings/a.jpg"):  # same file name, other source
        with_ignore_regions([record("a.jpg")], "markings", read_ignore_file(path), path)


@pytest.mark.parametrize(
    "images, fmt, problem",
    [
        ({}, "other/1", "format"),
        ({"gtsdb/a.jpg": [[10, 20, 5, 40]]}, "keras_lmk.ignore_regions/1", "x1 >= x0"),
        ({"gtsdb/a.jpg": [[1, 2, 3]]}, "keras_lmk.ignore_regions/1", "ign.json"),
    ],
)
def test_malformed_ignore_files_are_refused_by_name(tmp_path, images, fmt, problem):
    with pytest.raises(DataError, match=problem):
        read_ignore_file(write(tmp_path, images, fmt))
    with pytest.raises(DataError, match="not found"):
        read_ignore_file(tmp_path / "missing.json")


def test_the_shipped_ignore_file_covers_every_real_training_image():
    from keras_lmk.data.sources import LABELS_DIR

    table = read_ignore_file(LABELS_DIR / "ignore_regions_real_v20.json")
    assert sum(k.startswith("gtsdb/") for k in table) == 500  # 00000-00499
    assert "markings/roadmark_0956.jpg" in table and "gtsdb/00500.jpg" not in table
