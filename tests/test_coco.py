"""COCO keypoint JSON: round trip, pycocotools compatibility, rule-derived points, bad input."""

import json

import cv2
import numpy as np
import pytest

from keras_lmk.data.coco import load_coco, write_coco
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport

TAX = load_taxonomy("korea")  # 1 warning, 2 regulatory, ..., 6 road_marking (lower-right rule)


def _image(path, w=64, h=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((h, w, 3), np.uint8))
    return str(path)


def _records(tmp_path):
    a = ImageRecord(
        image_path=_image(tmp_path / "img" / "a.jpg"),
        width=64,
        height=48,
        boxes=[[10, 5, 20, 15], [30.25, 20.5, 60.75, 47]],
        points=[[15, 10], [60.75, 47]],
        classes=[1, 6],
        image_id=7,
        landmark_ids=np.array([3, -1]),
        distances=np.array([12.5, np.nan], np.float32),
    )
    b = ImageRecord(
        image_path=_image(tmp_path / "img" / "b.jpg"),
        width=64,
        height=48,
        boxes=np.zeros((0, 4)),
        points=np.zeros((0, 2)),
        classes=np.zeros((0,)),
        image_id=9,
    )
    return [a, b]


def test_round_trip_same_arrays(tmp_path):
    recs = _records(tmp_path)
    out = write_coco(recs, TAX, tmp_path / "ann.json")
    back = load_coco(out, TAX)
    assert len(back) == 2
    for r, s in zip(recs, back, strict=True):
        assert s.image_path == r.image_path and (s.width, s.height, s.image_id) == (
            r.width,
            r.height,
            r.image_id,
        )
        np.testing.assert_array_equal(s.boxes, r.boxes)
        np.testing.assert_array_equal(s.points, r.points)
        np.testing.assert_array_equal(s.classes, r.classes)
        np.testing.assert_array_equal(s.landmark_ids, r.landmark_ids)
        np.testing.assert_array_equal(s.distances, r.distances)  # NaN == NaN here
    data = json.loads(out.read_text())
    assert [im["file_name"] for im in data["images"]] == ["img/a.jpg", "img/b.jpg"]
    assert [c["name"] for c in data["categories"]] == TAX.names[1:]
    ann = data["annotations"][1]
    assert ann["bbox"] == [30.25, 20.5, 30.5, 26.5] and ann["area"] == 30.5 * 26.5
    assert ann["keypoints"] == [60.75, 47.0, 2] and "landmark_id" not in ann and "distance" not in ann


def test_image_root_and_image_dir(tmp_path):
    recs = _records(tmp_path)
    out = write_coco(recs, TAX, tmp_path / "meta" / "ann.json", image_root=tmp_path / "img")
    assert json.loads(out.read_text())["images"][0]["file_name"] == "a.jpg"
    back = load_coco(out, TAX, image_dir=tmp_path / "img")
    assert back[0].image_path == recs[0].image_path


def test_pycocotools_reads_it(tmp_path):
    from pycocotools.coco import COCO

    out = write_coco(_records(tmp_path), TAX, tmp_path / "ann.json")
    coco = COCO(str(out))
    assert sorted(coco.getCatIds()) == [1, 2, 3, 4, 5, 6]
    assert coco.loadCats(6)[0]["keypoints"] == ["reference_point"]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[7]))
    assert [a["category_id"] for a in anns] == [1, 6]
    assert coco.getAnnIds(imgIds=[9]) == []


def _write(tmp_path, anns, categories=None, images=None):
    _image(tmp_path / "a.jpg", 100, 80)
    data = {
        "images": images or [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": categories or [{"id": 11, "name": "road_marking"}, {"id": 12, "name": "regulatory"}],
        "annotations": anns,
    }
    p = tmp_path / "in.json"
    p.write_text(json.dumps(data))
    return p


def test_bbox_only_gets_rule_point_and_categories_by_name(tmp_path):
    p = _write(
        tmp_path,
        [
            {"id": 1, "image_id": 1, "category_id": 11, "bbox": [10, 20, 30, 40]},  # road marking
            {"id": 2, "image_id": 1, "category_id": 12, "bbox": [50, 10, 20, 10]},  # sign
            {
                "id": 3,
                "image_id": 1,
                "category_id": 12,
                "bbox": [0, 0, 10, 10],
                "keypoints": [0, 0, 0],
            },  # v=0
        ],
    )
    (r,) = load_coco(p, TAX)
    np.testing.assert_array_equal(r.classes, [6, 2, 2])  # by name, not by the file's ids 11/12
    np.testing.assert_array_equal(r.points, [[40, 60], [60, 15], [5, 5]])


@pytest.mark.parametrize(
    "ann, problem",
    [
        ({"bbox": [90, 10, 20, 10]}, "outside the image"),
        ({"bbox": [10, 10, 0, 10]}, "empty box"),
        ({"bbox": [10, 10, float("nan"), 10]}, "non-finite"),
        ({"bbox": [10, 10, 5]}, "malformed bbox"),
        ({"category_id": 99}, "unknown class"),
        ({"keypoints": [10, float("inf"), 2]}, "non-finite keypoint"),
        ({"keypoints": [500, 10, 2]}, "keypoint outside"),
    ],
)
def test_bad_annotation_names_file_and_id(tmp_path, ann, problem):
    good = {"id": 1, "image_id": 1, "category_id": 12, "bbox": [10, 10, 5, 5]}
    p = _write(tmp_path, [good, {"id": 5, "image_id": 1, "category_id": 12, "bbox": [20, 20, 5, 5]} | ann])
    with pytest.raises(DataError, match=problem) as e:
        load_coco(p, TAX)
    assert str(e.value).startswith(f"{p}:annotation 5: ")
    report = LoadReport()
    assert load_coco(p, TAX, skip_bad=True, report=report) == []  # the whole image is left out
    assert report.count == 1 and len(report.skipped_images) == 1


def test_box_within_one_pixel_is_clipped(tmp_path):
    p = _write(tmp_path, [{"id": 1, "image_id": 1, "category_id": 12, "bbox": [-0.5, 0, 100.5, 80.5]}])
    (r,) = load_coco(p, TAX)
    np.testing.assert_array_equal(r.boxes, [[0, 0, 100, 80]])


def test_unknown_category_name_and_missing_image(tmp_path):
    p = _write(tmp_path, [], categories=[{"id": 1, "name": "pedestrian"}])
    with pytest.raises(DataError, match="unknown category name 'pedestrian'"):
        load_coco(p, TAX)
    p = _write(tmp_path, [], images=[{"id": 4, "file_name": "gone.jpg", "width": 10, "height": 10}])
    with pytest.raises(DataError, match="image 4: image file not found"):
        load_coco(p, TAX)
    report = LoadReport()
    assert load_coco(p, TAX, skip_bad=True, report=report) == [] and report.count == 1


def test_check_images_catches_size_mismatch_and_garbage(tmp_path):
    p = _write(tmp_path, [], images=[{"id": 1, "file_name": "a.jpg", "width": 50, "height": 80}])
    assert len(load_coco(p, TAX)) == 1  # cheap default: existence only
    with pytest.raises(DataError, match="file is 100x80, JSON says 50x80"):
        load_coco(p, TAX, check_images=True)
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    p = _write(tmp_path, [], images=[{"id": 1, "file_name": "a.jpg"}])
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="unreadable image"):
        load_coco(p, TAX)


def test_invalid_json_names_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(DataError, match=r"bad.json:2: invalid JSON"):
        load_coco(p, TAX)


def test_write_coco_whole_file_by_hand(tmp_path):
    # two records with the same image id (so ids become 1, 2), an ignore region, an unlabelled class, a
    # landmark id 0 (a real map id) and a known distance
    a = ImageRecord(
        image_path=_image(tmp_path / "a.jpg"), width=64, height=48, boxes=[[10, 5, 20, 15]],
        points=[[15, 10]],
        classes=[1], image_id=5, landmark_ids=np.array([0]), distances=np.array([np.nan], np.float32),
        ignore_boxes=[[30, 20, 40, 28]], ignore_classes=[6], unlabelled=(5,),
    )  # fmt: skip
    b = ImageRecord(
        image_path=_image(tmp_path / "b.jpg"), width=64, height=48, boxes=[[1, 2, 4, 6]], points=[[4, 6]],
        classes=[6], image_id=5, landmark_ids=np.array([-1]), distances=np.array([7.25], np.float32),
    )  # fmt: skip
    out = write_coco([a, b], TAX, tmp_path / "ann.json")
    text = out.read_text()
    assert text.count("\n") == 1  # one compact line
    rules = ["bbox_center"] * 5 + ["bbox_bottom_right"]
    names = ["warning", "regulatory", "indicating", "auxiliary", "signal", "road_marking"]
    assert json.loads(text) == {
        "info": {"description": "keras_lmk landmarks, taxonomy korea"},
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48, "unlabelled_category_ids": [5]},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 10, 10], "area": 100, "iscrowd": 0,
             "keypoints": [15, 10, 2], "num_keypoints": 1, "landmark_id": 0},
            {"id": 2, "image_id": 1, "category_id": 6, "bbox": [30, 20, 10, 8], "area": 80, "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 6, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0,
             "keypoints": [4, 6, 2], "num_keypoints": 1, "distance": 7.25},
        ],
        "categories": [
            {"id": i, "name": n, "supercategory": "landmark", "keypoints": ["reference_point"],
             "skeleton": [], "point_rule": rule}
            for i, (n, rule) in enumerate(zip(names, rules, strict=True), start=1)
        ],
    }  # fmt: skip


@pytest.mark.parametrize("field", ["ignore_classes", "unlabelled"])
def test_write_coco_refuses_background_in_ignore_regions_and_unlabelled(tmp_path, field):
    extra = {"ignore_boxes": [[0, 0, 4, 4]], "ignore_classes": [0]} if field == "ignore_classes" else {
        "unlabelled": (0,)}  # fmt: skip
    r = ImageRecord(_image(tmp_path / "a.jpg"), 64, 48, np.zeros((0, 4)), np.zeros((0, 2)), [], **extra)
    with pytest.raises(KeyError, match="class id 0 is not a landmark class of taxonomy 'korea'"):
        write_coco([r], TAX, tmp_path / "ann.json")
