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
