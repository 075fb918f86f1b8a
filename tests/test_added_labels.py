"""The project's own labels for a class a data set leaves out (GTSDB plates): hand-written files."""

import numpy as np
import pytest

from keras_lmk.data.added_labels import read_added_labels, with_added_labels
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError

TAX = load_taxonomy("korea")
AUX, SIGNAL, REG = TAX.class_id("auxiliary"), TAX.class_id("signal"), TAX.class_id("regulatory")


def write(tmp_path, rows, checked):
    csv = tmp_path / "plates.csv"
    csv.write_text("file;left;top;right;bottom\n" + "".join(r + "\n" for r in rows))
    (tmp_path / "plates_checked.txt").write_text("".join(c + "\n" for c in checked))
    return csv


def rec(name):
    return ImageRecord(f"/x/{name}", 100, 80, [[10, 10, 30, 30]], [[20, 20]], [REG], unlabelled=(AUX, SIGNAL))


def test_checked_images_get_the_plates_and_the_class_labelled(tmp_path):
    csv = write(tmp_path, ["a.jpg;40;50;60;58", "a.jpg;0;0;10;4"], ["a.jpg", "b.jpg"])
    table = read_added_labels(csv)
    assert sorted(table) == ["a.jpg", "b.jpg"] and table["b.jpg"].shape == (0, 4)
    a, b, c = with_added_labels([rec("a.jpg"), rec("b.jpg"), rec("c.jpg")], table, AUX, TAX)
    np.testing.assert_array_equal(a.classes, [REG, AUX, AUX])
    np.testing.assert_allclose(a.boxes[1:], [[40, 50, 60, 58], [0, 0, 10, 4]])
    np.testing.assert_allclose(a.points[1:], [[50, 54], [5, 2]])  # box centres (auxiliary: bbox centre)
    assert a.unlabelled == (SIGNAL,) and b.unlabelled == (SIGNAL,)  # b: checked, no plate = labelled
    assert b.num_landmarks == 1
    assert c.unlabelled == (AUX, SIGNAL) and c.num_landmarks == 1  # not checked: unchanged


@pytest.mark.parametrize(
    "rows, checked, problem",
    [
        (["a.jpg;40;50;60;58"], [], "not in plates_checked.txt"),
        (["a.jpg;40;50;60"], ["a.jpg"], ":2: malformed"),
        (["a.jpg;60;50;40;58"], ["a.jpg"], "no area"),
        (["a.jpg;40;x;60;58"], ["a.jpg"], "top"),
    ],
)
def test_malformed_label_files_are_refused_with_file_and_line(tmp_path, rows, checked, problem):
    with pytest.raises(DataError, match=problem):
        read_added_labels(write(tmp_path, rows, checked))


def test_missing_files_and_header_are_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_added_labels(tmp_path / "none.csv")
    csv = write(tmp_path, [], ["a.jpg"])
    (tmp_path / "plates_checked.txt").unlink()
    with pytest.raises(DataError, match="checked"):
        read_added_labels(csv)
    csv.write_text("a.jpg;1;2;3;4\n")
    (tmp_path / "plates_checked.txt").write_text("a.jpg\n")
    with pytest.raises(DataError, match="header"):
        read_added_labels(csv)


def test_a_plate_outside_its_image_is_refused(tmp_path):
    table = read_added_labels(write(tmp_path, ["a.jpg;90;70;140;79"], ["a.jpg"]))
    with pytest.raises(DataError):
        with_added_labels([rec("a.jpg")], table, AUX, TAX)


def test_the_shipped_plate_labels_load_onto_gtsdb():
    from keras_lmk.data.sources import LABELS_DIR

    table = read_added_labels(LABELS_DIR / "gtsdb_auxiliary.csv")
    assert all(f"{i:05d}.jpg" in table for i in range(500, 600))  # the validation split is fully checked
    assert sum(len(b) for b in table.values()) >= 20
