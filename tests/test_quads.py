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


def test_mirrored_copies_take_the_mirrored_quads_lower_right_end(tmp_path):
    # GOOD mirrored in an 80 px wide frame: x -> 80 - x gives vertices (70,20) (30,22) (32,40) (68,38); the
    # lowest two are (32,40) and (68,38), the right one (68, 38): the mirror of the lower-LEFT end (12, 38),
    # not of the point (48, 40) -> (32, 40) that mirroring the point would give
    csv = _folder(tmp_path, [GOOD, LEAN])
    img = np.zeros((60, 80, 3), np.uint8)
    img[5:9, 2:6] = (10, 200, 250)  # a patch near the left edge, to find after mirroring
    cv2.imwrite(str(tmp_path / "f1.png"), img)  # lossless; the CSV names f1.png
    a, b = load_quads(csv, TAX, mirror_dir=tmp_path / "mirror")
    np.testing.assert_allclose(a.boxes, [[30, 20, 70, 40]])
    np.testing.assert_allclose(a.points, [[68, 38]])
    # LEAN mirrored: (40,75,70,30) -> (40,5,10,50); lowest two (50,50) and (10,45): the right one (50, 50)
    np.testing.assert_allclose(b.points, [[50, 50]])
    assert Path(a.image_path).parent == tmp_path / "mirror" and Path(a.image_path).stem.endswith("f1")
    mirrored = cv2.imread(a.image_path)
    np.testing.assert_array_equal(mirrored[5:9, 74:78], img[5:9, 2:6])
    assert mirrored[5:9, 2:6].max() == 0
    # written once: a second load reuses the file
    stamp = Path(a.image_path).stat().st_mtime_ns
    load_quads(csv, TAX, mirror_dir=tmp_path / "mirror")
    assert Path(a.image_path).stat().st_mtime_ns == stamp


def test_a_truncated_frame_is_not_mirrored_into_a_half_grey_copy(tmp_path):
    # OpenCV decodes a truncated JPEG into a partly grey image with only a warning; the mirror must refuse it,
    # naming the file, as the project's image reader does
    csv = _folder(tmp_path, [GOOD])
    ok, jpg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    (tmp_path / "f1.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    with pytest.raises(DataError, match="f1.jpg"):
        load_quads(csv, TAX, mirror_dir=tmp_path / "mirror")
