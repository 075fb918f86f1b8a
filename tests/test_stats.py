"""Dataset statistics on hand-built records with hand-computed counts and box sizes."""

import math

import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.stats import dataset_stats
from keras_lmk.data.taxonomy import load_taxonomy

TAX = load_taxonomy("korea")  # background, warning, regulatory, indicating, auxiliary, signal, road_marking


def rec(boxes, classes):
    return ImageRecord("/x.jpg", 100, 100, np.array(boxes, float).reshape(-1, 4), np.zeros((len(classes), 2)),
                       classes)  # fmt: skip


def test_counts_and_box_sizes_hand_computed():
    recs = [
        rec([[0, 0, 4, 9], [10, 10, 20, 20]], [1, 6]),  # sizes sqrt(36) = 6 and 10
        rec([], []),  # a negative image
        rec([[0, 0, 2, 8]], [1]),  # size 4
    ]
    s = dataset_stats(recs, TAX)
    assert (s["images"], s["negative_images"], s["landmarks"]) == (3, 1, 3)
    assert s["per_class"] == {"warning": 2, "regulatory": 0, "indicating": 0, "auxiliary": 0, "signal": 0,
                              "road_marking": 1}  # fmt: skip
    assert s["box_size_px"] == {"min": 4.0, "median": 6.0, "max": 10.0}
    # a degenerate (inverted) box counts as size 0, not NaN
    assert dataset_stats([rec([[5, 5, 3, 9]], [2])], TAX)["box_size_px"]["min"] == 0.0


def test_empty_dataset():
    s = dataset_stats([], TAX)
    assert (s["images"], s["negative_images"], s["landmarks"], s["box_size_px"]) == (0, 0, 0, {})
    assert set(s["per_class"]) == set(TAX.names[1:]) and not any(s["per_class"].values())
    assert math.isfinite(dataset_stats([rec([[0, 0, 3, 12]], [3])], TAX)["box_size_px"]["median"])
    assert dataset_stats([rec([[0, 0, 3, 12]], [3])], TAX)["box_size_px"]["median"] == pytest.approx(6.0)
