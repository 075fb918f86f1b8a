"""Road-marking quad import: hand-written CSV lines, the lower-right-end rule by hand, bad lines, the CLI."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_lmk.data.__main__ import main as data_main
from keras_lmk.data.quads import load_quads
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport

TAX = load_taxonomy("korea")  # 6 = road_marking (lower-right end)


def _folder(tmp_path: Path, lines: list[str]) -> Path:
    for name in ("f1.jpg", "f2.jpg"):  # the CSV says .png: the .jpg of the same stem is used
        cv2.imwrite(str(tmp_path / name), np.zeros((60, 80, 3), np.uint8))
    csv = tmp_path / "annotations.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


# vertices (10,20) (50,22) (48,40) (12,38): lowest two are (48,40) and (12,38); the right one is (48, 40)
GOOD = "10,50,48,12,20,22,40,38,leftturn,f1.png"
# a quad leaning left: lowest two (30,50) and (70,45) -> right one (70, 45), not the box corner (70, 50)
LEAN = "40,75,70,30,30,30,45,50,stop,f2.png"


def test_points_and_boxes_by_hand(tmp_path):
    a, b = load_quads(_folder(tmp_path, [GOOD, LEAN]), TAX)
    assert Path(a.image_path).name == "f1.jpg" and (a.width, a.height) == (80, 60)
    np.testing.assert_array_equal(a.classes, [6])
    np.testing.assert_allclose(a.boxes, [[10, 20, 50, 40]])
    np.testing.assert_allclose(a.points, [[48, 40]])
    np.testing.assert_allclose(b.boxes, [[30, 30, 75, 50]])
    np.testing.assert_allclose(b.points, [[70, 45]])


def test_two_lines_same_image_are_merged(tmp_path):
    (rec,) = load_quads(_folder(tmp_path, [GOOD, GOOD.replace("10,50,48,12", "11,51,49,13")]), TAX)
    assert rec.num_landmarks == 2
    np.testing.assert_allclose(rec.points, [[48, 40], [49, 40]])


@pytest.mark.parametrize(
    "line, problem",
    [
        ("10,50,48,12,20,22,40,38,leftturn", "malformed line: 9 fields"),
        ("10,50,oops,12,20,22,40,38,leftturn,f2.png", "malformed x3 'oops'"),
        ("10,50,48,12,20,22,40,nan,leftturn,f2.png", "non-finite y4"),
        ("10,10,10,10,20,22,40,38,leftturn,f2.png", "empty box"),
        ("10,50,48,12,20,22,40,99,leftturn,f2.png", "box outside the image"),
        ("10,50,48,12,20,22,40,38,leftturn,missing.png", "image 'missing.png' not found"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, problem):
    csv = _folder(tmp_path, [GOOD, line])
    with pytest.raises(DataError, match=problem) as e:
        load_quads(csv, TAX)
    assert str(e.value).startswith(f"{csv}:2: ")
    report = LoadReport()
    recs = load_quads(csv, TAX, skip_bad=True, report=report)
    assert [Path(r.image_path).name for r in recs] == ["f1.jpg"] and report.count == 1


def test_cli_convert_and_bad_input_exit_2(tmp_path, capsys):
    csv = _folder(tmp_path, [GOOD, LEAN])
    out = tmp_path / "m.json"
    assert data_main(["convert", "--from", "quads", "--input", str(csv), "--out", str(out)]) == 0
    assert "2 images, 2 landmarks" in capsys.readouterr().out
    csv.write_text(GOOD + "\n" + "1,2,3\n")
    assert data_main(["convert", "--from", "quads", "--input", str(csv), "--out", str(out)]) == 2
    assert f"{csv}:2: malformed line" in capsys.readouterr().err
