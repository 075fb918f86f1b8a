"""GTSDB import: the .ppm stem quirk, class mapping, negatives, bad lines, a smoke test on the real data."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_lmk.data.gtsdb import load_gtsdb
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport

FIXTURE = Path(__file__).parent / "fixtures" / "gtsdb_tiny"
REAL = Path("/work/shared/data/gtsdb-train")
TAX = load_taxonomy("korea")  # 1 warning, 2 regulatory, 3 indicating


def test_tiny_fixture_by_hand():
    recs = load_gtsdb(FIXTURE, TAX)
    assert [Path(r.image_path).name for r in recs] == [
        "00000.jpg",
        "00001.png",
        "00002.jpg",
    ]  # .ppm -> by stem
    assert [r.image_id for r in recs] == [0, 1, 2]
    assert all((r.width, r.height) == (40, 30) and Path(r.image_path).is_absolute() for r in recs)
    a, b, neg = recs
    # GTSDB 11 (right-of-way, triangle) -> warning, 12 (priority road) -> indicating
    np.testing.assert_array_equal(a.classes, [1, 3])
    np.testing.assert_array_equal(a.boxes, [[2, 3, 12, 13], [20, 5, 30, 25]])
    np.testing.assert_array_equal(a.points, [[7, 8], [25, 15]])  # sign rule: box centre
    # 14 (stop) -> regulatory, 38 (keep right) -> indicating
    np.testing.assert_array_equal(b.classes, [2, 3])
    np.testing.assert_array_equal(b.points, [[19.5, 14.5], [7, 7]])
    assert neg.num_landmarks == 0  # no line in gt.txt: imported as a negative
    assert len(load_gtsdb(FIXTURE, TAX, include_negatives=False)) == 2


@pytest.mark.parametrize(
    "line, problem",
    [
        ("00009.ppm;1;1;5;5;11", "image '00009.ppm' not found"),
        ("00000.ppm;30;5;45;25;11", "box outside the image"),
        ("00000.ppm;5;5;5;9;11", "empty box"),
        ("00000.ppm;1;1;5;5;43", "unknown class '43'"),
        ("00000.ppm;1;1;5;5;x", "unknown class 'x'"),
        ("00000.ppm;1;nan;5;5;11", "non-finite top"),
        ("00000.ppm;1;inf;5;5;11", "non-finite top"),
        ("00000.ppm;1;a;5;5;11", "malformed top 'a'"),
        ("00000.ppm;1;1;5;5", "malformed line"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, problem):
    d = shutil.copytree(FIXTURE, tmp_path / "g")
    with open(d / "gt.txt", "a") as f:
        f.write(line + "\n")  # line 5
    with pytest.raises(DataError, match=problem) as e:
        load_gtsdb(d, TAX)
    assert str(e.value).startswith(f"{d / 'gt.txt'}:5: ") and e.value.line == 5
    report = LoadReport()
    recs = load_gtsdb(d, TAX, skip_bad=True, report=report)
    assert report.count == 1
    names = [Path(r.image_path).stem for r in recs]
    if line.startswith("00000"):  # the whole image is left out, and not turned into a negative
        assert names == ["00001", "00002"]
    else:
        assert names == ["00000", "00001", "00002"]


def test_unreadable_image_names_the_line_that_needs_it(tmp_path):
    d = shutil.copytree(FIXTURE, tmp_path / "g")
    (d / "00001.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable image") as e:
        load_gtsdb(d, TAX)
    assert str(e.value).startswith(f"{d / 'gt.txt'}:3: ") and "00001.png" in str(e.value)


def test_one_pixel_tolerance(tmp_path):
    d = shutil.copytree(FIXTURE, tmp_path / "g")
    (d / "gt.txt").write_text("00002.ppm;-1;0;41;31;11\n")
    recs = load_gtsdb(d, TAX, include_negatives=False)
    np.testing.assert_array_equal(recs[0].boxes, [[0, 0, 40, 30]])


@pytest.mark.skipif(not (REAL / "gt.txt").is_file(), reason="real GTSDB training split not present")
def test_real_gtsdb_smoke():
    recs = load_gtsdb(REAL, TAX)
    assert len(recs) == 600
    assert sum(r.num_landmarks for r in recs) == 852
    assert sum(r.num_landmarks == 0 for r in recs) == 94  # 506 annotated images
    assert all((r.width, r.height) == (1360, 800) for r in recs)
    first = recs[0]  # 00000.ppm;774;411;815;446;11
    np.testing.assert_array_equal(first.boxes, [[774, 411, 815, 446]])
    np.testing.assert_array_equal(first.classes, [1])
    np.testing.assert_array_equal(first.points, [[794.5, 428.5]])


def _copy(tmp_path):
    return shutil.copytree(FIXTURE, tmp_path / "g")


@pytest.mark.parametrize(
    "line, problem",
    [
        ("00000.ppm;1;1;5;5;43", "unknown class '43' (not in mapping gtsdb_to_korea)"),
        ("00000.ppm;30;5;45;25;11", "box outside the image: [30.0, 5.0, 45.0, 25.0] in a 40x30 image"),
        ("00009.ppm;1;1;5;5;11", "image '00009.ppm' not found in "),
        ("00000.ppm;1;1;5", "malformed line '00000.ppm;1;1;5' (want file;left;top;right;bottom;class)"),
        ("00000.ppm;a;1;5;5;11", "malformed left 'a' (not a number)"),
        ("00000.ppm;1;1;b;5;11", "malformed right 'b' (not a number)"),
        ("00000.ppm;1;1;5;c;11", "malformed bottom 'c' (not a number)"),
    ],
)
def test_whole_problem_of_a_bad_line(tmp_path, line, problem):
    d = _copy(tmp_path)
    with open(d / "gt.txt", "a") as f:
        f.write(line + "\n")  # line 5
    with pytest.raises(DataError) as e:
        load_gtsdb(d, TAX)
    assert (e.value.file, e.value.line) == (str(d / "gt.txt"), 5)
    assert e.value.problem.startswith(problem), e.value.problem


def test_a_skipped_line_is_reported_with_its_file_name_and_its_image_never_becomes_a_negative(tmp_path):
    d = _copy(tmp_path)
    with open(d / "gt.txt", "a") as f:
        f.write("00002.ppm;1;1;5;5;43\n")  # the negative image's only line is bad
    report = LoadReport()
    recs = load_gtsdb(d, TAX, skip_bad=True, report=report)
    assert [Path(r.image_path).stem for r in recs] == ["00000", "00001"]
    assert report.skipped_images == {"00002.ppm"} and report.errors[0].line == 5
    assert len(load_gtsdb(d, TAX, skip_bad=True)) == 2  # without a report of its own


def test_an_unreadable_negative_image(tmp_path):
    d = _copy(tmp_path)
    shutil.copy(d / "00002.jpg", d / "00003.jpg")  # a second negative, after the broken one
    (d / "00002.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable image") as e:
        load_gtsdb(d, TAX)
    assert e.value.file == str(d / "00002.jpg")
    report = LoadReport()
    recs = load_gtsdb(d, TAX, skip_bad=True, report=report)
    assert [Path(r.image_path).stem for r in recs] == ["00000", "00001", "00003"]
    assert report.skipped_images == {str(d / "00002.jpg")} and report.errors[0].file == str(d / "00002.jpg")


def test_blank_lines_a_separate_gt_file_and_a_missing_one(tmp_path):
    d = _copy(tmp_path)
    gt = tmp_path / "elsewhere.txt"
    gt.write_text("00000.ppm;2;3;12;13;11\n\n   \n00001.ppm;5;5;9;9;38\n")
    recs = load_gtsdb(d, TAX, gt_file=gt, include_negatives=False)
    assert [(Path(r.image_path).stem, r.classes.tolist()) for r in recs] == [("00000", [1]), ("00001", [3])]
    (d / "gt.txt").unlink()
    with pytest.raises(DataError) as e:
        load_gtsdb(d, TAX)
    assert str(e.value) == f"{d / 'gt.txt'}: ground-truth file not found"


def test_image_ids_are_numeric_stems_else_the_position_in_name_order(tmp_path):
    d = _copy(tmp_path)
    for name in ("00007.jpg", "scene_b.jpg", "scene_a.jpg"):
        shutil.copy(d / "00002.jpg", d / name)
    recs = load_gtsdb(d, TAX)
    # sorted names: 00000, 00001, 00002, 00007 (id 7), scene_a (5th: 4), scene_b (6th: 5)
    assert [(Path(r.image_path).stem, r.image_id) for r in recs] == [
        ("00000", 0), ("00001", 1), ("00002", 2), ("00007", 7), ("scene_a", 4), ("scene_b", 5),
    ]  # fmt: skip
