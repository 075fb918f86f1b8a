"""Deterministic train/val split by image, independent of the order records arrive in."""

import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.splits import split_records


def _recs(n):
    return [
        ImageRecord(f"/d/{i:03d}.jpg", 10, 10, np.zeros((0, 4)), np.zeros((0, 2)), np.zeros(0))
        for i in range(n)
    ]


def paths(recs):
    return [r.image_path for r in recs]


def test_split_is_deterministic_by_image_and_order_free():
    recs = _recs(10)
    train, val = split_records(recs, 0.2, seed=0)
    assert len(val) == 2 and len(train) == 8
    assert set(paths(train)) | set(paths(val)) == set(paths(recs)) and not set(paths(train)) & set(paths(val))
    assert paths(train) == sorted(paths(train)) and paths(val) == sorted(paths(val))  # input order kept
    again = split_records(recs[::-1], 0.2, seed=0)[1]  # same images whatever the input order
    assert set(paths(again)) == set(paths(val))
    other = [split_records(recs, 0.2, seed=s)[1] for s in range(1, 6)]
    assert any(set(paths(v)) != set(paths(val)) for v in other)


def test_val_images_are_the_seeded_permutation_of_the_sorted_paths():
    recs = _recs(10)[::-1]  # arrive in reverse
    # reference: sort by path, take the first round(0.3 * 10) = 3 of numpy's seeded permutation
    perm = np.random.default_rng(4).permutation(10)
    want = {f"/d/{j:03d}.jpg" for j in perm[:3]}
    assert set(paths(split_records(recs, 0.3, seed=4)[1])) == want


def test_fraction_bounds():
    recs = _recs(10)
    assert split_records(recs, 0.0, 0)[1] == [] and split_records(recs, 1.0, 0)[0] == []
    assert len(split_records(recs, 0.04, 0)[1]) == 0  # round(0.4) = 0: no image rather than a partial one
    assert split_records([], 0.5, 0) == ([], [])
    with pytest.raises(ValueError, match="val_fraction"):
        split_records(recs, 1.5, 0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_records(recs, -0.1, 0)
