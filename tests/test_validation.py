"""Dataset input checks: every problem is a DataError naming FILE:LINE; boxes and points are clipped within
the tolerance."""

import cv2
import numpy as np
import pytest

from keras_lmk.data.validation import (
    BOX_TOLERANCE_PX,
    DataError,
    LoadReport,
    check_box,
    check_image_file,
    check_point,
    check_record_images,
    image_size,
    parse_number,
    read_text,
)


def test_data_error_names_file_and_line_and_is_a_value_error():
    e = DataError("labels/a.txt", 7, "empty box")
    assert str(e) == "labels/a.txt:7: empty box" and isinstance(e, ValueError)
    assert (e.file, e.line, e.problem) == ("labels/a.txt", 7, "empty box")
    assert str(DataError("x.json", None, "no images")) == "x.json: no images"
    assert str(DataError("x.json", "annotation 4", "bad")) == "x.json:annotation 4: bad"


def test_check_box_clips_within_the_tolerance_and_rejects_the_rest():
    assert BOX_TOLERANCE_PX == 1.0
    np.testing.assert_array_equal(check_box([-0.5, 2, 100.8, 50], 100, 50, "f", 1), [0, 2, 100, 50])
    assert check_box([1, 2, 3, 4], 10, 10, "f", 1).dtype == np.float32
    with pytest.raises(DataError, match=r"^f:3: box outside the image: \[-1.5, 0.0, 5.0, 5.0\] in a 10x10"):
        check_box([-1.5, 0, 5, 5], 10, 10, "f", 3)
    with pytest.raises(DataError, match="outside"):
        check_box([0, 0, 5, 11.01], 10, 10, "f", 3)
    with pytest.raises(DataError, match="empty box"):
        check_box([5, 0, 5, 5], 10, 10, "f", 3)
    with pytest.raises(DataError, match="empty box"):
        check_box([0, 6, 5, 5], 10, 10, "f", 3)
    with pytest.raises(DataError, match="non-finite box"):
        check_box([0, 0, np.nan, 5], 10, 10, "f", 3)


def test_check_point_clips_within_the_tolerance():
    np.testing.assert_array_equal(check_point([-1.0, 10.5], 20, 10, "f", 2), [0, 10])
    np.testing.assert_array_equal(check_point([20, 0], 20, 10, "f", 2), [20, 0])  # the edge itself is fine
    with pytest.raises(DataError, match=r"f:2: keypoint outside the image: \[21.5, 3.0\] in a 20x10 image"):
        check_point([21.5, 3], 20, 10, "f", 2)
    with pytest.raises(DataError, match="non-finite keypoint"):
        check_point([np.inf, 3], 20, 10, "f", 2)


def test_parse_number_and_read_text(tmp_path):
    assert parse_number(" 2.5 ", "g.txt", 4, "x0") == 2.5
    with pytest.raises(DataError, match=r"g.txt:4: malformed x0 'abc' \(not a number\)"):
        parse_number("abc", "g.txt", 4, "x0")
    with pytest.raises(DataError, match="non-finite x0 'nan'"):
        parse_number("nan", "g.txt", 4, "x0")
    f = tmp_path / "l.txt"
    f.write_text("0 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    assert read_text(f) == "0 0.5 0.5 0.1 0.1\n"
    f.write_bytes(b"ok\xff")
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 2\)"):
        read_text(f)
    with pytest.raises(DataError, match="cannot read"):
        read_text(tmp_path / "missing.txt")


def test_image_size_reads_the_header_or_decodes(tmp_path):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((30, 40, 3), np.uint8))  # 40 wide, 30 tall
    assert image_size(path) == (40, 30) and image_size(path, decode=True) == (40, 30)
    with pytest.raises(DataError, match="image file not found"):
        image_size(tmp_path / "none.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="unreadable image"):
        image_size(bad)
    with pytest.raises(DataError, match="unreadable image"):
        image_size(bad, decode=True)


def test_load_report_counts_problems_and_skipped_images():
    report = LoadReport()
    assert report.count == 0 and report.summary() == "no bad records"
    report.add(DataError("a.txt", 1, "box outside the image: [0, 0, 50, 5]"), "img1.jpg")
    report.add(DataError("a.txt", 2, "box outside the image: [0, 0, 5, 50]"), "img1.jpg")  # same image
    report.add(DataError("b.txt", 1, "unknown class '9'"), "img2.jpg")
    report.add(DataError("c.txt", None, "not UTF-8 text (byte 3)"))  # no image to skip
    assert report.count == 4 and report.skipped_images == {"img1.jpg", "img2.jpg"}
    lines = report.summary(max_lines=2).splitlines()
    # header, kinds (the problem before its first ':' or ' ('; most common first), the first 2 problems
    assert lines == [
        "skipped 2 image(s) over 4 problem(s):",
        "  2 x box outside the image",
        "  1 x unknown class '9'",
        "  1 x not UTF-8 text",
        "  a.txt:1: box outside the image: [0, 0, 50, 5]",
        "  a.txt:2: box outside the image: [0, 0, 5, 50]",
        "  ... and 2 more",
    ]


def _broken(path, kind: str):
    """A JPEG or PNG file broken the way a new user's data set is: cut off mid-copy, or not an image."""
    data = cv2.imencode(path.suffix, np.full((48, 64, 3), 90, np.uint8))[1].tobytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"<html>404 Not Found</html>"}[kind])
    return path


@pytest.mark.parametrize("suffix, name", [(".jpg", "JPEG"), (".png", "PNG")])
def test_a_truncated_or_garbage_image_file_is_found_from_its_first_and_last_bytes(tmp_path, suffix, name):
    sound = tmp_path / f"ok{suffix}"
    cv2.imwrite(str(sound), np.full((48, 64, 3), 90, np.uint8))
    check_image_file(sound)
    with pytest.raises(DataError, match=f"^{tmp_path / ('t' + suffix)}: truncated {name}"):
        check_image_file(_broken(tmp_path / f"t{suffix}", "truncated"))
    with pytest.raises(DataError, match=f"^{tmp_path / ('g' + suffix)}: not a {name} file"):
        check_image_file(_broken(tmp_path / f"g{suffix}", "garbage"))
    with pytest.raises(DataError, match="image file not found"):
        check_image_file(tmp_path / f"none{suffix}")
    named_wrong = tmp_path / "really_a_png.jpg"  # decoders go by content: fine
    named_wrong.write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    check_image_file(named_wrong)


def test_records_with_a_broken_image_are_an_error_or_left_out_with_skip_bad(tmp_path):
    from keras_lmk.data.records import ImageRecord

    def rec(path):
        return ImageRecord(str(path), 64, 48, np.zeros((0, 4)), np.zeros((0, 2)), np.zeros((0,), int))

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((48, 64, 3), np.uint8))
    bad = _broken(tmp_path / "bad.jpg", "truncated")
    records = [rec(good), rec(bad), rec(good)]
    with pytest.raises(DataError, match=f"^{bad}: truncated JPEG"):
        check_record_images(records)
    report = LoadReport()
    kept = check_record_images(records, skip_bad=True, report=report)
    assert [r.image_path for r in kept] == [str(good), str(good)]
    assert report.count == 1 and report.skipped_images == {str(bad)}
