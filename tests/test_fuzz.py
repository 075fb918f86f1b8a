"""Fuzzing (hypothesis, bounded): every parser returns records or its documented error, never anything else;
the target encoder and the decoder never produce non-finite or out-of-range values.

Parsers: COCO / GTSDB / YOLO -> ``keras_lmk.data.validation.DataError``; camera / poses / map ->
``keras_lmk.geometry.camera.GeometryError``. Inputs are valid files mutated at the JSON-value level (replace
or
delete a value anywhere, with NaN/inf, huge ints, strings, lists, null) or at the byte level (flip, insert,
truncate).
"""

import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_lmk.data.coco import load_coco
from keras_lmk.data.gtsdb import load_gtsdb
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport
from keras_lmk.data.yolo import load_yolo
from keras_lmk.detector.decode import DecoderConfig, decode
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox
from keras_lmk.detector.targets import encode_targets
from keras_lmk.geometry.camera import GeometryError, camera_from_json, load_camera, load_poses
from keras_lmk.geometry.map_ground_truth import parse_map

TAX = load_taxonomy("korea")
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------------------------------ mutation tools

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "nan", "inf", "-1", "1e400", "0x10", "²", "١", "\x00", "../x", "é"]),
    st.text(max_size=6),
)
VALUES = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, data, n_max=3):
    """Replace or delete up to n_max values anywhere in a JSON document (a deep copy)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, n_max))):
        path = data.draw(st.sampled_from(list(_paths(doc))))
        new = data.draw(VALUES)
        if not path:
            doc = new
            continue
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    return doc


def _mutate_bytes(raw: bytes, data) -> bytes:
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "insert", "truncate", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(b) - 1)))
        if kind == "flip" and b:
            b[pos] = data.draw(st.integers(0, 255))
        elif kind == "insert":
            b[pos:pos] = data.draw(st.binary(min_size=1, max_size=6))
        elif kind == "truncate":
            del b[pos:]
        elif b:
            del b[pos : pos + data.draw(st.integers(1, 8))]
    return bytes(b)


def _dumps(doc) -> str:
    return json.dumps(doc, allow_nan=True)  # NaN/Infinity literals: Python's json reads them back


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with two small images (32x24 PNG) used by every parser."""
    root = tmp_path_factory.mktemp("fuzz")
    for name in ("00000.png", "00001.png"):
        cv2.imwrite(str(root / name), np.zeros((24, 32, 3), np.uint8))
    return root


def _check_records(records):
    for r in records:
        n = r.num_landmarks
        assert r.boxes.shape == (n, 4) and r.points.shape == (n, 2) and r.classes.shape == (n,)
        assert np.isfinite(r.boxes).all() and np.isfinite(r.points).all()
        assert ((r.classes >= 1) & (r.classes < TAX.num_classes)).all()
        assert (r.boxes[:, 2] > r.boxes[:, 0]).all() and (r.boxes[:, 3] > r.boxes[:, 1]).all()
        assert (r.boxes >= 0).all() and (r.boxes[:, [0, 2]] <= r.width).all()
        assert (r.boxes[:, [1, 3]] <= r.height).all()


def _load_or_data_error(load, *args, **kw):
    try:
        records = load(*args, **kw)
    except DataError as e:
        assert str(e)  # message names the place
        return None
    _check_records(records)
    return records


# -------------------------------------------------------------------------------------------------- COCO

COCO = {
    "images": [
        {"id": 1, "file_name": "00000.png", "width": 32, "height": 24},
        {"id": 2, "file_name": "00001.png", "width": 32, "height": 24},
    ],
    "categories": [{"id": 1, "name": "warning"}, {"id": 6, "name": "road_marking"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8], "keypoints": [7, 7, 2]},
        {"id": 2, "image_id": 2, "category_id": 6, "bbox": [5, 5, 20, 10], "landmark_id": 4, "distance": 3.5},
    ],
}


@FUZZ
@given(data=st.data())
def test_coco_mutated_values(folder, data):
    path = folder / "coco.json"
    path.write_text(_dumps(_mutate(COCO, data)))
    skip = data.draw(st.booleans())
    _load_or_data_error(load_coco, path, TAX, skip_bad=skip, report=LoadReport())


@FUZZ
@given(data=st.data())
def test_coco_mutated_bytes(folder, data):
    path = folder / "coco_b.json"
    path.write_bytes(_mutate_bytes(_dumps(COCO).encode(), data))
    _load_or_data_error(load_coco, path, TAX)


@pytest.mark.parametrize(
    "path, value",
    [
        (("images", 0, "id"), math.inf),
        (("images", 0, "width"), math.inf),
        (("categories", 0, "id"), -math.inf),
        (("annotations", 0, "category_id"), math.inf),
        (("annotations", 1, "landmark_id"), math.inf),
        (("annotations", 0, "image_id"), [1]),
        (("annotations",), {"a": 1}),
    ],
)
def test_coco_extreme_values_are_data_errors(folder, path, value):
    doc = json.loads(json.dumps(COCO))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    (folder / "extreme.json").write_text(_dumps(doc))
    with pytest.raises(DataError):
        load_coco(folder / "extreme.json", TAX)


def test_non_utf8_label_files_are_data_errors(folder, yolo_folder):
    (folder / "latin1.json").write_bytes(
        _dumps(COCO).replace("warning", "warn\u00efng").encode()[:-2] + b"\xef}"
    )
    with pytest.raises(DataError, match="UTF-8|invalid JSON"):
        load_coco(folder / "latin1.json", TAX)
    (folder / "gt.txt").write_bytes(b"00000.ppm;2;3;12;11;11\n\xff\xfe")
    with pytest.raises(DataError, match="gt.txt: not UTF-8"):
        load_gtsdb(folder, TAX)
    (folder / "gt.txt").write_text("00000.ppm;2;3;12;11;\u00b2\n")  # superscript two: isdigit() but not int()
    with pytest.raises(DataError, match="unknown class"):
        load_gtsdb(folder, TAX)


# ------------------------------------------------------------------------------------------ GTSDB / YOLO

FIELD = st.one_of(
    st.integers(-50, 60).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "11", "99", "²", "١", "1e400", "nan", "00000.ppm", "00001.png", "x.ppm"]),
    st.text(max_size=5),
)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.lists(FIELD, min_size=6, max_size=6).map(";".join),
            st.lists(FIELD, max_size=8).map(";".join),
            st.just("00000.ppm;2;3;12;11;11"),
        ),
        max_size=5,
    ),
    data=st.data(),
)
def test_gtsdb_random_lines(folder, lines, data):
    gt = folder / "gt.txt"
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        raw = _mutate_bytes(raw or b"00000.ppm;2;3;12;11;11", data)
    gt.write_bytes(raw)
    _load_or_data_error(load_gtsdb, folder, TAX, skip_bad=data.draw(st.booleans()), report=LoadReport())


@pytest.fixture(scope="module")
def yolo_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("yolo")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.zeros((24, 32, 3), np.uint8))
    return root


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.lists(FIELD, min_size=5, max_size=5).map(" ".join),
            st.lists(FIELD, min_size=8, max_size=8).map(" ".join),
            st.lists(st.floats(-0.5, 1.5).map(lambda v: f"{v:.3f}"), min_size=4, max_size=4).map(
                lambda v: "0 " + " ".join(v)
            ),
            st.text(max_size=20),
        ),
        max_size=5,
    ),
    data=st.data(),
)
def test_yolo_random_label_files(yolo_folder, lines, data):
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        raw = _mutate_bytes(raw or b"0 0.5 0.5 0.2 0.2", data)
    (yolo_folder / "labels" / "a.txt").write_bytes(raw)
    _load_or_data_error(load_yolo, yolo_folder, TAX, {0: 1, 1: 6}, skip_bad=data.draw(st.booleans()))


# ----------------------------------------------------------------------------------- camera, poses, map

CAMERA = {
    "fx": 300.0,
    "fy": 300.0,
    "cx": 160.0,
    "cy": 90.0,
    "width": 320,
    "height": 180,
    "dist": [0.0, 0.0, 0.0, 0.0, 0.0],
    "near": 0.3,
    "mount": {"x": 1.5, "y": 0.0, "z": 1.4, "roll": 0.0, "pitch": 0.02, "yaw": 0.0},
}
POSES = [{"frame": 0, "x": 0, "y": 0, "z": 0, "yaw": 0.1, "pitch": 0, "roll": 0}]
MAP = {
    "taxonomy": "korea",
    "landmarks": [
        {
            "id": 1,
            "class": "warning",
            "point": [20, 2, 2.5],
            "outline": [[20, 2.5, 2], [20, 1.5, 2], [20, 1.5, 3], [20, 2.5, 3]],
        },
        {
            "id": 2,
            "class": "road_marking",
            "point": [10, -1, 0],
            "outline": [[10, -1, 0], [12, -1, 0], [12, -2, 0], [10, -2, 0]],
        },
    ],
}


@FUZZ
@given(data=st.data())
def test_camera_file_mutations(folder, data):
    path = folder / "camera.json"
    if data.draw(st.booleans()):
        path.write_text(_dumps(_mutate(CAMERA, data)))
    else:
        path.write_bytes(_mutate_bytes(_dumps(CAMERA).encode(), data))
    try:
        cam = load_camera(path)
    except GeometryError as e:
        assert str(path) in str(e)
        return
    assert cam.fx > 0 and cam.fy > 0 and cam.width >= 1 and cam.height >= 1
    assert all(math.isfinite(v) for v in (cam.cx, cam.cy, cam.near, *cam.dist))


@FUZZ
@given(data=st.data())
def test_poses_file_mutations(folder, data):
    path = folder / "poses.json"
    if data.draw(st.booleans()):
        path.write_text(_dumps(_mutate(POSES, data)))
    else:
        path.write_bytes(_mutate_bytes(_dumps(POSES).encode(), data))
    try:
        poses = load_poses(path)
    except GeometryError:
        return
    for p in poses:
        assert np.isfinite(p.position).all() and np.isfinite(p.rotation).all()


@FUZZ
@given(data=st.data())
def test_map_mutations_give_landmarks_or_geometry_error(data):
    doc = _mutate(MAP, data)
    try:
        lmap = parse_map(doc, taxonomy=TAX, source="map.json")
    except GeometryError as e:
        assert "map.json" in str(e)
        return
    for lm in lmap.landmarks:
        assert np.isfinite(lm.point).all() and np.isfinite(lm.outline).all() and len(lm.outline) >= 3
        assert np.isfinite(lm.normal).all()


@pytest.mark.parametrize(
    "change",
    [
        {"id": math.inf},
        {"id": [1]},
        {"class": [1]},
        {"point": "abc"},
        {"outline": [[1e308, 1e308, 0], [-1e308, 0, 1e308], [0, -1e308, 1]]},
        {"outline": [[0, 0, 0], [1, 1, 1], [2, 2, 2]]},
    ],
)
def test_map_extreme_values_are_geometry_errors(change):
    doc = {"landmarks": [{**MAP["landmarks"][0], **change}]}
    with pytest.raises(GeometryError, match="landmark"):
        parse_map(doc, taxonomy=TAX, source="map.json")


def test_map_taxonomy_field_must_be_a_name():
    with pytest.raises(GeometryError, match="taxonomy"):
        parse_map({"taxonomy": [1], "landmarks": []})


def test_valid_fixtures_parse(folder):
    """The unmutated documents are valid, so the fuzzers start from files that load."""
    (folder / "ok.json").write_text(json.dumps(COCO))
    assert len(load_coco(folder / "ok.json", TAX)) == 2
    assert camera_from_json(CAMERA).width == 320
    assert len(parse_map(MAP, taxonomy=TAX)) == 2


# ---------------------------------------------------------------------------------------- target encoder

SPEC = GridSpec(input_height=48, input_width=64, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)), num_classes=4)
COORD = st.one_of(
    st.floats(-100, 200),
    st.sampled_from(
        [0.0, 64.0, 48.0, 8.0, 1e-9, -1e-9, 1e30, -1e30, 3.4e38, 1e300, -1e300, math.nan, math.inf, -math.inf]
    ),
)


@FUZZ
@given(
    n=st.integers(0, 6),
    data=st.data(),
    ratio=st.one_of(st.none(), st.floats(-1, 4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_encoder_random_boxes(n, data, ratio, seed):
    boxes = np.array(data.draw(st.lists(st.lists(COORD, min_size=4, max_size=4), min_size=n, max_size=n)))
    # half the time, make well-formed (possibly overlapping, degenerate or off-image) boxes from two corners
    if n and data.draw(st.booleans()):
        boxes = np.concatenate(
            [np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1
        )
    points = np.array(data.draw(st.lists(st.lists(COORD, min_size=2, max_size=2), min_size=n, max_size=n)))
    classes = np.array(data.draw(st.lists(st.integers(-1, 5), min_size=n, max_size=n)), np.int64)
    try:
        t = encode_targets(
            SPEC, boxes.reshape(n, 4), points.reshape(n, 2), classes, background_ratio=ratio, rng=seed
        )
    except ValueError:
        return
    s = SPEC.num_cells
    assert t["gt_class"].shape == (s,) and t["gt_class"].dtype == np.int32
    assert t["gt_point"].shape == (s, 2) and np.isfinite(t["gt_point"]).all()
    assert ((t["gt_class"] >= 0) & (t["gt_class"] < SPEC.num_classes)).all()
    assert set(np.unique(t["cls_mask"])) <= {0.0, 1.0}
    assert (t["cls_mask"][t["gt_class"] > 0] == 1).all()


def test_encoder_rejects_points_that_overflow_cell_units():
    with pytest.raises(ValueError, match="within"):
        encode_targets(SPEC, [[0, 0, 16, 16]], [[1e300, 0]], [1], rng=0)


# ---------------------------------------------------------------------------------------------- decoder

LOGIT = st.one_of(
    st.floats(-50, 50, width=32),
    st.sampled_from([0.0, 1e4, -1e4, 3.4e38, -3.4e38, math.nan, math.inf, -math.inf]),
)


def test_decoder_threshold_zero_with_zero_confidence_votes():
    """score_threshold 0 keeps votes whose confidence underflows to 0: their cluster has no weight."""
    logits = np.zeros((SPEC.num_cells, SPEC.num_anchors, SPEC.num_classes), np.float32)
    logits[..., 0] = 1e4
    points = np.full((SPEC.num_cells, SPEC.num_anchors, 2), 0.5, np.float32)
    lb = Letterbox.fit(64, 48, SPEC.input_width, SPEC.input_height)
    dets = decode(logits, points, SPEC, lb, DecoderConfig(score_threshold=0.0))
    assert len(dets) and np.isfinite(dets.points).all() and (dets.scores == 0).all()


@FUZZ
@given(
    data=st.data(),
    image=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    threshold=st.sampled_from([0.0, 1e-6, 0.3, 0.99]),
    fill=st.sampled_from([None, 0.0, 1e4, -1e4, math.nan, math.inf]),
)
def test_decoder_random_outputs(data, image, threshold, fill):
    s, a, m = SPEC.num_cells, SPEC.num_anchors, SPEC.num_classes
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(0, data.draw(st.sampled_from([1.0, 10.0, 1e3])), (s, a, m)).astype(np.float32)
    points = rng.normal(0.5, data.draw(st.sampled_from([0.5, 100.0, 1e30])), (s, a, 2)).astype(np.float32)
    if fill is not None:  # a whole class column, e.g. a saturated or broken background output
        logits[..., data.draw(st.integers(0, m - 1))] = fill
    for _ in range(data.draw(st.integers(0, 6))):  # a few extreme values anywhere
        idx = tuple(int(rng.integers(0, d)) for d in logits.shape)
        logits[idx] = data.draw(LOGIT)
        pidx = tuple(int(rng.integers(0, d)) for d in points.shape)
        points[pidx] = data.draw(LOGIT)
    w, h = image
    lb = Letterbox.fit(w, h, SPEC.input_width, SPEC.input_height)
    with np.errstate(all="ignore"):  # overflow inside softmax is expected here; results must still be clean
        dets = decode(logits, points, SPEC, lb, DecoderConfig(score_threshold=threshold), image_size=(w, h))
    assert np.isfinite(dets.scores).all() and np.isfinite(dets.points).all()
    assert ((dets.scores >= threshold) & (dets.scores <= 1)).all()
    assert ((dets.points[:, 0] >= 0) & (dets.points[:, 0] <= w)).all()
    assert ((dets.points[:, 1] >= 0) & (dets.points[:, 1] <= h)).all()
    assert ((dets.classes >= 1) & (dets.classes < m)).all()
    assert len(dets) <= DecoderConfig().max_detections
