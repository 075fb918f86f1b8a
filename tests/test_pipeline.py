import dataclasses

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox, letterbox_image
from keras_lmk.training.augment import AugmentConfig
from keras_lmk.training.pipeline import PipelineConfig, make_dataset, pipeline_throughput

TAX = load_taxonomy("korea")
SPEC = GridSpec(input_height=64, input_width=96, stride=8, num_classes=TAX.num_classes)
CFG = PipelineConfig(batch_size=2, shuffle_buffer=4, min_background=4)
SIGN, MARKING = TAX.class_id("warning"), TAX.class_id("road_marking")


def write_records(tmp_path) -> list[ImageRecord]:
    """Three small JPEGs with bright rectangles where the landmarks are."""
    specs = [
        ((96, 128), [[20, 30, 44, 54], [80, 60, 120, 80]], [SIGN, MARKING]),
        ((80, 100), [[50, 10, 70, 30]], [SIGN]),
        ((64, 96), np.zeros((0, 4)), []),
    ]
    records = []
    for i, ((h, w), boxes, classes) in enumerate(specs):
        img = np.full((h, w, 3), 60, np.uint8)
        for x0, y0, x1, y1 in np.asarray(boxes, int):
            img[y0:y1, x0:x1] = (250, 200, 30)
        path = tmp_path / f"img{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        points = TAX.reference_points(boxes, classes) if len(classes) else np.zeros((0, 2))
        records.append(ImageRecord(str(path), w, h, boxes, points, classes, image_id=i))
    return records


@pytest.fixture()
def records(tmp_path):
    return write_records(tmp_path)


def batches(ds):
    return [(np.asarray(x), {k: np.asarray(v) for k, v in t.items()}) for x, t in ds]


def test_eval_batches_shapes_and_targets(records):
    out = batches(make_dataset(records, SPEC, CFG, taxonomy=TAX, training=False))
    assert [len(x) for x, _ in out] == [2, 1]  # eval keeps the partial batch
    x, t = out[0]
    assert x.shape == (2, 64, 96, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    assert t["gt_class"].shape == (2, SPEC.num_cells) and t["gt_class"].dtype == np.int32
    assert t["gt_point"].shape == (2, SPEC.num_cells, 2) and t["gt_point"].dtype == np.float32
    assert t["cls_mask"].shape == (2, SPEC.num_cells) and t["cls_mask"].dtype == np.float32

    images = np.concatenate([b[0] for b in out])
    targets = {k: np.concatenate([b[1][k] for b in out]) for k in t}
    for i, r in enumerate(records):
        lb = Letterbox.fit(r.width, r.height, SPEC.input_width, SPEC.input_height)
        want, _ = letterbox_image(cv2.cvtColor(cv2.imread(r.image_path), cv2.COLOR_BGR2RGB), 96, 64)
        assert np.abs(images[i] - want).mean() < 4  # TF vs OpenCV JPEG decode + resampling
        assert (targets["gt_class"][i] > 0).sum() >= r.num_landmarks
        n_landmark_cells = (targets["gt_class"][i] > 0).sum()
        assert targets["cls_mask"][i].sum() >= n_landmark_cells + CFG.min_background
        for p, c in zip(lb.to_input(r.points), r.classes, strict=True):
            cell = int(p[1] // SPEC.stride) * SPEC.grid_w + int(p[0] // SPEC.stride)
            if c == SIGN:  # a centre point lies in its own (centre) cell
                assert targets["gt_class"][i, cell] == c
                np.testing.assert_allclose(
                    targets["gt_point"][i, cell], SPEC.to_cell_units(p[None], [cell])[0], atol=1e-4
                )
            # every landmark cell of this class regresses a point of this image's landmarks
            cells = np.flatnonzero(targets["gt_class"][i] == c)
            px = SPEC.to_pixels(targets["gt_point"][i][None])[0][cells]
            assert np.min(np.abs(px - p).sum(axis=1)) < 1e-3
    assert (targets["gt_class"][2] == 0).all() and targets["cls_mask"][2].sum() >= CFG.min_background


def test_training_is_deterministic_and_reaugments_each_epoch(records):
    cfg = dataclasses.replace(CFG, augment=AugmentConfig(hflip_prob=0.5))
    a = batches(make_dataset(records, SPEC, cfg, taxonomy=TAX, training=True, seed=3))
    b = batches(make_dataset(records, SPEC, cfg, taxonomy=TAX, training=True, seed=3))
    assert len(a) == 1 and a[0][0].shape == (2, 64, 96, 3)  # drop_remainder when training
    np.testing.assert_array_equal(a[0][0], b[0][0])
    for k in a[0][1]:
        np.testing.assert_array_equal(a[0][1][k], b[0][1][k])
    two_epochs = batches(make_dataset(records, SPEC, cfg, taxonomy=TAX, training=True, seed=3).repeat(2))
    assert not np.array_equal(two_epochs[0][0], two_epochs[1][0])
    # targets stay non-trivial under augmentation
    assert any((t["gt_class"] > 0).any() for _, t in two_epochs)


def test_cache_in_memory_same_eval_output(records):
    plain = batches(make_dataset(records, SPEC, CFG, taxonomy=TAX, training=False))
    cached = batches(
        make_dataset(records, SPEC, dataclasses.replace(CFG, cache="memory"), taxonomy=TAX, training=False)
    )
    for (xa, ta), (xb, tb) in zip(plain, cached, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta["cls_mask"], tb["cls_mask"])


def test_size_mismatch_is_an_error(records):
    bad = dataclasses.replace(records[0], width=records[0].width + 1)
    ds = make_dataset([bad], SPEC, CFG, taxonomy=TAX, training=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="differs from the annotation"):
        batches(ds)


def test_missing_file_is_an_error(records, tmp_path):
    gone = dataclasses.replace(records[1], image_path=str(tmp_path / "nope.jpg"))
    with pytest.raises(tf.errors.NotFoundError):
        batches(make_dataset([gone], SPEC, CFG, taxonomy=TAX, training=False))


def test_spec_taxonomy_mismatch():
    with pytest.raises(ValueError, match="classes"):
        make_dataset([], dataclasses.replace(SPEC, num_classes=3), CFG, taxonomy=TAX, training=False)


def test_pipeline_throughput(records):
    ds = make_dataset(records, SPEC, dataclasses.replace(CFG, batch_size=1), taxonomy=TAX, training=True)
    assert pipeline_throughput(ds.repeat(), steps=3) > 0


def marking_example() -> dict:
    """One 64x32 road marking at the top left of a 96x64 input, its point at the box's lower-right corner."""
    return {
        "boxes": tf.constant([[0.0, 0.0, 64.0, 32.0]]),
        "points": tf.constant([[64.0, 32.0]]),
        "classes": tf.constant([MARKING]),
        "seed": tf.constant([1, 2], tf.int64),
        "image": tf.zeros([64, 96, 3], tf.uint8),
    }


def test_point_radius_reaches_the_target_encoder():
    # One 64x32 marking in a 96x64 input (no letterbox change), its point at the box's lower-right corner
    # (64, 32); with point_radius 20 only cells (2..3, 6..7) are landmark cells (same hand count as in
    # tests/test_targets.py), the other 28 cells of the box are left out of the class loss.
    from keras_lmk.training.pipeline import make_encoder

    cfg = dataclasses.replace(CFG, point_radius=20.0, background_ratio=None)
    _, t = make_encoder(SPEC, cfg)(marking_example())
    cells = {r * SPEC.grid_w + c for r in (2, 3) for c in (6, 7)}
    assert set(np.flatnonzero(t["gt_class"].numpy())) == cells
    box = {r * SPEC.grid_w + c for r in range(4) for c in range(8)}
    assert set(np.flatnonzero(t["cls_mask"].numpy() == 0)) == box - cells


def test_ignore_regions_are_neither_landmark_nor_background(tmp_path):
    # a 96x64 image (no letterbox change at this SPEC): a sign box [8, 8, 24, 24] (cells rows 1-2, cols 1-2)
    # and an ignore region [48, 32, 80, 64] (rows 4-7, cols 6-9: 16 cells). With every background cell
    # selected, exactly those 16 cells stay out of the class loss.
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), np.zeros((64, 96, 3), np.uint8))
    rec = ImageRecord(
        str(path), 96, 64, [[8, 8, 24, 24]], [[16, 16]], [SIGN],
        ignore_boxes=[[48, 32, 80, 64]], ignore_classes=[MARKING],
    )  # fmt: skip
    cfg = dataclasses.replace(CFG, background_ratio=None)
    ((_, t),) = batches(make_dataset([rec], SPEC, cfg, taxonomy=TAX, training=False))
    ignored = {r * SPEC.grid_w + c for r in range(4, 8) for c in range(6, 10)}
    assert set(np.flatnonzero(t["cls_mask"][0] == 0)) == ignored
    assert set(np.flatnonzero(t["gt_class"][0])) == {r * SPEC.grid_w + c for r in (1, 2) for c in (1, 2)}


def test_far_cells_reaches_the_target_encoder():
    # the marking of test_point_radius_reaches_the_target_encoder with far_cells="background": the
    # max(round(1.0 * 4), min_background 4) = 4 background cells are all far cells of its box
    from keras_lmk.training.pipeline import make_encoder

    cfg = dataclasses.replace(CFG, point_radius=20.0, far_cells="background")
    _, t = make_encoder(SPEC, cfg)(marking_example())
    near = {r * SPEC.grid_w + c for r in (2, 3) for c in (6, 7)}
    box = {r * SPEC.grid_w + c for r in range(4) for c in range(8)}
    chosen = set(np.flatnonzero(t["cls_mask"].numpy())) - near
    assert len(chosen) == 4 and chosen <= box - near


def test_mined_negatives_reach_the_batches_and_the_loss(records):
    # 3 images: each keeps max(round(1.0 * landmark cells), 4) background cells, half of them (rounded)
    # left to the loss; batch_loss runs on the batch with the mining keys
    from keras_lmk.detector.losses import LossConfig, batch_loss

    cfg = dataclasses.replace(CFG, mined_negatives=0.5)
    out = batches(make_dataset(records, SPEC, cfg, taxonomy=TAX, training=False))
    x, t = out[0]
    assert t["mine_pool"].shape == (2, SPEC.num_cells) and t["mine_count"].shape == (2,)
    for i in range(2):
        bg = t["gt_class"][i] == 0
        n_bg = max(round((~bg).sum()), 4)
        assert t["mine_count"][i] == round(0.5 * n_bg)
        assert t["cls_mask"][i][bg].sum() == n_bg - round(0.5 * n_bg)
    logits = np.zeros((2, SPEC.num_cells, 1, TAX.num_classes), np.float32)
    outputs = {"class_logits": logits, "points": np.zeros((2, SPEC.num_cells, 1, 2), np.float32)}
    total, cls, _ = batch_loss(outputs, t, LossConfig())
    # uniform P: every selected background cell costs log M, mined ones included
    n_sel = [t["cls_mask"][i].sum() + t["mine_count"][i] for i in range(2)]
    assert float(cls) == pytest.approx(np.mean(n_sel) * np.log(TAX.num_classes), rel=1e-5)
    with pytest.raises(ValueError, match="mined_negatives"):
        dataclasses.replace(CFG, mined_negatives=2.0)
