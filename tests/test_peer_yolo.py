"""The accuracy peer's own code (benchmarks/peer_yolo/): anchors, decoder, point rule, box targets.

Skipped where keras-cv is not installed (the optional ``peer`` group; CI does not install it)."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras_cv")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from peer_yolo.data import corner_boxed_markings, to_yolo_targets  # noqa: E402
from peer_yolo.model import anchor_points, decode, reference_points  # noqa: E402

from keras_lmk.data.records import ImageRecord  # noqa: E402
from keras_lmk.data.taxonomy import load_taxonomy  # noqa: E402


def test_anchor_points_are_keras_cv_anchors():
    from keras_cv.src.models.object_detection.yolo_v8.yolo_v8_detector import get_anchors

    theirs, strides = get_anchors((64, 96, 3))
    ours, our_strides = anchor_points(64, 96)
    np.testing.assert_allclose(ours, np.asarray(theirs) * np.asarray(strides)[:, None])
    np.testing.assert_allclose(our_strides, np.asarray(strides))
    assert len(ours) == 8 * 12 + 4 * 6 + 2 * 3  # strides 8, 16, 32
    np.testing.assert_allclose(ours[0], [4, 4])  # first cell's centre at stride 8
    np.testing.assert_allclose(ours[13], [12, 12])  # row 1, column 1: (8 + 4, 8 + 4)


def _peaked(n: int, rows: dict[int, int]) -> np.ndarray:
    """Box logits [n, 64] whose expected distance is ``rows[i]`` strides on every side of anchor i."""
    logits = np.full((n, 64), -30.0)
    for i, d in rows.items():
        logits[i].reshape(4, 16)[:, d] = 30.0
    return logits


def test_decode_boxes_scores_and_nms_by_hand():
    n = 8 * 12 + 4 * 6 + 2 * 3
    scores = np.zeros((n, 2))
    scores[13, 1], scores[14, 1], scores[40, 0] = 0.9, 0.8, 0.6  # 13, 14: neighbours at stride 8
    logits = _peaked(n, {13: 2, 14: 2, 40: 1})
    boxes, conf, cls = decode(logits, scores, (64, 96), 0.5)
    # anchor 13 at (12, 12), 2 strides = 16 px each side; anchor 14 at (20, 12): IoU 24*32 / (2*1024 - 768)
    # = 0.6 < 0.7, both kept; anchor 40 (row 3, col 4 at stride 8 -> (36, 28)), class 0, 8 px each side
    np.testing.assert_allclose(boxes, [[-4, -4, 28, 28], [4, -4, 36, 28], [28, 20, 44, 36]], atol=1e-4)
    np.testing.assert_allclose(conf, [0.9, 0.8, 0.6], atol=1e-6)
    np.testing.assert_array_equal(cls, [1, 1, 0])
    # overlapping same-class boxes above the IoU: the lower score goes; another class never suppresses
    logits = _peaked(n, {13: 4, 14: 4, 40: 1})  # 32 px each side: IoU 56*64 / (2*4096 - 56*64) = 0.78
    boxes, conf, cls = decode(logits, scores, (64, 96), 0.5)
    np.testing.assert_allclose(conf, [0.9, 0.6], atol=1e-6)
    # a higher threshold keeps exactly the detections at or above it
    _, conf, _ = decode(logits, scores, (64, 96), 0.7)
    np.testing.assert_allclose(conf, [0.9], atol=1e-6)


def test_points_by_the_taxonomy_rules():
    tax = load_taxonomy()
    boxes = np.array([[10, 20, 30, 60], [10, 20, 30, 60]], np.float32)
    cls = np.array([tax.class_id("warning"), tax.class_id("road_marking")]) - 1  # 0-based, as decoded
    np.testing.assert_allclose(reference_points(boxes, cls, tax), [[20, 40], [30, 60]])


def test_targets_paint_ignore_regions_outside_labelled_boxes():
    import tensorflow as tf

    image = np.full((8, 8, 3), 200, np.uint8)
    ex = {
        "image": tf.constant(image),
        "boxes": tf.constant([[0, 0, 4, 4], [2, 2, 8, 8]], tf.float32),  # a landmark, an ignore region
        "classes": tf.constant([3, 0], tf.int32),
    }
    img, y = to_yolo_targets(ex, max_boxes=3)
    img = img.numpy()[..., 0]
    assert (img[:4, :4] == 200).all()  # the landmark's pixels stay, also where the region overlaps them
    assert (img[4:, 2:] == 114).all() and (img[2:4, 4:] == 114).all()  # the rest of the region is grey
    assert (img[:2, 4:] == 200).all() and (img[4:, :2] == 200).all()  # outside both: untouched
    np.testing.assert_allclose(y["boxes"].numpy(), [[0, 0, 4, 4], [-1, -1, -1, -1], [-1, -1, -1, -1]])
    np.testing.assert_allclose(y["classes"].numpy(), [2, -1, -1])


def test_corner_boxed_markings_cut_the_box_at_the_point():
    tax = load_taxonomy()
    mark, sign = tax.class_id("road_marking"), tax.class_id("warning")
    rec = ImageRecord(
        "x.jpg",
        100,
        100,
        boxes=np.array([[10, 10, 50, 40], [60, 60, 70, 70]]),
        points=np.array([[42, 40], [65, 65]]),
        classes=np.array([mark, sign]),
    )
    (out,) = corner_boxed_markings([rec], tax)
    np.testing.assert_allclose(out.boxes, [[10, 10, 42, 40], [60, 60, 70, 70]])
    np.testing.assert_allclose(reference_points(out.boxes[:1], [mark - 1], tax), [[42, 40]])
    np.testing.assert_allclose(out.points, rec.points)  # the labels' points stay
