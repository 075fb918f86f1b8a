"""The project's own labels of several landmark classes (boxes and outlines; the Korean street photos):
hand-written files, numbers worked out by hand."""

import dataclasses

import cv2
import numpy as np
import pytest

from keras_lmk.data.landmark_labels import HEADER, read_landmark_labels, with_landmark_labels
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError

TAX = load_taxonomy("korea")
WARN, REG, IND, AUX, SIGNAL, MARK = (
    TAX.class_id(n) for n in ("warning", "regulatory", "indicating", "auxiliary", "signal", "road_marking")
)
FIVE = ("warning", "regulatory", "indicating", "auxiliary", "road_marking")


def write(tmp_path, rows, checked, name="marks"):
    csv = tmp_path / f"{name}.csv"
    csv.write_text(HEADER + "\n" + "".join(r + "\n" for r in rows))
    (tmp_path / f"{name}_checked.txt").write_text("".join(c + "\n" for c in checked))
    return csv


def light(name):
    """A light photo's record as the lights source makes it: one signal, the five other classes unlabelled."""
    return ImageRecord(
        f"/x/{name}",
        100,
        80,
        [[10, 10, 14, 20]],
        [[12, 15]],
        [SIGNAL],
        unlabelled=(WARN, REG, IND, AUX, MARK),
    )


def test_a_hand_made_file_gives_the_expected_records(tmp_path):
    rows = [
        "a.jpg;regulatory;box;40 10 60 30",
        "a.jpg;auxiliary;box;41 31 59 37.5",
        # a slanted crosswalk half: the two lowest vertices are (70, 76) and (95, 70); the right one is the
        # lower-right end, although the box's corner (95, 76) is no vertex
        "a.jpg;road_marking;polygon;72 60 90 58 95 70 70 76",
    ]
    table = read_landmark_labels(write(tmp_path, rows, ["a.jpg", "b.jpg"]), TAX, FIVE)
    assert sorted(table.images) == ["a.jpg", "b.jpg"]
    a, b, c = with_landmark_labels([light("a.jpg"), light("b.jpg"), light("c.jpg")], table)
    np.testing.assert_array_equal(a.classes, [SIGNAL, REG, AUX, MARK])
    np.testing.assert_allclose(
        a.boxes, [[10, 10, 14, 20], [40, 10, 60, 30], [41, 31, 59, 37.5], [70, 58, 95, 76]]
    )
    np.testing.assert_allclose(a.points, [[12, 15], [50, 20], [50, 34.25], [95, 70]])
    np.testing.assert_array_equal(a.landmark_ids, [-1] * 4)
    assert a.ignore_boxes.shape == (0, 4) and np.isnan(a.distances[1:]).all()
    assert a.unlabelled == () and b.unlabelled == ()  # b: checked, nothing there = the five classes labelled
    assert b.num_landmarks == 1
    assert c is not None and c.unlabelled == (WARN, REG, IND, AUX, MARK) and c.num_landmarks == 1


def test_an_unchecked_image_is_unchanged(tmp_path):
    table = read_landmark_labels(write(tmp_path, ["a.jpg;warning;box;1 1 9 9"], ["a.jpg"]), TAX, FIVE)
    rec = light("z.jpg")
    (out,) = with_landmark_labels([rec], table)
    assert out is rec


def test_an_unlabelled_class_the_file_does_not_cover_stays_unlabelled(tmp_path):
    # the file labels only signs: road_marking stays unlabelled on its checked images
    table = read_landmark_labels(write(tmp_path, ["a.jpg;warning;box;1 1 9 9"], ["a.jpg"]), TAX, ("warning",))
    (a,) = with_landmark_labels([light("a.jpg")], table)
    assert a.unlabelled == (REG, IND, AUX, MARK)


def test_a_quad_reference_point_is_its_lower_right_end_and_signs_their_centre(tmp_path):
    rows = [
        # a marking seen from the lane, its lowest edge slanting up to the right: lowest vertices (10, 79.5)
        # and (60, 75); the right one is the end, not the lowest point
        "a.jpg;road_marking;polygon;20 50 55 52 60 75 10 79.5",
        # a triangle outlined as a polygon: the box centre of its outline (signs: bbox_center)
        "a.jpg;warning;polygon;30 10 40 28 20 28",
        "a.jpg;road_marking;box;5 60 25 70",  # a marking given as a box: its lower-right corner
    ]
    table = read_landmark_labels(write(tmp_path, rows, ["a.jpg"]), TAX, FIVE)
    (a,) = with_landmark_labels([light("a.jpg")], table)
    np.testing.assert_allclose(a.points[1:], [[60, 75], [30, 19], [25, 70]])
    np.testing.assert_allclose(a.boxes[1:], [[10, 50, 60, 79.5], [20, 10, 40, 28], [5, 60, 25, 70]])


def test_an_ignore_box_becomes_an_ignore_region_of_its_class(tmp_path):
    # a crosswalk cut by the bottom edge (its lower-right end is not in the image) and a sign cut by the top
    rows = ["a.jpg;road_marking;ignore;0 60 100 80", "a.jpg;regulatory;ignore;50 0 70 12.5"]
    table = read_landmark_labels(write(tmp_path, rows, ["a.jpg"]), TAX, FIVE)
    (a,) = with_landmark_labels([light("a.jpg")], table)
    assert a.num_landmarks == 1 and a.unlabelled == ()
    np.testing.assert_allclose(a.ignore_boxes, [[0, 60, 100, 80], [50, 0, 70, 12.5]])
    np.testing.assert_array_equal(a.ignore_classes, [MARK, REG])
    with pytest.raises(DataError, match=r"marks\.csv:2: .*4 numbers"):
        read_landmark_labels(write(tmp_path, ["a.jpg;road_marking;ignore;0 60 100"], ["a.jpg"]), TAX, FIVE)
    table = read_landmark_labels(write(tmp_path, ["a.jpg;warning;ignore;90 60 120 80"], ["a.jpg"]), TAX, FIVE)
    with pytest.raises(DataError, match=r"marks\.csv:2: box outside the image"):
        with_landmark_labels([light("a.jpg")], table)


@pytest.mark.parametrize(
    "rows, checked, problem",
    [
        (["a.jpg;warning;box;1 1 9 9"], [], r"marks\.csv:2: a\.jpg is not in marks_checked\.txt"),
        (["a.jpg;warning;box;1 1 9"], ["a.jpg"], r"marks\.csv:2: .*4 numbers"),
        (["a.jpg;warning;box 1 1 9 9"], ["a.jpg"], r"marks\.csv:2: malformed line"),
        (["a.jpg;warning;circle;1 1 9 9"], ["a.jpg"], r"marks\.csv:2: unknown shape 'circle'"),
        (["a.jpg;warning;box;9 1 1 9"], ["a.jpg"], r"marks\.csv:2: .*no area"),
        (["a.jpg;warning;box;1 x 9 9"], ["a.jpg"], r"marks\.csv:2: malformed"),
        (["a.jpg;road_marking;polygon;1 1 9 1 9"], ["a.jpg"], r"marks\.csv:2: .*pairs"),
        (["a.jpg;road_marking;polygon;1 1 9 1"], ["a.jpg"], r"marks\.csv:2: .*at least 3"),
        (["a.jpg;road_marking;polygon;1 1 9 1 5 1"], ["a.jpg"], r"marks\.csv:2: .*no area"),
        (["a.jpg;guide_board;box;1 1 9 9"], ["a.jpg"], r"marks\.csv:2: class 'guide_board'"),
        # a class the file does not label (the lights are the data set's own)
        (["a.jpg;signal;box;1 1 9 9"], ["a.jpg"], r"marks\.csv:2: class 'signal'"),
        (["a.jpg;warning;box;1 1 9 9", "", "a.jpg;warning;box;nan 1 9 9"], ["a.jpg"], r"marks\.csv:4: "),
    ],
)
def test_a_malformed_line_is_refused_naming_the_file_and_line(tmp_path, rows, checked, problem):
    with pytest.raises(DataError, match=problem):
        read_landmark_labels(write(tmp_path, rows, checked), TAX, FIVE)


def test_missing_files_header_and_classes_are_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_landmark_labels(tmp_path / "none.csv", TAX, FIVE)
    csv = write(tmp_path, [], ["a.jpg"])
    with pytest.raises(DataError, match="not in taxonomy"):
        read_landmark_labels(csv, TAX, ("warning", "lane_line"))
    (tmp_path / "marks_checked.txt").unlink()
    with pytest.raises(DataError, match="checked"):
        read_landmark_labels(csv, TAX, FIVE)
    csv.write_text("a.jpg;warning;box;1 1 9 9\n")
    (tmp_path / "marks_checked.txt").write_text("a.jpg\n")
    with pytest.raises(DataError, match=r"marks\.csv:1: .*header"):
        read_landmark_labels(csv, TAX, FIVE)


def test_a_label_outside_its_image_is_refused_naming_the_line(tmp_path):
    rows = ["a.jpg;warning;box;1 1 9 9", "a.jpg;road_marking;polygon;80 60 104 60 104 79 80 79"]
    table = read_landmark_labels(write(tmp_path, rows, ["a.jpg"]), TAX, FIVE)
    with pytest.raises(DataError, match=r"marks\.csv:3: box outside the image"):
        with_landmark_labels([light("a.jpg")], table)
    # within the 1 px tolerance it is clipped, the point too
    rows[1] = "a.jpg;road_marking;polygon;80 60 100.5 60 100.5 79 80 79"
    table = read_landmark_labels(write(tmp_path, rows, ["a.jpg"]), TAX, FIVE)
    (a,) = with_landmark_labels([light("a.jpg")], table)
    np.testing.assert_allclose(a.boxes[-1], [80, 60, 100, 79])
    np.testing.assert_allclose(a.points[-1], [100, 79])


def test_the_lights_source_reads_the_labels_when_switched_on(tmp_path):
    from keras_lmk.data.lamp_snap import snap_record
    from keras_lmk.data.sources import lights_split
    from keras_lmk.training.config import DataConfig

    img, lab = tmp_path / "images", tmp_path / "labels"
    img.mkdir()
    lab.mkdir()
    for p in range(10):  # 10 photos x 3 copies; the last 2 photos validate
        for c in range(3):
            stem = f"photo{p}_jpg.rf.{c:032x}"
            # a lit red lamp at x 12-16 beside its labelled box (x 8-12), and a red patch right of a dark sign
            # box (x 20-30): the lamp snap moves a box onto such a patch
            im = np.zeros((60, 60, 3), np.uint8)
            im[10:20, 12:16] = (0, 0, 255)
            im[30:40, 30:40] = (0, 0, 255)
            cv2.imwrite(str(img / f"{stem}.png"), im)
            (lab / f"{stem}.txt").write_text(f"2 {10 / 60} {15 / 60} {4 / 60} {10 / 60}\n")
    first, last = "photo0_jpg.rf." + "0" * 32 + ".png", "photo9_jpg.rf." + "0" * 31 + "2.png"
    csv = write(
        tmp_path, [f"{first};regulatory;box;20 30 30 40", f"{last};warning;box;2 2 8 8"], [first, last]
    )
    off_train, off_val = lights_split(DataConfig(lights_dir=str(tmp_path), lights_snap=True), TAX)
    train, val = lights_split(DataConfig(lights_dir=str(tmp_path), lights_snap=True, kr_labels=str(csv)), TAX)
    assert [r.image_path for r in train] == [r.image_path for r in off_train]
    assert all(r.unlabelled == (WARN, REG, IND, AUX, MARK) for r in off_train + off_val)
    by_name = {r.image_path.rsplit("/", 1)[-1]: r for r in train + val}
    a, z = by_name[first], by_name[last]
    assert a.unlabelled == () and z.unlabelled == ()
    np.testing.assert_array_equal(a.classes, [SIGNAL, REG])
    np.testing.assert_allclose(a.boxes[1], [20, 30, 30, 40])  # the lamp snap never moves a sign
    np.testing.assert_allclose(a.points[1], [25, 35])
    assert not np.allclose(
        snap_record(
            dataclasses.replace(a, boxes=a.boxes[1:], points=a.points[1:], classes=a.classes[1:])
        ).boxes,
        [[20, 30, 30, 40]],
    )
    assert z in val and z.classes.tolist() == [SIGNAL, WARN]
    others = [r for r in train + val if r not in (a, z)]
    assert len(others) == 28 and all(r.unlabelled == (WARN, REG, IND, AUX, MARK) for r in others)


def test_the_shipped_korean_labels_load_onto_the_light_photos():
    from keras_lmk.data.sources import LABELS_DIR, UNLABELLED

    table = read_landmark_labels(LABELS_DIR / "kr_landmarks.csv", TAX, UNLABELLED["lights"])
    assert len(table.images) == 264  # all 88 scenes x 3 copies checked
    classes = {int(c) for labels in table.images.values() for c in labels.classes}
    assert classes == {WARN, REG, IND, AUX, MARK}
