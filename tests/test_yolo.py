"""YOLO import: normalised boxes to pixels by hand, mapping files, pose keypoint, bad lines."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport
from keras_lmk.data.yolo import load_yolo, load_yolo_mapping

FIXTURE = Path(__file__).parent / "fixtures" / "yolo_tiny"
TAX = load_taxonomy("korea")  # 1 warning, 6 road_marking (lower-right rule)


def test_tiny_fixture_by_hand():
    a, b = load_yolo(FIXTURE, TAX, FIXTURE / "names.txt")
    assert (a.width, a.height) == (40, 30) and Path(a.image_path).name == "a.jpg"
    np.testing.assert_array_equal(a.classes, [1, 6, 6])
    # 0.5 0.5 0.25 0.2 on 40x30 -> centre (20, 15), size 10x6; 0.75 0.5 0.2 0.2 -> centre (30, 15), 8x6
    np.testing.assert_allclose(a.boxes, [[15, 12, 25, 18], [0, 9, 20, 21], [26, 12, 34, 18]], atol=1e-5)
    # warning: centre; road marking: lower-right corner; pose keypoint (0.85, 0.6) wins over the rule
    np.testing.assert_allclose(a.points, [[20, 15], [20, 21], [34, 18]], atol=1e-5)
    assert b.num_landmarks == 0  # no label file: negative


def test_mapping_files(tmp_path):
    expected = {0: 1, 1: 6}
    assert load_yolo_mapping(FIXTURE / "names.txt", TAX) == expected
    (tmp_path / "m.json").write_text(json.dumps({"mapping": {"0": "warning", "1": "road_marking"}}))
    assert load_yolo_mapping(tmp_path / "m.json", TAX) == expected
    (tmp_path / "n.json").write_text(json.dumps({"names": ["warning", "road_marking"]}))
    assert load_yolo_mapping(tmp_path / "n.json", TAX) == expected
    (tmp_path / "d.yaml").write_text("names:\n  0: warning\n  1: road_marking\n")
    assert load_yolo_mapping(tmp_path / "d.yaml", TAX) == expected
    (tmp_path / "broken.json").write_text('{"names": [\n"warning",]}')
    with pytest.raises(DataError, match="broken.json:2: invalid JSON"):
        load_yolo_mapping(tmp_path / "broken.json", TAX)
    (tmp_path / "bad.txt").write_text("warning\ncar\n")
    with pytest.raises(DataError, match="'car' is not in taxonomy"):
        load_yolo_mapping(tmp_path / "bad.txt", TAX)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("2 0.5 0.5 0.1 0.1", "unknown class 2"),
        ("x 0.5 0.5 0.1 0.1", "malformed class"),
        ("0 0.5 0.5 0.1", "malformed line"),
        ("0 0.99 0.5 0.2 0.2", "box outside the image"),
        ("0 0.5 nan 0.1 0.1", "non-finite cy"),
        ("0 0.5 0.5 0 0.1", "empty box"),
        ("0 0.5 0.5 0.1 0.1 0.5 oops 2", "malformed py"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, problem):
    d = shutil.copytree(FIXTURE, tmp_path / "y")
    with open(d / "labels" / "a.txt", "a") as f:
        f.write(line + "\n")  # line 4
    with pytest.raises(DataError, match=problem) as e:
        load_yolo(d, TAX, d / "names.txt")
    assert str(e.value).startswith(f"{d / 'labels' / 'a.txt'}:4: ")
    report = LoadReport()
    recs = load_yolo(d, TAX, d / "names.txt", skip_bad=True, report=report)
    assert [Path(r.image_path).name for r in recs] == ["b.jpg"] and report.count == 1


def test_missing_and_unreadable_images(tmp_path):
    d = shutil.copytree(FIXTURE, tmp_path / "y")
    (d / "labels" / "c.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DataError, match="label file has no image"):
        load_yolo(d, TAX, d / "names.txt")
    (d / "labels" / "c.txt").unlink()
    (d / "images" / "b.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable image") as e:
        load_yolo(d, TAX, d / "names.txt")
    assert "b.jpg" in str(e.value)


def test_polygon_lines_by_hand(tmp_path):
    d = shutil.copytree(FIXTURE, tmp_path / "y")
    # image a.jpg is 40x30. A warning triangle (0.25,0.2) (0.5,0.8) (0.75,0.2) -> px (10,6) (20,24) (30,6):
    # box [10, 6, 30, 24], centre (20, 15). A road-marking quad (0.1,0.5) (0.5,0.4) (0.6,0.9) (0.2,1.0) ->
    # px (4,15) (20,12) (24,27) (8,30): lowest two (8,30), (24,27) -> lower-right end (24, 27)
    (d / "labels" / "a.txt").write_text("0 0.25 0.2 0.5 0.8 0.75 0.2\n1 0.1 0.5 0.5 0.4 0.6 0.9 0.2 1.0\n")
    a, _ = load_yolo(d, TAX, d / "names.txt")
    np.testing.assert_array_equal(a.classes, [1, 6])
    np.testing.assert_allclose(a.boxes, [[10, 6, 30, 24], [4, 12, 24, 30]], atol=1e-4)
    np.testing.assert_allclose(a.points, [[20, 15], [24, 27]], atol=1e-4)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("0 0.1 0.1 0.5 0.5 0.9", "malformed line"),  # 5 coordinates: no polygon, no box
        ("0 0.1 0.1 0.5 0.5 0.9 x 0.3 0.3", "malformed y3 'x'"),
        ("0 0.1 0.1 0.5 0.5 1.9 0.9", "box outside the image"),
    ],
)
def test_bad_polygon_line(tmp_path, line, problem):
    d = shutil.copytree(FIXTURE, tmp_path / "y")
    (d / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DataError, match=problem) as e:
        load_yolo(d, TAX, d / "names.txt")
    assert str(e.value).startswith(f"{d / 'labels' / 'a.txt'}:2: ")


def test_packaged_light_mapping():
    assert load_yolo_mapping("traffic_light_kr_to_korea", TAX) == {0: 5, 1: 5, 2: 5, 3: 5}


def _copy(tmp_path):
    return shutil.copytree(FIXTURE, tmp_path / "y")


def test_records_are_numbered_1_to_n_in_image_path_order_and_a_dict_mapping_works(tmp_path):
    recs = load_yolo(FIXTURE, TAX, {0: 1, 1: 6})
    assert [(Path(r.image_path).name, r.image_id) for r in recs] == [("a.jpg", 1), ("b.jpg", 2)]
    np.testing.assert_array_equal(recs[0].classes, [1, 6, 6])


def test_images_directly_in_the_folder_and_a_separate_labels_dir(tmp_path):
    # DATASET/a.jpg + DATASET/labels/a.txt (no images/ folder): names.txt beside them is not an image
    d = tmp_path / "flat"
    d.mkdir()
    shutil.copy(FIXTURE / "images" / "a.jpg", d / "a.jpg")
    shutil.copytree(FIXTURE / "labels", d / "labels")
    shutil.copy(FIXTURE / "names.txt", d / "names.txt")
    (rec,) = load_yolo(d, TAX, d / "names.txt")
    assert Path(rec.image_path).name == "a.jpg" and rec.num_landmarks == 3
    # labels_dir elsewhere: the folder's own labels/ is not read
    other = tmp_path / "other_labels"
    other.mkdir()
    (other / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")  # one warning, box [10, 7.5, 30, 22.5]
    (rec,) = load_yolo(d, TAX, d / "names.txt", labels_dir=other)
    np.testing.assert_allclose(rec.boxes, [[10, 7.5, 30, 22.5]])
    # a stray non-image file among the images is skipped
    d2 = _copy(tmp_path)
    (d2 / "images" / "notes.md").write_text("not an image")
    assert len(load_yolo(d2, TAX, d2 / "names.txt")) == 2


def test_blank_lines_inside_a_label_file_are_skipped(tmp_path):
    d = _copy(tmp_path)
    (d / "labels" / "a.txt").write_text("0 0.5 0.5 0.25 0.2\n\n   \n1 0.25 0.5 0.5 0.4\n")
    a, _ = load_yolo(d, TAX, d / "names.txt")
    np.testing.assert_array_equal(a.classes, [1, 6])


@pytest.mark.parametrize("v, used", [(0, False), (1, True), (2, True)])
def test_a_pose_keypoint_is_the_reference_point_when_its_visibility_is_positive(tmp_path, v, used):
    d = _copy(tmp_path)
    # a road marking box [10, 9, 30, 21] (rule point: its lower-right corner (30, 21)); keypoint (0.5, 0.5)
    # on 40x30 -> (20, 15)
    (d / "labels" / "a.txt").write_text(f"1 0.5 0.5 0.5 0.4 0.5 0.5 {v}\n")
    a, _ = load_yolo(d, TAX, d / "names.txt")
    np.testing.assert_allclose(a.points, [[20, 15]] if used else [[30, 21]])


def test_whole_messages_of_bad_lines(tmp_path):
    d = _copy(tmp_path)
    label = d / "labels" / "a.txt"
    long_line = "0 " + " ".join(["0.123456789"] * 9)  # 10 fields: neither a box nor a polygon, 101 chars
    cases = [
        (
            long_line,
            f"malformed line {long_line[:80]!r} (want 'cls cx cy w h [px py v]' or a polygon "
            "'cls x1 y1 x2 y2 x3 y3 ...')",
        ),  # fmt: skip
        ("x 0.5 0.5 0.1 0.1", "malformed class 'x' (want an integer index)"),
        ("\u0663 0.5 0.5 0.1 0.1", "malformed class '\u0663' (want an integer index)"),  # an Arabic-Indic 3
        ("0 a 0.5 0.1 0.1", "malformed cx 'a'"),
        ("0 0.5 0.5 0.1 b", "malformed h 'b'"),
        ("0 0.5 0.5 0.1 0.1 a 0.5 2", "malformed px 'a'"),
        ("0 0.5 0.5 0.1 0.1 0.5 0.5 c", "malformed v 'c'"),
        ("0 0.5 0.5 0.1 0.1 1.5 0.5 2", "keypoint outside the image"),
    ]
    for line, message in cases:
        label.write_text(line + "\n")
        with pytest.raises(DataError) as e:
            load_yolo(d, TAX, d / "names.txt")
        assert (e.value.file, e.value.line) == (str(label), 1), line
        assert e.value.problem.startswith(message), (e.value.problem, message)


def test_skipped_images_and_orphan_labels_are_reported(tmp_path):
    d = _copy(tmp_path)
    (d / "labels" / "a.txt").write_text("2 0.5 0.5 0.1 0.1\n")  # unknown class: a.jpg is left out
    (d / "labels" / "c.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # no image c.jpg
    (d / "labels" / "classes.txt").write_text("warning\nroad_marking\n")  # darknet's class list: no orphan
    report = LoadReport()
    recs = load_yolo(d, TAX, d / "names.txt", skip_bad=True, report=report)
    assert [Path(r.image_path).name for r in recs] == ["b.jpg"]
    assert [(Path(e.file).name, e.line) for e in report.errors] == [("c.txt", None), ("a.txt", 1)]
    assert report.errors[0].problem == f"label file has no image under {d / 'images'}"
    assert report.skipped_images == {str(d / "labels" / "c.txt"), str(d / "images" / "a.jpg")}
    # without a report of its own it still skips
    assert len(load_yolo(d, TAX, d / "names.txt", skip_bad=True)) == 1
    with pytest.raises(DataError) as e:
        load_yolo(d, TAX, d / "names.txt")
    assert e.value.file == str(d / "labels" / "c.txt")


def test_a_folder_without_labels_is_an_error(tmp_path):
    d = _copy(tmp_path)
    shutil.rmtree(d / "labels")
    with pytest.raises(DataError) as e:
        load_yolo(d, TAX, d / "names.txt")
    assert str(e.value) == f"{d / 'labels'}: labels folder not found"


def test_mapping_file_forms_and_their_errors(tmp_path, monkeypatch):
    expected = {0: 1, 1: 6}
    (tmp_path / "list.json").write_text(json.dumps(["warning", "road_marking"]))  # a bare list of names
    assert load_yolo_mapping(tmp_path / "list.json", TAX) == expected
    (tmp_path / "d.yml").write_text("names: [warning, road_marking]\n")
    assert load_yolo_mapping(tmp_path / "d.yml", TAX) == expected
    # a local file wins over a packaged mapping of the same name
    monkeypatch.chdir(tmp_path)
    Path("traffic_light_kr_to_korea").write_text("warning\nroad_marking\n")
    assert load_yolo_mapping("traffic_light_kr_to_korea", TAX) == expected

    def error(path):
        with pytest.raises(DataError) as e:
            load_yolo_mapping(path, TAX)
        return str(e.value)

    assert error(tmp_path / "none.json") == f"{tmp_path / 'none.json'}: class-mapping file not found"
    (tmp_path / "empty.txt").write_text("\n\n")
    assert error(tmp_path / "empty.txt") == (
        f"{tmp_path / 'empty.txt'}: no class names found (want 'mapping', 'names', or one name per line)"
    )
    (tmp_path / "m.json").write_text(json.dumps({"mapping": {"0": "car"}}))
    assert error(tmp_path / "m.json").startswith(f"{tmp_path / 'm.json'}: bad class mapping: ")
    (tmp_path / "bad.txt").write_text("warning\ncar\n")
    want = f"{tmp_path / 'bad.txt'}: class 1 name 'car' is not in taxonomy 'korea'"
    assert error(tmp_path / "bad.txt") == want


def test_a_packaged_mapping_that_does_not_fit_the_taxonomy(tmp_path):
    # a taxonomy without "signal": the packaged light mapping (every class -> signal) cannot apply
    classes = [{"id": 0, "name": "background", "point_rule": None}, {"id": 1, "name": "warning",
               "point_rule": "bbox_center"}]  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps({"name": "signs_only", "classes": classes}))
    tax = load_taxonomy(tmp_path / "t.json")
    with pytest.raises(DataError) as e:
        load_yolo_mapping("traffic_light_kr_to_korea", tax)
    assert str(e.value).startswith("traffic_light_kr_to_korea: bad class mapping: ")
