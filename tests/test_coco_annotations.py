"""One COCO keypoint annotation -> (box xyxy, point, class, landmark id, distance), checked."""

import math

import numpy as np
import pytest

from keras_lmk.data.coco_annotations import category_map, is_ignore_region, parse_annotation
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError

TAX = load_taxonomy("korea")  # background, warning, regulatory, indicating, auxiliary, signal, road_marking
CATS = {10: 1, 20: 6}  # COCO category id -> taxonomy id


def test_category_map_goes_by_name_not_by_id():
    cats = [{"id": 10, "name": "warning"}, {"id": 3, "name": "road_marking"}, {"id": 1, "name": "signal"}]
    assert category_map(cats, TAX, "a.json") == {10: 1, 3: 6, 1: 5}
    with pytest.raises(DataError, match=r"a.json:category 4: unknown category name 'car'"):
        category_map([{"id": 4, "name": "car"}], TAX, "a.json")
    with pytest.raises(DataError, match="unknown category name 'background'"):
        category_map([{"id": 0, "name": "background"}], TAX, "a.json")
    with pytest.raises(DataError, match="category #0: malformed category"):
        category_map([{"name": "warning"}], TAX, "a.json")
    with pytest.raises(DataError, match="^a.json: missing 'categories' list"):
        category_map(None, TAX, "a.json")


def test_annotation_hand_computed():
    a = {"id": 5, "category_id": 20, "bbox": [10, 20, 30, 5], "keypoints": [40, 25, 2], "landmark_id": 77,
         "distance": 12.5}  # fmt: skip
    box, point, cls, lid, dist = parse_annotation(a, CATS, 100, 50, "a.json")
    np.testing.assert_array_equal(box, [10, 20, 40, 25])  # [x, y, w, h] -> [x0, y0, x1, y1]
    np.testing.assert_array_equal(point, [40, 25])
    assert (cls, lid, dist) == (6, 77, 12.5)


def test_optional_fields_and_invisible_keypoint():
    box, point, cls, lid, dist = parse_annotation(
        {"category_id": 10, "bbox": [0, 0, 4, 4]}, CATS, 10, 10, "f"
    )
    assert point is None and (cls, lid) == (1, -1) and math.isnan(dist)
    # v = 0: keypoint not labelled, even with coordinates (the loader applies the class rule instead)
    a = {"category_id": 10, "bbox": [0, 0, 4, 4], "keypoints": [500, 500, 0]}
    assert parse_annotation(a, CATS, 10, 10, "f")[1] is None
    # a box overshooting by up to one pixel is clipped
    wide = {"category_id": 10, "bbox": [-1, 0, 11, 4]}
    np.testing.assert_array_equal(parse_annotation(wide, CATS, 10, 10, "f")[0], [0, 0, 10, 4])


@pytest.mark.parametrize(
    "ann, problem",
    [
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 4, 4], "iscrowd": 2}, "annotation 3: iscrowd"),
        ({"id": 3, "bbox": [0, 0, 4, 4]}, "annotation 3: missing or malformed category_id"),
        ({"id": 3, "category_id": 99, "bbox": [0, 0, 4, 4]}, "unknown class: category_id 99"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 4]}, r"malformed bbox \[0, 0, 4\]"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, "a", 4]}, "not numbers"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 0, 4]}, "empty box"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 4, 4], "keypoints": [1, 2]}, "malformed keypoints"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 4, 4], "keypoints": [30, 2, 2]}, "keypoint outside"),
        ({"id": 3, "category_id": 10, "bbox": [0, 0, 4, 4], "landmark_id": "x"}, "malformed landmark_id"),
        ("not a dict", "annotation \\?: malformed annotation"),
    ],
)
def test_bad_annotations_name_file_and_annotation(ann, problem):
    with pytest.raises(
        DataError, match=f"^b.json:{problem}" if problem.startswith("annotation") else problem
    ):
        parse_annotation(ann, CATS, 10, 10, "b.json")


@pytest.mark.parametrize(
    "ann, problem",
    [
        ({"category_id": 99}, "unknown class: category_id 99 is not in 'categories'"),
        ({"bbox": None}, "malformed bbox None (want [x, y, w, h])"),
        ({"bbox": [0, 0, "a", 4]}, "malformed bbox [0, 0, 'a', 4] (not numbers)"),
        ({"bbox": [0, 0, 0, 4]}, "empty box (zero or negative size) [0.0, 0.0, 0.0, 4.0]"),
        ({"keypoints": [1, 2]}, "malformed keypoints [1, 2] (want [x, y, v])"),
        ({"keypoints": [1, "b", 2]}, "malformed keypoints [1, 'b', 2] (not numbers)"),
        ({"keypoints": [30, 2, 2]}, "keypoint outside the image: [30.0, 2.0] in a 10x10 image"),
        ({"distance": "far"}, "malformed landmark_id/distance -1/'far'"),
        ({"iscrowd": 2}, "iscrowd must be 0 or 1 (1: an ignore region), got 2"),
    ],
)
def test_each_problem_whole_with_its_file_and_annotation(ann, problem):
    a = {"id": 3, "category_id": 10, "bbox": [0, 0, 4, 4]} | ann
    with pytest.raises(DataError) as e:
        parse_annotation(a, CATS, 10, 10, "b.json")
    assert (e.value.file, e.value.line, e.value.problem) == ("b.json", "annotation 3", problem)


def test_an_annotation_without_id_is_named_annotation_question_mark():
    with pytest.raises(DataError) as e:
        parse_annotation({"category_id": 99, "bbox": [0, 0, 4, 4]}, CATS, 10, 10, "b.json")
    assert str(e.value) == "b.json:annotation ?: unknown class: category_id 99 is not in 'categories'"


def test_category_problems_whole():
    with pytest.raises(DataError) as e:
        category_map([{"name": "warning"}], TAX, "a.json")
    assert (e.value.file, e.value.line) == ("a.json", "category #0")
    with pytest.raises(DataError) as e:
        category_map([{"id": 4, "name": "car"}], TAX, "a.json")
    assert e.value.problem == (
        "unknown category name 'car' (taxonomy 'korea': ['warning', 'regulatory', 'indicating', 'auxiliary', "
        "'signal', 'road_marking'])"
    )


def test_a_keypoint_with_visibility_1_is_used():
    # COCO v: 0 not labelled, 1 labelled but occluded, 2 visible; any v > 0 gives the point
    a = {"category_id": 10, "bbox": [0, 0, 4, 4], "keypoints": [1, 3, 1]}
    np.testing.assert_array_equal(parse_annotation(a, CATS, 10, 10, "f")[1], [1, 3])


def test_ignore_regions_are_iscrowd_1_dicts():
    assert is_ignore_region({"iscrowd": 1}) and is_ignore_region({"iscrowd": True})
    assert not is_ignore_region({"iscrowd": 0}) and not is_ignore_region({})  # iscrowd defaults to 0
    assert not is_ignore_region("not a dict") and not is_ignore_region(None)
