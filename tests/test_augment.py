import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.detector.letterbox import Letterbox, letterbox_image
from keras_lmk.training.augment import (
    AugmentConfig,
    affine,
    clip_and_drop,
    letterbox,
    make_augment,
    photometric,
    random_affine,
    random_crop,
    random_hflip,
    rule_matrices,
)

TAX = load_taxonomy("korea")
MARKING = TAX.class_id("road_marking")  # bbox_bottom_right
SIGN = TAX.class_id("warning")  # bbox_center
GEOMETRY_ONLY = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, noise_std=0)


def example(image, boxes, classes, points=None, seed=(1, 2)):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes, np.int32).reshape(-1)
    if points is None:
        points = TAX.reference_points(boxes, classes) if len(classes) else np.zeros((0, 2), np.float32)
    return {
        "image": tf.constant(image, tf.uint8),
        "boxes": tf.constant(boxes),
        "points": tf.constant(np.asarray(points, np.float32).reshape(-1, 2)),
        "classes": tf.constant(classes),
        "seed": tf.constant(seed, tf.int64),
    }


def np_dict(ex):
    return {k: np.asarray(v) for k, v in ex.items()}


@pytest.mark.parametrize("hw", [(100, 150), (37, 53), (200, 64), (40, 60)])
def test_letterbox_matches_numpy(hw):
    h, w = hw
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    img = np.asarray(tf.image.resize(img[None], (h, w)))[0].astype(np.uint8)  # smooth-ish content
    pts = rng.uniform(0, [w, h], (5, 2)).astype(np.float32)
    boxes = np.concatenate([pts - 2, pts + 2], axis=1)
    ex = example(img, boxes, [SIGN] * 5, points=pts)
    out = np_dict(letterbox(ex, 96, 64))
    want_img, lb = letterbox_image(img, 96, 64)
    assert out["image"].shape == (64, 96, 3) and out["image"].dtype == np.uint8
    np.testing.assert_allclose(out["letterbox"], [lb.scale, lb.pad_x, lb.pad_y], rtol=1e-6)
    np.testing.assert_allclose(out["points"], lb.to_input(pts), atol=1e-4)
    np.testing.assert_allclose(out["boxes"], lb.boxes_to_input(boxes), atol=1e-4)
    # same padding geometry exactly; resampling kernels differ slightly between TF and OpenCV
    pad = np.all(want_img == 114, axis=-1)
    assert np.all(out["image"][pad] == 114)
    assert np.abs(out["image"].astype(int) - want_img.astype(int)).mean() < 4


def dotted(h, w, pts):
    img = np.zeros((h, w, 3), np.uint8)
    for x, y in pts:
        xi, yi = int(x), int(y)
        img[max(yi - 1, 0) : yi + 2, max(xi - 1, 0) : xi + 2] = 255
    return img


def test_affine_hand_computed():
    ex = example(np.zeros((80, 100, 3)), [[50, 30, 70, 50]], [SIGN])  # centre (60, 40)
    out = np_dict(affine(ex, 2.0, [0.0, 0.0]))
    # out = 2 * (in - (50, 40)) + (50, 40)
    np.testing.assert_allclose(out["points"], [[70, 40]])
    np.testing.assert_allclose(out["boxes"], [[50, 20, 90, 60]])
    out = np_dict(affine(ex, 0.5, [10.0, -5.0]))
    np.testing.assert_allclose(out["points"], [[0.5 * 10 + 50 + 10, 40 - 5]])


@pytest.mark.parametrize("seed", range(6))
def test_dots_stay_under_points_after_random_geometry(seed):
    h, w = 96, 128
    pts = np.array([[20.5, 30.5], [64.5, 48.5], [100.5, 70.5], [40.5, 80.5]], np.float32)
    boxes = np.concatenate([pts - 6, pts + 6], axis=1)
    ex = example(dotted(h, w, pts), boxes, [SIGN] * 4, points=pts, seed=(seed, 7))
    cfg = AugmentConfig(zoom_min=0.7, zoom_max=1.5, translate=0.15, min_visible=0.0)
    out = np_dict(random_affine(ex, cfg, ex["seed"]))
    assert len(out["points"]) >= 1
    for x, y in out["points"]:
        assert out["image"][int(y), int(x)].min() > 100, (x, y)
    # boxes and points still agree (centre rule, boxes fully inside or clipped symmetric enough)
    inside = np.all((out["boxes"][:, :2] > 0) & (out["boxes"][:, 2:] < [w, h]), axis=1)
    np.testing.assert_allclose(
        TAX.reference_points(out["boxes"][inside], out["classes"][inside]), out["points"][inside], atol=1e-3
    )


def test_drop_rules():
    img = np.zeros((80, 100, 3))
    boxes = [[10, 10, 20, 20], [90, 10, 130, 30], [95, 60, 105, 70], [40, 40, 60, 60]]
    ex = example(img, boxes, [SIGN, SIGN, SIGN, MARKING])
    # box 1: 25% visible -> dropped; box 2: centre (100, 65) on the right edge -> outside -> dropped
    out = np_dict(clip_and_drop(ex, min_visible=0.5))
    np.testing.assert_array_equal(out["classes"], [SIGN, MARKING])
    np.testing.assert_allclose(out["boxes"], [[10, 10, 20, 20], [40, 40, 60, 60]])


def test_empty_example():
    ex = example(np.zeros((64, 64, 3)), np.zeros((0, 4)), np.zeros((0,)))
    out = np_dict(make_augment(AugmentConfig(hflip_prob=1.0), TAX)(ex))
    assert out["boxes"].shape == (0, 4) and out["points"].shape == (0, 2) and out["classes"].shape == (0,)


def test_rule_matrices():
    rules, variant = rule_matrices(TAX)
    box = np.array([2.0, 4.0, 10.0, 20.0], np.float32)
    np.testing.assert_allclose(box @ rules[SIGN], [6, 12])
    np.testing.assert_allclose(box @ rules[MARKING], [10, 20])
    assert variant[MARKING] and not variant[SIGN] and not variant[0]


def test_flip_safe_only_never_flips_markings():
    rules, variant = rule_matrices(TAX)
    cfg = AugmentConfig(hflip_prob=1.0, hflip_mode="safe_only")
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :10] = 255
    with_marking = example(img, [[10, 20, 30, 30], [40, 5, 50, 15]], [MARKING, SIGN])
    out = np_dict(random_hflip(with_marking, cfg, with_marking["seed"], rules, variant))
    np.testing.assert_array_equal(out["points"], np.asarray(with_marking["points"]))
    assert out["image"][0, 0, 0] == 255  # not flipped
    signs_only = example(img, [[40, 5, 50, 15]], [SIGN])
    out = np_dict(random_hflip(signs_only, cfg, signs_only["seed"], rules, variant))
    np.testing.assert_allclose(out["points"], [[60 - 45, 10]])
    np.testing.assert_allclose(out["boxes"], [[10, 5, 20, 15]])
    assert out["image"][0, -1, 0] == 255 and out["image"][0, 0, 0] == 0


@pytest.mark.parametrize("mode", ["safe_only", "recompute"])
def test_flip_never_mirrors_excluded_classes(mode):
    # hflip_exclude_classes: an example holding a signal keeps its orientation (a horizontal Korean light
    # has a fixed lamp order, so its mirror image does not exist on the road); one with signs only flips
    signal = TAX.class_id("signal")
    cfg = dataclasses.replace(
        GEOMETRY_ONLY,
        zoom_min=1,
        zoom_max=1,
        translate=0,
        hflip_prob=1.0,
        hflip_mode=mode,
        hflip_exclude_classes=("signal",),
    )
    aug = make_augment(cfg, TAX)
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :10] = 255
    with_light = example(img, [[40, 5, 50, 15], [10, 5, 20, 15]], [signal, SIGN])
    out = np_dict(aug(with_light))
    np.testing.assert_allclose(out["points"], [[45, 10], [15, 10]])
    assert out["image"][0, 0, 0] == 255 and out["image"][0, -1, 0] == 0  # not flipped
    signs_only = example(img, [[40, 5, 50, 15]], [SIGN])
    out = np_dict(aug(signs_only))
    np.testing.assert_allclose(out["points"], [[60 - 45, 10]])
    assert out["image"][0, -1, 0] == 255 and out["image"][0, 0, 0] == 0  # flipped


def test_flip_exclude_unknown_class_is_refused():
    with pytest.raises(KeyError, match="lamp"):
        make_augment(AugmentConfig(hflip_prob=0.5, hflip_exclude_classes=("lamp",)), TAX)


def test_flip_recompute_keeps_lower_right_rule():
    rules, variant = rule_matrices(TAX)
    cfg = AugmentConfig(hflip_prob=1.0, hflip_mode="recompute")
    ex = example(np.zeros((40, 60, 3)), [[10, 20, 30, 30], [40, 5, 50, 15]], [MARKING, SIGN])
    out = np_dict(random_hflip(ex, cfg, ex["seed"], rules, variant))
    np.testing.assert_allclose(out["boxes"], [[30, 20, 50, 30], [10, 5, 20, 15]])
    # the marking's point is the lower-RIGHT of the flipped box, not the mirrored old point (50 - 0, 30)
    np.testing.assert_allclose(out["points"], [[50, 30], [15, 10]])


@pytest.mark.parametrize("mode", ["safe_only", "recompute"])
def test_full_augment_points_always_follow_class_rules(mode):
    cfg = AugmentConfig(hflip_prob=0.5, hflip_mode=mode, min_visible=0.0, zoom_min=0.8, zoom_max=1.2)
    aug = make_augment(cfg, TAX)
    boxes = [[10, 20, 30, 30], [40, 5, 50, 15], [60, 40, 90, 60]]
    for seed in range(12):
        ex = example(np.zeros((64, 96, 3)), boxes, [MARKING, SIGN, MARKING], seed=(seed, 3))
        out = np_dict(aug(ex))
        # unclipped landmarks: the point is exactly the class rule of the box
        inside = np.all((out["boxes"][:, :2] > 0) & (out["boxes"][:, 2:] < [96, 64]), axis=1)
        want = TAX.reference_points(out["boxes"][inside], out["classes"][inside])
        np.testing.assert_allclose(out["points"][inside], want, atol=1e-3)


def test_photometric_changes_pixels_not_geometry():
    rng = np.random.default_rng(0)
    ex = example(rng.integers(0, 256, (32, 48, 3)), [[1, 2, 3, 4]], [SIGN])
    out = np_dict(photometric(ex, AugmentConfig(), ex["seed"]))
    assert out["image"].dtype == np.uint8 and out["image"].shape == (32, 48, 3)
    assert np.any(out["image"] != np.asarray(ex["image"]))
    np.testing.assert_array_equal(out["boxes"], np.asarray(ex["boxes"]))


def test_eager_equals_dataset_map():
    rng = np.random.default_rng(3)
    ex = example(rng.integers(0, 256, (48, 80, 3)), [[10, 20, 30, 30], [40, 5, 50, 15]], [MARKING, SIGN])
    aug = make_augment(AugmentConfig(hflip_prob=0.5, hflip_mode="recompute"), TAX)

    def both(e):
        return aug(letterbox(e, 64, 48))

    eager = np_dict(both(ex))
    ds = tf.data.Dataset.from_tensors(ex).map(both)
    mapped = np_dict(next(iter(ds)))
    assert eager.keys() == mapped.keys()
    for k in eager:
        np.testing.assert_array_equal(eager[k], mapped[k], err_msg=k)
    # and the seed matters
    other = np_dict(both({**ex, "seed": tf.constant([9, 9], tf.int64)}))
    assert np.any(other["image"] != eager["image"])


def test_letterbox_roundtrip_with_numpy_mapping():
    ex = example(np.zeros((90, 160, 3)), [[10, 20, 30, 40]], [MARKING])
    out = np_dict(letterbox(ex, 128, 96))
    lb = Letterbox(*out["letterbox"].tolist())
    np.testing.assert_allclose(lb.to_original(out["points"]), np.asarray(ex["points"]), atol=1e-4)


def test_crop_cuts_pixels_and_shifts_landmarks():
    # a unique pixel pattern: the crop must be exactly image[y0:y0+h, x0:x0+w] for the offset it chose
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 200, 3)).astype(np.uint8)
    for seed in range(8):
        ex = example(img, [[100, 60, 120, 80]], [SIGN], seed=(seed, 3))
        out = np_dict(random_crop(ex, 64, 48, focus=1.0, seed=ex["seed"], min_visible=0.5))
        assert out["image"].shape == (48, 64, 3)
        hits = [
            (y, x)
            for y in range(120 - 47)
            for x in range(200 - 63)
            if out["image"][0, 0, 0] == img[y, x, 0]
            and np.array_equal(out["image"], img[y : y + 48, x : x + 64])
        ]
        assert len(hits) == 1
        y0, x0 = hits[0]
        if len(out["classes"]):
            np.testing.assert_allclose(out["points"], [[110 - x0, 70 - y0]])
        # focus 1: the window is centred on the sign's centre within the 40 % jitter, so the centre stays in
        assert 0 <= 110 - x0 < 64 and 0 <= 70 - y0 < 48


def test_crop_focus_never_centres_on_an_ignore_region():
    # a 400x300 image: one sign at the far left, many ignore regions (class 0) at the far right; a 64x48
    # window centred on the sign (jitter <= 40 % of the window) always holds the sign centre, one centred on
    # an ignore region never can (they are > 200 px away)
    img = np.zeros((300, 400, 3), np.uint8)
    boxes = [[10, 140, 20, 150]] + [[370, 20 + 25 * i, 380, 30 + 25 * i] for i in range(10)]
    for seed in range(12):
        centres = [[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in boxes]
        ex = example(img, boxes, [SIGN] + [0] * 10, points=centres, seed=(seed, 5))
        out = np_dict(random_crop(ex, 64, 48, focus=1.0, seed=ex["seed"], min_visible=0.5))
        assert SIGN in out["classes"].tolist(), seed


def test_crop_without_landmarks_and_larger_than_image():
    ex = example(np.zeros((30, 40, 3), np.uint8), np.zeros((0, 4)), [])
    out = np_dict(random_crop(ex, 40, 30, focus=1.0, seed=ex["seed"], min_visible=0.5))
    assert out["image"].shape == (30, 40, 3) and len(out["classes"]) == 0


def test_clip_and_drop_can_keep_cut_landmarks_as_ignore_regions():
    # a 40x30 image: a sign fully inside, a marking whose lower-right point left the image (box 30..50 wide:
    # half visible), and a sign entirely outside
    ex = example(
        np.zeros((30, 40, 3), np.uint8),
        [[5, 5, 15, 15], [30, 10, 50, 20], [50, 5, 60, 15]],
        [SIGN, MARKING, SIGN],
    )
    dropped = np_dict(clip_and_drop(ex, min_visible=0.5))
    np.testing.assert_array_equal(dropped["classes"], [SIGN])
    kept = np_dict(clip_and_drop(ex, min_visible=0.5, ignore_cut=True))
    np.testing.assert_array_equal(kept["classes"], [SIGN, 0])  # the cut marking: class 0 = ignore
    np.testing.assert_allclose(kept["boxes"], [[5, 5, 15, 15], [30, 10, 40, 20]])
