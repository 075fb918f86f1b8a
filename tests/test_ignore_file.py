"""The ignore-region file: written and read back, refused when malformed, applied to training records."""

import json

import numpy as np
import pytest

from keras_lmk.data.ignore_file import made_complete, read_ignore_file, write_ignore_file
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.validation import DataError


def test_written_ignore_files_read_back_box_for_box(tmp_path):
    table = {
        "gtsdb/b.jpg": [[1.5, 2.0, 3.0, 4.25]],
        "gtsdb/a.jpg": [],
        "lights/x.jpg": [[0, 0, 9, 9], [5, 5, 6, 7]],
    }
    path = tmp_path / "out.json"
    write_ignore_file(path, table, teacher="t.tflite", threshold=0.8, classes={"gtsdb": ["signal"]})
    back = read_ignore_file(path)
    assert sorted(back) == ["gtsdb/a.jpg", "gtsdb/b.jpg", "lights/x.jpg"]
    np.testing.assert_array_equal(back["gtsdb/b.jpg"], [[1.5, 2.0, 3.0, 4.25]])
    np.testing.assert_array_equal(back["lights/x.jpg"], [[0, 0, 9, 9], [5, 5, 6, 7]])
    assert back["gtsdb/a.jpg"].shape == (0, 4)
    doc = json.loads(path.read_text())
    assert (
        doc["teacher"] == "t.tflite" and doc["threshold"] == 0.8 and doc["classes"] == {"gtsdb": ["signal"]}
    )


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
    a, b = made_complete([record("a.jpg"), record("b.jpg")], "gtsdb", table, path)
    assert a.unlabelled == () and b.unlabelled == ()
    np.testing.assert_array_equal(a.ignore_boxes, [[50, 50, 60, 60], [10, 20, 30, 40], [0, 0, 5, 5]])
    np.testing.assert_array_equal(a.ignore_classes, [6, 0, 0])  # 0: ignored by every class
    np.testing.assert_array_equal(b.ignore_boxes, [[50, 50, 60, 60]])
    np.testing.assert_array_equal(a.boxes, [[1, 2, 3, 4]])  # landmarks untouched


def test_a_training_image_missing_from_the_file_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, {"gtsdb/a.jpg": []})
    with pytest.raises(DataError, match="gtsdb/b.jpg"):
        made_complete([record("b.jpg")], "gtsdb", read_ignore_file(path), path)
    with pytest.raises(DataError, match="markings/a.jpg"):  # same file name, other source
        made_complete([record("a.jpg")], "markings", read_ignore_file(path), path)


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
