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
