"""ImageRecord: what every importer produces; shapes and dtypes normalised, per-landmark defaults filled."""

import dataclasses

import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord


def test_arrays_are_normalised_to_the_documented_shapes_and_dtypes():
    r = ImageRecord("/d/a.jpg", 64, 48, [1, 2, 11, 12, 3, 4, 13, 14], [[5, 6], [7, 8]], [2, 3])
    assert r.boxes.shape == (2, 4) and r.boxes.dtype == np.float32
    np.testing.assert_array_equal(r.boxes, [[1, 2, 11, 12], [3, 4, 13, 14]])
    assert r.points.shape == (2, 2) and r.points.dtype == np.float32
    assert r.classes.dtype == np.int32 and r.classes.tolist() == [2, 3] and r.num_landmarks == 2
    # per-landmark fields missing: map id -1, distance unknown (NaN)
    assert r.landmark_ids.dtype == np.int64 and r.landmark_ids.tolist() == [-1, -1]
    assert r.distances.dtype == np.float32 and np.isnan(r.distances).all() and len(r.distances) == 2
    assert (r.image_id, r.unlabelled) == (0, ())


def test_an_empty_image_and_given_per_landmark_fields():
    empty = ImageRecord("/d/b.jpg", 10, 10, np.zeros((0,)), [], [])
    assert (empty.boxes.shape, empty.points.shape, empty.classes.shape) == ((0, 4), (0, 2), (0,))
    assert empty.num_landmarks == 0
    r = ImageRecord("/d/c.jpg", 10, 10, [[0, 0, 1, 1]], [[0.5, 0.5]], [1], landmark_ids=np.array([7]),
                    distances=np.array([12.5], np.float32))  # fmt: skip
    assert r.landmark_ids.tolist() == [7] and r.distances.tolist() == [12.5]
    with pytest.raises(ValueError):  # three points for two classes
        ImageRecord("/d/d.jpg", 10, 10, np.zeros((2, 4)), np.zeros((3, 2)), [1, 2])


def test_with_unlabelled_is_sorted_unique_and_leaves_the_original():
    r = ImageRecord("/d/a.jpg", 10, 10, [[0, 0, 1, 1]], [[0.5, 0.5]], [1])
    r2 = r.with_unlabelled([5, 3, 5, np.int64(4)])
    assert r2.unlabelled == (3, 4, 5) and all(type(c) is int for c in r2.unlabelled)
    assert r.unlabelled == () and r2.image_path == r.image_path
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.width = 20
