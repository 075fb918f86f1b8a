"""Copy-paste augmentation: crop windows, crops at model-input scale, pasting, and the pipeline step, against
hand-computed boxes, points and pixels."""

import cv2
import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.augment_config import AugmentConfig, CopyPasteConfig
from keras_lmk.training.copy_paste import Crop, CropBank, crop_window, feather, make_crop, paste

TAX = load_taxonomy("korea")
SIGNAL, SIGN = TAX.class_id("signal"), TAX.class_id("warning")
SPEC = GridSpec(input_height=120, input_width=200, stride=8, num_classes=TAX.num_classes)  # 2x a 100x60 image


def record(boxes, classes, path="x.jpg", w=100, h=60, ignore=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    ignore = np.zeros((0, 4), np.float32) if ignore is None else np.asarray(ignore, np.float32).reshape(-1, 4)
    return ImageRecord(
        path,
        w,
        h,
        boxes,
        TAX.reference_points(boxes, classes) if len(classes) else np.zeros((0, 2), np.float32),
        np.asarray(classes, np.int32),
        ignore_boxes=ignore,
        ignore_classes=np.zeros(len(ignore), np.int32),
    )


def test_crop_window_widens_by_the_margin_and_clips():
    np.testing.assert_array_equal(crop_window(np.array([40, 20, 50, 30.0]), 0.5, 100, 60), [35, 15, 55, 35])
    np.testing.assert_array_equal(crop_window(np.array([2, 1, 12, 21.0]), 0.5, 100, 60), [0, 0, 17, 31])


def test_a_crop_is_resized_to_its_model_input_scale_with_its_labels():
    image = np.zeros((60, 100, 3), np.uint8)
    image[15:35, 35:55] = (10, 20, 30)  # the window, one colour
    image[20:30, 40:50] = (200, 100, 50)  # the light
    crop = make_crop(image, record([[40, 20, 50, 30]], [SIGNAL]), 0, SPEC, margin=0.5)
    assert crop.image.shape == (40, 40, 3)  # 20 x 20 window x scale 2
    np.testing.assert_allclose(crop.boxes, [[10, 10, 30, 30]])  # ([40,20,50,30] - (35,15)) * 2
    np.testing.assert_allclose(crop.points, [[20, 20]])  # signal: box centre
    np.testing.assert_array_equal(crop.classes, [SIGNAL])
    np.testing.assert_array_equal(crop.image[20, 20], (200, 100, 50))
    np.testing.assert_array_equal(crop.image[2, 2], (10, 20, 30))


def test_a_window_that_cuts_another_landmark_is_not_a_crop_one_wholly_inside_travels_along():
    image = np.zeros((60, 100, 3), np.uint8)
    cut = record([[40, 20, 50, 30], [52, 20, 70, 30]], [SIGNAL, SIGN])  # the sign sticks out of the window
    assert make_crop(image, cut, 0, SPEC, 0.5) is None
    near_ignore = record([[40, 20, 50, 30]], [SIGNAL], ignore=[[30, 10, 38, 18]])
    assert make_crop(image, near_ignore, 0, SPEC, 0.5) is None
    inside = record([[40, 20, 50, 30], [50, 30, 54, 34]], [SIGNAL, SIGN])  # within [35, 15, 55, 35]
    crop = make_crop(image, inside, 0, SPEC, 0.5)
    np.testing.assert_allclose(crop.boxes, [[10, 10, 30, 30], [30, 30, 38, 38]])
    np.testing.assert_array_equal(crop.classes, [SIGNAL, SIGN])


def test_feather_ramps_linearly_to_the_edge():
    a = feather(1, 8, ramp_x=2.0, ramp_y=0.0)[0]
    np.testing.assert_allclose(a, [0.25, 0.75, 1, 1, 1, 1, 0.75, 0.25])


def test_paste_places_labels_and_pixels_where_nothing_is():
    crop_px = np.full((20, 20, 3), 100, np.uint8)
    crop_px[5:15, 5:15] = 250
    bank = CropBank([Crop(crop_px, np.array([[5, 5, 15, 15]], np.float32), np.array([[10, 10]], np.float32),
                          np.array([SIGNAL], np.int32))])  # fmt: skip
    cfg = CopyPasteConfig(classes=("signal",), prob=1.0, per_image=1, scale_min=1.0, scale_max=1.0)
    example = {
        "image": np.zeros((60, 100, 3), np.uint8),
        "boxes": np.array([[0, 0, 70, 60]], np.float32),  # only x >= 70 is free
        "points": np.array([[35, 30]], np.float32),
        "classes": np.array([SIGN], np.int32),
        "landmark_ids": np.array([7], np.int64),
        "distances": np.array([12.0], np.float32),
    }
    for seed in range(5):
        out = paste(example, bank, cfg, np.random.default_rng(seed))
        assert len(out["classes"]) == 2 and out["classes"][1] == SIGNAL
        x0, y0 = out["boxes"][1, :2] - 5
        assert x0 >= 70 and 0 <= y0 <= 40 and x0 == int(x0) and y0 == int(y0)
        np.testing.assert_allclose(out["boxes"][1], [x0 + 5, y0 + 5, x0 + 15, y0 + 15])
        np.testing.assert_allclose(out["points"][1], [x0 + 10, y0 + 10])
        x0, y0 = int(x0), int(y0)
        np.testing.assert_array_equal(out["image"][y0 + 10, x0 + 10], (250, 250, 250))
        assert out["image"][y0, x0, 0] < 100  # the outer margin is blended into the (black) image
        assert out["image"][:, :70].max() == 0  # nothing pasted over the sign
        assert out["landmark_ids"][1] == -1 and np.isnan(out["distances"][1])
        np.testing.assert_array_equal(out["boxes"][0], example["boxes"][0])
    assert example["image"].max() == 0  # the input is untouched
    full = dict(example, boxes=np.array([[0, 0, 100, 60]], np.float32))  # no room: nothing pasted
    assert len(paste(full, bank, cfg, np.random.default_rng(0))["classes"]) == 1


def test_the_training_pipeline_pastes_into_images_without_landmarks(tmp_path):
    from keras_lmk.training.pipeline import PipelineConfig, make_dataset

    img = np.full((60, 100, 3), 40, np.uint8)
    img[20:30, 40:50] = (30, 230, 60)
    cv2.imwrite(str(tmp_path / "light.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "empty.png"), np.full((60, 100, 3), 40, np.uint8))
    light = record([[40, 20, 50, 30]], [SIGNAL], path=str(tmp_path / "light.png"))
    empty = record([], [], path=str(tmp_path / "empty.png"))
    still = dict(
        brightness=0, contrast=0, saturation=0, hue=0, noise_std=0, zoom_min=1, zoom_max=1, translate=0
    )
    paste_cfg = CopyPasteConfig(classes=("signal",), prob=1.0, per_image=1)
    cfg = PipelineConfig(batch_size=2, augment=AugmentConfig(**still, copy_paste=paste_cfg))
    with pytest.raises(ValueError, match="no crops"):
        make_dataset([empty, empty], SPEC, cfg, taxonomy=TAX, training=True, seed=0)
    ds = make_dataset([light, empty], SPEC, cfg, taxonomy=TAX, training=True, seed=0)
    for _ in range(2):
        _, t = next(iter(ds))
        counts = (np.asarray(t["gt_class"]) == SIGNAL).sum(axis=1)
        assert (counts > 0).all()  # the empty image got a light too
    off = make_dataset([light, empty], SPEC, PipelineConfig(batch_size=2, augment=AugmentConfig(**still)),
                       taxonomy=TAX, training=True, seed=0)  # fmt: skip
    _, t = next(iter(off))
    assert sorted((np.asarray(t["gt_class"]) == SIGNAL).sum(axis=1) > 0) == [False, True]


def test_class_balanced_draw_weights_follow_the_inverse_class_count():
    from keras_lmk.training.copy_paste import draw_weights

    labels = np.array([SIGN, SIGN, SIGN, SIGNAL])
    np.testing.assert_allclose(draw_weights(labels, 0.0), [0.25] * 4)  # uniform over crops
    np.testing.assert_allclose(draw_weights(labels, 1.0), [1 / 6, 1 / 6, 1 / 6, 1 / 2])  # per class
    w = 3**-0.5  # square root: each crop weighs count^-0.5
    np.testing.assert_allclose(draw_weights(labels, 0.5), np.array([w, w, w, 1.0]) / (3 * w + 1))


def test_a_balanced_bank_pastes_the_rare_class_as_often_as_the_common_one(tmp_path):
    img = np.full((60, 100, 3), 40, np.uint8)
    records = [record([[10 + 20 * i, 20, 20 + 20 * i, 30]], [SIGN]) for i in range(3)]
    records.append(record([[40, 20, 50, 30]], [SIGNAL]))
    counts = {}
    for balance in (0.0, 1.0):
        cfg = CopyPasteConfig(classes=("signal", "warning"), prob=1.0, per_image=1, balance=balance)
        bank = CropBank.from_records(records, TAX, SPEC, cfg, read=lambda _: img)
        example = {"image": np.zeros((120, 200, 3), np.uint8), "boxes": np.zeros((0, 4), np.float32),
                   "points": np.zeros((0, 2), np.float32), "classes": np.zeros(0, np.int32),
                   "landmark_ids": np.zeros(0, np.int64), "distances": np.zeros(0, np.float32)}  # fmt: skip
        rng = np.random.default_rng(0)
        pasted = np.concatenate([paste(example, bank, cfg, rng)["classes"] for _ in range(2000)])
        counts[balance] = (pasted == SIGNAL).mean()
    assert abs(counts[0.0] - 0.25) < 0.04 and abs(counts[1.0] - 0.5) < 0.04
    with pytest.raises(ValueError, match="balance"):
        CopyPasteConfig(classes=("signal",), balance=1.5)


def test_a_truncated_jpeg_as_crop_source_is_an_error_naming_the_file(tmp_path):
    # libjpeg decodes a truncated JPEG into a partly grey image with only a warning: such crops would teach
    # grey signs; the bank must refuse the file, naming it, as every other image reader here does
    ok, jpg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (60, 100, 3), np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpg.tobytes()[: len(jpg) // 2])
    cfg = CopyPasteConfig(classes=("warning",), prob=1.0)
    with pytest.raises(FileNotFoundError, match="cut.jpg"):
        CropBank.from_records([record([[10, 20, 20, 30]], [SIGN], path=str(path))], TAX, SPEC, cfg)


def test_a_crop_pasted_at_scale_2_has_its_box_and_point_scaled_with_it():
    # a 24 x 16 crop with its light at box [6, 4, 18, 12] and point (12, 8), pasted at exactly scale 2: the
    # pasted window is 48 x 32 and, at its top-left (x0, y0), the box is (x0, y0) + 2 x [6, 4, 18, 12] and
    # the point (x0, y0) + 2 x (12, 8)
    bank = CropBank([Crop(np.full((16, 24, 3), 200, np.uint8), np.array([[6, 4, 18, 12]], np.float32),
                          np.array([[12, 8]], np.float32), np.array([SIGNAL], np.int32))])  # fmt: skip
    cfg = CopyPasteConfig(classes=("signal",), prob=1.0, per_image=1, scale_min=2.0, scale_max=2.0)
    example = {
        "image": np.zeros((60, 100, 3), np.uint8),
        "boxes": np.zeros((0, 4), np.float32),
        "points": np.zeros((0, 2), np.float32),
        "classes": np.zeros(0, np.int32),
        "landmark_ids": np.zeros(0, np.int64),
        "distances": np.zeros(0, np.float32),
    }
    for seed in range(5):
        out = paste(example, bank, cfg, np.random.default_rng(seed))
        assert len(out["classes"]) == 1
        x0, y0 = out["boxes"][0, :2] - [12, 8]
        assert 0 <= x0 <= 100 - 48 and 0 <= y0 <= 60 - 32 and x0 == int(x0) and y0 == int(y0)
        np.testing.assert_allclose(out["boxes"][0], [x0 + 12, y0 + 8, x0 + 36, y0 + 24], atol=1e-4)
        np.testing.assert_allclose(out["points"][0], [x0 + 24, y0 + 16], atol=1e-4)
