"""The streaming COCO reader: same records as a whole-file parse, a fraction of its memory, errors found up
front and in whole-file order."""

import json
import tracemalloc

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_lmk.data.coco_reader import CocoReader
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport

TAX = load_taxonomy("korea")  # 1 warning ... 6 road_marking (lower-right rule)
CATS = [{"id": i, "name": n} for i, n in enumerate(TAX.names) if i]


def _long_file(tmp_path, n_images, per_image=5):
    cv2.imwrite(str(tmp_path / "f.jpg"), np.zeros((8, 8, 3), np.uint8))
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(1, n_images + 1):
        images.append({"id": i, "file_name": "f.jpg", "width": 640, "height": 360})
        for _ in range(per_image):
            x, y = rng.uniform(0, 600), rng.uniform(0, 320)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(rng.integers(1, 7)),
                    "bbox": [x, y, 20.5, 30.25],
                    "area": 620.125,
                    "iscrowd": 0,
                    "keypoints": [x + 10, y + 15, 2],
                    "num_keypoints": 1,
                    "landmark_id": len(anns),
                    "distance": 25.5,
                }
            )
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    return path


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_records_match_a_whole_file_parse_with_a_fraction_of_its_memory(tmp_path):
    path = _long_file(tmp_path, 3000)
    data = json.loads(path.read_text())
    reader = CocoReader(path, TAX)
    assert len(reader) == 3000
    by_image = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for rec, im in zip(reader, data["images"], strict=True):
        want = by_image[im["id"]]
        assert rec.image_id == im["id"] and (rec.width, rec.height) == (640, 360)
        np.testing.assert_allclose(rec.points, [a["keypoints"][:2] for a in want], rtol=0, atol=1e-4)
        x, y = np.array([a["bbox"][0] for a in want]), np.array([a["bbox"][1] for a in want])
        np.testing.assert_allclose(rec.boxes, np.stack([x, y, x + 20.5, y + 30.25], 1), atol=1e-4)
        assert rec.classes.tolist() == [a["category_id"] for a in want]
        assert rec.landmark_ids.tolist() == [a["landmark_id"] for a in want]
    whole = _peak_mib(lambda: json.loads(path.read_text()))
    streamed = _peak_mib(lambda: sum(r.num_landmarks for r in CocoReader(path, TAX)))
    assert streamed < 0.25 * whole, (streamed, whole)


def test_points_from_class_rules_and_lazy_reiteration(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    anns = [
        {"id": 1, "image_id": 5, "category_id": 6, "bbox": [10, 10, 20, 8]},  # road marking: lower right
        {"id": 2, "image_id": 5, "category_id": 1, "bbox": [0, 0, 10, 10], "keypoints": [3, 4, 0]},  # v=0
        {"id": 3, "image_id": 5, "category_id": 2, "bbox": [40, 0, 10, 10], "keypoints": [41, 2, 2]},
    ]
    coco = {"images": [{"id": 5, "file_name": "a.jpg"}], "annotations": anns, "categories": CATS}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    reader = CocoReader(tmp_path / "c.json", TAX)
    first, again = list(reader), list(reader)
    assert (first[0].width, first[0].height) == (64, 48)  # read from the file when the JSON has no size
    np.testing.assert_array_equal(first[0].points, [[30, 18], [5, 5], [41, 2]])
    np.testing.assert_array_equal(again[0].points, first[0].points)
    assert np.isnan(first[0].distances).all() and first[0].landmark_ids.tolist() == [-1, -1, -1]


def test_first_problem_in_image_order_then_orphans(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": "missing.jpg", "width": 64, "height": 48},
        {"id": 3, "file_name": "a.jpg", "width": 64, "height": 48},
    ]
    anns = [
        {"id": 10, "image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 11, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},  # orphan
        {"id": 12, "image_id": 1, "category_id": 1, "bbox": [60, 1, 50, 5]},  # outside image 1
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    # image 1's annotation comes last in the file, but image 1 comes first: its problem is the one raised
    with pytest.raises(DataError, match=r"c.json:annotation 12: .*outside"):
        CocoReader(path, TAX)
    report = LoadReport()
    reader = CocoReader(path, TAX, skip_bad=True, report=report)
    assert [r.image_id for r in reader] == [3]
    assert report.count == 3
    assert "unknown image ids ['99']" in report.summary()


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[{"images": []}]', "missing 'images' list"),
        ('{"images": {}, "categories": []}', "missing 'images' list"),
        ('{"images": [], "annotations": {}, "categories": []}', "'annotations' must be a list"),
        ('{"images": [], "annotations": []}', "missing 'categories' list"),
        ('{"images": [], \n "annotations": [}', r"c.json:2: invalid JSON"),
    ],
)
def test_layout_errors_name_the_file(tmp_path, text, problem):
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(DataError, match=problem):
        CocoReader(tmp_path / "c.json", TAX)


FRAME_VALUES = st.one_of(
    st.none(),  # no frame_index: the entry's list position
    st.integers(-3, 12),
    st.floats(-2, 12),
    st.sampled_from(["3", "", [1], {"a": 1}, True, float("nan"), float("inf")]),  # NaN: lenient-json path
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(FRAME_VALUES, min_size=1, max_size=6), skip_bad=st.booleans())
def test_video_frame_indices_fuzzed(tmp_path, frames, skip_bad):
    """Any frame_index values: either a DataError naming the file, or records in strictly increasing frame
    order where each frame is the entry's integral frame_index (or its position when it has none)."""
    images, want = [], {}
    for k, f in enumerate(frames):
        im = {"id": k + 1, "file_name": ""}
        if f is not None:
            im["frame_index"] = f
        images.append(im)
        fi = k if f is None else f
        if isinstance(fi, float) and np.isfinite(fi) and fi.is_integer():
            fi = int(fi)
        want[k + 1] = fi
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATS}))
    try:
        reader = CocoReader(path, TAX, video_size=(64, 48), skip_bad=skip_bad)
    except DataError as e:
        assert str(e).startswith(str(path))
        return
    got = reader.frame_indices().tolist()
    assert got == sorted(set(got)) and all(isinstance(g, int) and g >= 0 for g in got)
    for rec, frame in zip(reader, got, strict=True):
        assert want[rec.image_id] == frame and (rec.width, rec.height) == (64, 48)


def test_iscrowd_annotations_are_ignore_regions_and_round_trip(tmp_path):
    from keras_lmk.data.coco import write_coco

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    anns = [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 20, 4, 6], "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 6, "bbox": [50, 60, 40, 20], "iscrowd": 1},
    ]
    path = tmp_path / "a.json"
    images = [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80}]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    (rec,) = list(CocoReader(path, TAX))
    # the landmark keeps its class-rule point (warning: box centre 12, 23); the crowd box is not a landmark
    assert rec.classes.tolist() == [1]
    np.testing.assert_allclose(rec.points, [[12, 23]])
    np.testing.assert_allclose(rec.ignore_boxes, [[50, 60, 90, 80]])
    assert rec.ignore_classes.tolist() == [6]
    # written back: the ignore region is an iscrowd 1 annotation without a keypoint
    out = write_coco([rec], TAX, tmp_path / "b.json")
    written = json.loads(out.read_text())["annotations"]
    crowd = [a for a in written if a["iscrowd"] == 1]
    assert len(crowd) == 1 and crowd[0]["bbox"] == [50, 60, 40, 20] and "keypoints" not in crowd[0]
    (again,) = list(CocoReader(out, TAX))
    np.testing.assert_allclose(again.ignore_boxes, rec.ignore_boxes)


def test_unlabelled_category_ids_map_by_name_and_round_trip(tmp_path):
    from keras_lmk.data.coco import write_coco

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    # a foreign file: category 10 is "signal" (taxonomy id 5), 20 is "road_marking" (taxonomy id 6)
    cats = [{"id": 10, "name": "signal"}, {"id": 20, "name": "road_marking"}, {"id": 30, "name": "warning"}]
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80, "unlabelled_category_ids": [20, 10]},
        {"id": 2, "file_name": "a.jpg", "width": 100, "height": 80},
    ]
    anns = [{"id": 1, "image_id": 1, "category_id": 30, "bbox": [10, 20, 4, 6]}]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    first, second = CocoReader(path, TAX)
    assert first.unlabelled == (5, 6) and second.unlabelled == ()
    written = json.loads(write_coco([first, second], TAX, tmp_path / "b.json").read_text())["images"]
    assert written[0]["unlabelled_category_ids"] == [5, 6] and "unlabelled_category_ids" not in written[1]
    assert [r.unlabelled for r in CocoReader(tmp_path / "b.json", TAX)] == [(5, 6), ()]


@pytest.mark.parametrize("bad", [[99], "signal", [None]])
def test_a_bad_unlabelled_list_names_the_file_and_the_image(tmp_path, bad):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    images = [{"id": 4, "file_name": "a.jpg", "width": 100, "height": 80, "unlabelled_category_ids": bad}]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATS}))
    with pytest.raises(DataError, match=r"a\.json.*image 4.*unlabelled_category_ids"):
        CocoReader(path, TAX)
    report = LoadReport()
    assert list(CocoReader(path, TAX, skip_bad=True, report=report)) == []


def _video_file(tmp_path, images):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATS}))
    return path


def test_video_frames_by_hand(tmp_path):
    """Frame order from frame_index (an integral float counts), else the entry's list position."""
    # the third entry has no frame_index: its position, 2, is already id 7's frame
    images = [{"id": 7, "frame_index": 2}, {"id": 8, "frame_index": 0.0}, {"id": 9}]
    with pytest.raises(DataError) as e:
        CocoReader(_video_file(tmp_path, images), TAX, video_size=(64, 48))
    assert (e.value.line, e.value.problem) == ("image 9", "frame 2 is listed twice")
    images[0]["frame_index"] = 1
    reader = CocoReader(_video_file(tmp_path, images), TAX, video_size=(64, 48))
    assert reader.frame_indices().tolist() == [0, 1, 2]
    assert [r.image_id for r in reader] == [8, 7, 9]
    assert all((r.width, r.height) == (64, 48) for r in reader)


@pytest.mark.parametrize(
    "entry, where, problem",
    [
        ({"id": 4, "frame_index": -1}, "image 4", "bad frame_index -1"),
        ({"id": 4, "frame_index": True}, "image 4", "bad frame_index True"),
        ({"id": 4, "frame_index": 1.5}, "image 4", "bad frame_index 1.5"),
        ({"id": 4, "frame_index": "3"}, "image 4", "bad frame_index '3'"),
        ({"id": 0, "frame_index": -2}, "image 0", "bad frame_index -2"),  # id 0 is an id
        ({"frame_index": -2}, "image #1", "malformed image entry {'frame_index': -2}"),  # no id: by position
    ],
)
def test_bad_frame_index_names_the_image(tmp_path, entry, where, problem):
    path = _video_file(tmp_path, [{"id": 1, "frame_index": 0}, entry])
    with pytest.raises(DataError) as e:
        CocoReader(path, TAX, video_size=(64, 48))
    assert (e.value.file, e.value.line, e.value.problem) == (str(path), where, problem)
    # skipped: the other image stays, at frame 0
    reader = CocoReader(path, TAX, video_size=(64, 48), skip_bad=True)
    assert reader.frame_indices().tolist() == [0] and len(reader) == 1


def test_frame_0_is_a_frame_and_frame_indices_needs_a_video(tmp_path):
    reader = CocoReader(_video_file(tmp_path, [{"id": 1, "frame_index": 0}]), TAX, video_size=(64, 48))
    assert reader.frame_indices().tolist() == [0] and len(reader) == 1
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    plain = tmp_path / "p.json"
    plain.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [],
                                 "categories": CATS}))  # fmt: skip
    with pytest.raises(ValueError) as e:
        CocoReader(plain, TAX).frame_indices()
    assert str(e.value) == f"{plain}: not read as a video's ground truth (no video_size)"


@pytest.mark.parametrize(
    "images, video, where, problem",
    [
        ([{"file_name": "a.jpg"}], None, "image #0", "malformed image entry {'file_name': 'a.jpg'}"),
        ([{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "a.jpg"}], None, "image 1",
         "duplicate image id"),
        ([{"id": 2, "file_name": "a.jpg", "width": "x"}], None, "image #0",
         "malformed image entry {'id': 2, 'file_name': 'a.jpg', 'width': 'x'}"),
        ([{"id": 3, "width": 32, "height": 48}], (64, 48), "image 3", "JSON says 32x48, the video is 64x48"),
        ([{"id": 3, "width": 64, "height": 40}], (64, 48), "image 3", "JSON says 64x40, the video is 64x48"),
    ],
)  # fmt: skip
def test_bad_image_entries_whole(tmp_path, images, video, where, problem):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATS}))
    with pytest.raises(DataError) as e:
        CocoReader(path, TAX, video_size=video)
    assert (e.value.file, e.value.line, e.value.problem) == (str(path), where, problem)
    assert len(CocoReader(path, TAX, video_size=video, skip_bad=True)) == len(images) - 1


def test_video_entries_need_no_file_name_and_half_a_size_means_the_video_s(tmp_path):
    images = [{"id": 1, "width": 64}, {"id": 2, "height": 48, "file_name": "x.jpg"}, {"id": 3}]
    reader = CocoReader(_video_file(tmp_path, images), TAX, video_size=(64, 48))
    assert [(r.image_id, r.width, r.height) for r in reader] == [(1, 64, 48), (2, 64, 48), (3, 64, 48)]


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b'{"images": [], "x": "\xff"}')
    with pytest.raises(DataError) as e:
        CocoReader(path, TAX)
    assert str(e.value) == f"{path}: not UTF-8 text (byte 21)"  # the 22nd byte, counted from 0


def test_annotations_find_their_image_by_id_and_the_rest_are_orphans(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    images = [{"id": 0, "file_name": "a.jpg"}, {"id": 5, "file_name": "a.jpg"}]
    good = [
        {"id": 1, "image_id": 0, "category_id": 1, "bbox": [0, 0, 4, 4]},  # image id 0 is an id
        {"id": 2, "image_id": 5.0, "category_id": 2, "bbox": [10, 10, 4, 4]},  # an integral float id
    ]
    bad = ["not a dict", {"image_id": "5"}, {"image_id": [5]}, {"image_id": 2**70}, {"image_id": 7}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": good + bad, "categories": CATS}))
    with pytest.raises(DataError) as e:
        CocoReader(path, TAX)
    # orphans sorted as text, at most five shown
    shown = ["1180591620717411303424", "5", "7", "None", "[5]"]
    assert e.value.problem == f"annotations refer to unknown image ids {shown}"
    first, second = CocoReader(path, TAX, skip_bad=True)
    assert (first.image_id, first.classes.tolist()) == (0, [1])
    assert (second.image_id, second.classes.tolist()) == (5, [2])


def test_skipping_goes_on_past_orphans_and_bad_annotations(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}]
    anns = [
        {"id": 9, "image_id": k, "category_id": 1, "bbox": [0, 0, 4, 4]} for k in (11, 12, 13, 14, 15, 16)
    ]
    anns += [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [60, 0, 40, 4]},  # outside image 1: image 1 is out
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 4, 4]},  # after both: still read
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    report = LoadReport()
    (rec,) = CocoReader(path, TAX, skip_bad=True, report=report)
    assert (rec.image_id, rec.classes.tolist()) == (2, [2])
    assert report.skipped_images == {str(tmp_path / "a.jpg")}
    orphans = report.errors[-1]
    assert (orphans.file, orphans.problem) == (
        str(path),
        "annotations refer to unknown image ids ['11', '12', '13', '14', '15']",  # the first five, sorted
    )


def test_layout_messages_whole_and_annotations_may_be_absent(tmp_path):
    path = tmp_path / "c.json"
    for text, problem in (
        ('{"annotations": [], "categories": []}', "not a COCO file: missing 'images' list"),
        ('{"images": [], "annotations": 3, "categories": []}', "'annotations' must be a list"),
    ):
        path.write_text(text)
        with pytest.raises(DataError) as e:
            CocoReader(path, TAX)
        assert str(e.value) == f"{path}: {problem}"
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": CATS}))
    (rec,) = CocoReader(path, TAX)  # no "annotations" key: an image without landmarks
    assert rec.num_landmarks == 0


def test_a_file_name_with_a_lone_surrogate_round_trips(tmp_path):
    # JSON may escape a lone UTF-16 surrogate ("\ud800"); Python's json keeps it (the NaN sends the file
    # through that lenient path), and the compact name table keeps it too (surrogatepass)
    path = tmp_path / "v.json"
    images = [{"id": 1, "file_name": "\ud800.jpg"}, {"id": 2, "file_name": "b.jpg"}]
    coco = {"images": images, "annotations": [], "categories": CATS, "x": float("nan")}
    path.write_text(json.dumps(coco))  # ASCII escapes, and NaN
    first, second = CocoReader(path, TAX, video_size=(64, 48))
    assert first.image_path == str(tmp_path / "\ud800.jpg") and second.image_path == str(tmp_path / "b.jpg")


def test_file_problems_whole(tmp_path):
    with pytest.raises(DataError) as e:
        CocoReader(tmp_path, TAX)  # a folder, not a file
    assert str(e.value) == f"{tmp_path}: cannot read (Is a directory)"
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.zeros((8, 10, 3), np.uint8))  # 10 x 8
    path = tmp_path / "c.json"

    def error(images, categories=CATS, **kw):
        path.write_text(json.dumps({"images": images, "annotations": [], "categories": categories}))
        with pytest.raises(DataError) as e:
            CocoReader(path, TAX, **kw)
        return str(e.value)

    want = f"{path}:image 1: {img}: file is 10x8, JSON says 50x8"
    assert error([{"id": 1, "file_name": "a.jpg", "width": 50, "height": 8}], check_images=True) == want
    gone = tmp_path / "gone.jpg"
    assert error([{"id": 2, "file_name": "gone.jpg", "width": 5, "height": 5}]) == (
        f"{path}:image 2: image file not found: {gone}"
    )
    report = LoadReport()
    assert len(CocoReader(path, TAX, skip_bad=True, report=report)) == 0
    assert report.skipped_images == {str(gone)}
    assert error([], categories=[{"id": 1, "name": "car"}]).startswith(f"{path}:category 1: unknown category")
    # half a size in the JSON: the file's size is read, not compared
    path.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 50}], "categories": CATS})
    )
    (rec,) = CocoReader(path, TAX, check_images=True)
    assert (rec.width, rec.height) == (10, 8)


def test_one_image_keeps_its_annotations_in_file_order_beyond_sixteen(tmp_path):
    # 20 annotations per image, the two images' interleaved: a sort by image id that is not stable (numpy's
    # default beyond 16 equal keys) would shuffle each image's landmarks
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 200, 3), np.uint8))
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}]
    anns = [
        {"id": k + 1, "image_id": 2 - k % 2, "category_id": 1, "bbox": [2 * k, 0, 4, 4]} for k in range(40)
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    recs = {r.image_id: r for r in CocoReader(path, TAX)}
    assert recs[2].points[:, 0].tolist() == [2 * k + 2 for k in range(0, 40, 2)]  # box centres, file order
    assert recs[1].points[:, 0].tolist() == [2 * k + 2 for k in range(1, 40, 2)]


def test_skipping_reads_on_past_a_second_annotation_of_an_image_already_out(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [60, 0, 40, 4]},  # outside image 1: image 1 is out
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]},  # of an image already out
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [10, 10, 4, 4]},  # still read
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATS}))
    (rec,) = CocoReader(path, TAX, skip_bad=True, report=LoadReport())
    assert (rec.image_id, rec.classes.tolist()) == (2, [3])
