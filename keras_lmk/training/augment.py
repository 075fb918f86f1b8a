"""Training augmentation and letterboxing as plain ``dict -> dict`` TensorFlow functions.

An example is ``{"image": uint8 [H, W, 3], "boxes": float32 [N, 4] xyxy px, "points": float32 [N, 2] px,
"classes": int32 [N]}`` (pixels, x right, y down; continuous coordinates, pixel i covers [i, i+1)), plus
``"seed": int64 [2]`` for the random ops. All randomness is stateless and comes from that seed, so a function
gives the same result eagerly and inside ``Dataset.map``.

Order used by the pipeline: :func:`letterbox` (to the model input, the same mapping as
``keras_lmk.detector.letterbox``) then :func:`make_augment` (zoom/translate, optional flip, photometric).
Augmenting the letterboxed image keeps every training image at model-input size, so the 2-CPU
pipeline transforms 512x320 images instead of full-resolution ones (a zoom-in then upsamples the
letterboxed image slightly instead of cropping full-resolution detail; acceptable for zoom <= 1.33).

Horizontal flip and class rules: mirroring turns a lower-right point into a lower-left one, which is not the
road-marking rule. ``hflip_mode="safe_only"`` (default) flips only images whose landmarks all have
mirror-invariant rules (centre, top/bottom centre), so no point ever changes meaning. ``"recompute"`` flips
any image and recomputes the point of mirror-variant classes from the flipped box with the class's own rule:
exact for the box rules; a marking's recomputed point is its flipped box's bottom-right corner (the pipeline
carries no outlines), its outline's lower-right vertex only when the outline is axis-aligned, and a mirrored
road marking is a different (possibly non-existent) physical object, so use it only when that is acceptable.
Neither mode can label a lower-left point as lower-right.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from keras_lmk.data.taxonomy import MIRRORED_RULE, POINT_RULES, Taxonomy
from keras_lmk.detector.letterbox import PAD_VALUE
from keras_lmk.training.augment_config import AugmentConfig

LANDMARK_KEYS = ("boxes", "points", "classes", "landmark_ids", "distances")  # per-landmark arrays [N, ...]


# ---------------------------------------------------------------------------------------------- letterbox


def letterbox_params(height, width, input_width: int, input_height: int):
    """TF twin of ``Letterbox.fit``: returns (scale float32, pad_x, pad_y, new_w, new_h int32) tensors."""
    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    scale = tf.minimum(input_width / w, input_height / h)
    # tf.round rounds half to even, like Python's round() in Letterbox.fit
    new_w = tf.cast(tf.round(w * scale), tf.int32)
    new_h = tf.cast(tf.round(h * scale), tf.int32)
    pad_x = (input_width - new_w) // 2
    pad_y = (input_height - new_h) // 2
    return tf.cast(scale, tf.float32), pad_x, pad_y, new_w, new_h


def letterbox(example: dict, input_width: int, input_height: int) -> dict:
    """Resize + centre-pad ``image`` to [input_height, input_width, 3] uint8; map boxes and points.

    Same mapping as ``keras_lmk.detector.letterbox``: ``input_px = original_px * scale + (pad_x, pad_y)``;
    area
    resampling when shrinking (OpenCV's INTER_AREA), bilinear when enlarging. Adds ``"letterbox"``: float32
    [3] (scale, pad_x, pad_y) so predictions can be mapped back.
    """
    image = example["image"]
    shape = tf.shape(image)
    scale, pad_x, pad_y, new_w, new_h = letterbox_params(shape[0], shape[1], input_width, input_height)
    img = tf.cast(image, tf.float32)
    resized = tf.cond(
        scale < 1,
        lambda: tf.image.resize(img, tf.stack([new_h, new_w]), method="area"),
        lambda: tf.image.resize(img, tf.stack([new_h, new_w]), method="bilinear"),
    )
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    # pad with PAD_VALUE: shift to zero-based, pad with zeros, shift back
    padded = tf.pad(
        tf.cast(resized, tf.int32) - PAD_VALUE,
        [[pad_y, input_height - new_h - pad_y], [pad_x, input_width - new_w - pad_x], [0, 0]],
    )
    out = dict(example)
    out["image"] = tf.ensure_shape(tf.cast(padded + PAD_VALUE, tf.uint8), [input_height, input_width, 3])
    offset = tf.cast(tf.stack([pad_x, pad_y]), tf.float32)
    out["points"] = example["points"] * scale + offset
    out["boxes"] = example["boxes"] * scale + tf.tile(offset, [2])
    out["letterbox"] = tf.stack([scale, offset[0], offset[1]])
    return out


# ----------------------------------------------------------------------------------------------- geometry


def _keep(example: dict, keep) -> dict:
    out = dict(example)
    for k in LANDMARK_KEYS:
        if k in example:
            out[k] = tf.boolean_mask(example[k], keep)
    return out


def clip_and_drop(example: dict, min_visible: float, ignore_cut: bool = False) -> dict:
    """Clip boxes to the image; drop landmarks whose point left the image or whose box kept < min_visible.

    Ignore regions (class 0, from ``ImageRecord.ignore_boxes``) are kept while part of them is visible.

    ignore_cut: such a landmark whose clipped box still covers some of the image is kept as class 0, an
    *ignore region* for the target encoder (its cells are neither landmark nor background), instead of
    being dropped, which would teach the visible part of a cut sign or marking as background.
    """
    shape = tf.shape(example["image"])
    w, h = tf.cast(shape[1], tf.float32), tf.cast(shape[0], tf.float32)
    boxes, points = example["boxes"], example["points"]
    lo = tf.zeros([4], tf.float32)
    hi = tf.stack([w, h, w, h])
    clipped = tf.clip_by_value(boxes, lo, hi)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    visible = tf.where(area > 0, kept / tf.maximum(area, 1e-9), 1.0)
    inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
    region = example["classes"] == 0  # ignore regions (ImageRecord.ignore_boxes) stay while any is visible
    ok = inside & (visible >= min_visible) & ~region
    some = kept > 0
    out = dict(example)
    out["boxes"] = clipped
    if not ignore_cut:
        return _keep(out, ok | (region & some))
    out["classes"] = tf.where(ok, example["classes"], tf.zeros_like(example["classes"]))
    return _keep(out, ok | some)


def affine(example: dict, zoom, shift) -> dict:
    """Zoom about the image centre and shift: ``out = zoom * (in - c) + c + shift`` (continuous px).

    zoom: float scalar; shift: float [2] (x, y) pixels. Output has the input size; uncovered area is
    PAD_VALUE grey. Boxes and points are mapped, not clipped (see :func:`clip_and_drop`).
    """
    image = example["image"]
    shape = tf.shape(image)
    size = tf.cast(tf.stack([shape[1], shape[0]]), tf.float32)  # (W, H)
    zoom = tf.cast(zoom, tf.float32)
    b = (1.0 - zoom) * size / 2 + tf.cast(shift, tf.float32)  # out = zoom * in + b
    # ImageProjectiveTransform maps output pixel *indices* to input indices; index i has centre i + 0.5
    ax = (0.5 - b[0]) / zoom - 0.5
    ay = (0.5 - b[1]) / zoom - 0.5
    transform = tf.stack([1 / zoom, 0.0, ax, 0.0, 1 / zoom, ay, 0.0, 0.0])[None]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=transform,
        output_shape=shape[:2],
        fill_value=float(PAD_VALUE),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
    out = dict(example)
    out["image"] = tf.cast(tf.clip_by_value(tf.round(warped), 0, 255), tf.uint8)
    out["points"] = example["points"] * zoom + b
    out["boxes"] = example["boxes"] * zoom + tf.tile(b, [2])
    return out


def random_affine(example: dict, cfg: AugmentConfig, seed) -> dict:
    """Random zoom in [zoom_min, zoom_max] (log-uniform) and shift up to ``translate``; then clip and drop."""
    s1, s2 = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    log_zoom = tf.random.stateless_uniform([], s1, np.log(cfg.zoom_min), np.log(cfg.zoom_max) + 1e-12)
    shape = tf.shape(example["image"])
    size = tf.cast(tf.stack([shape[1], shape[0]]), tf.float32)
    shift = tf.random.stateless_uniform([2], s2, -cfg.translate, cfg.translate) * size
    return clip_and_drop(affine(example, tf.exp(log_zoom), shift), cfg.min_visible, cfg.ignore_cut)


# ------------------------------------------------------------------------------------------------- crop


def random_crop(
    example: dict, width: int, height: int, focus: float, seed, min_visible: float, ignore_cut: bool = False
) -> dict:
    """Cut a ``width`` x ``height`` window out of the (letterboxed) image, landmarks shifted and dropped
    as in :func:`clip_and_drop`. With probability ``focus`` (and when the image has landmarks) the window
    is centred on a random landmark's box centre (never an ignore region's), jittered by up to 40 % of the
    window; otherwise it is placed uniformly. Training on such crops keeps the full-frame scale of every
    landmark at a fraction of the pixels per step: the detector is fully convolutional, so it then runs on
    whole frames.
    """
    shape = tf.shape(example["image"])
    h_img, w_img = shape[0], shape[1]
    s_use, s_pick, s_jit, s_uni = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    # ignore regions (class 0) are never a focus: a teacher's regions can outnumber an image's landmarks
    landmarks = tf.boolean_mask(example["boxes"], example["classes"] > 0)
    n = tf.shape(landmarks)[0]
    size = tf.constant([width, height], tf.float32)
    room = tf.maximum(tf.cast(tf.stack([w_img, h_img]), tf.float32) - size, 0.0)
    pick = tf.random.stateless_uniform([], s_pick, 0, tf.maximum(n, 1), dtype=tf.int32)
    boxes = tf.concat([landmarks, tf.zeros([1, 4], tf.float32)], axis=0)  # safe gather when n == 0
    centre = (boxes[pick, :2] + boxes[pick, 2:]) / 2
    jitter = tf.random.stateless_uniform([2], s_jit, -0.4, 0.4) * size
    focused = centre + jitter - size / 2
    uniform = tf.random.stateless_uniform([2], s_uni, 0.0, 1.0) * room
    use_focus = (tf.random.stateless_uniform([], s_use) < focus) & (n > 0)
    xy = tf.floor(tf.clip_by_value(tf.where(use_focus, focused, uniform), 0.0, room))
    x0, y0 = tf.cast(xy[0], tf.int32), tf.cast(xy[1], tf.int32)
    out = dict(example)
    out["image"] = tf.ensure_shape(
        tf.slice(example["image"], tf.stack([y0, x0, 0]), [height, width, 3]), [height, width, 3]
    )
    out["points"] = example["points"] - xy
    out["boxes"] = example["boxes"] - tf.tile(xy, [2])
    return clip_and_drop(out, min_visible, ignore_cut)


# ------------------------------------------------------------------------------------------------- flip


def rule_matrices(taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Point rules as linear maps: (float32 [M, 4, 2] with point = box @ R[class], bool [M] mirror-variant).

    Every rule in ``POINT_RULES`` is linear in the box corners; this is checked, so a future non-linear rule
    fails here instead of producing wrong points.
    """
    m = taxonomy.num_classes
    mats = np.zeros((m, 4, 2), np.float32)
    variant = np.zeros((m,), bool)
    probe = np.array([[3.0, 5.0, 11.0, 17.0]])
    for cid in range(1, m):
        rule = taxonomy.rule_of(cid)
        mats[cid] = POINT_RULES[rule](np.eye(4))
        if not np.allclose(probe @ mats[cid], POINT_RULES[rule](probe)):
            raise ValueError(f"point rule {rule!r} is not linear in the box; flip cannot recompute it")
        variant[cid] = MIRRORED_RULE[rule] != rule
    return mats, variant


def hflip(example: dict, rules: np.ndarray, variant: np.ndarray) -> dict:
    """Mirror horizontally. Mirror-invariant classes keep their mirrored point; mirror-variant classes get
    their point recomputed from the flipped box by their own rule (see module docstring)."""
    w = tf.cast(tf.shape(example["image"])[1], tf.float32)
    boxes, points, classes = example["boxes"], example["points"], example["classes"]
    flipped = tf.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], axis=-1)
    mirrored = tf.stack([w - points[:, 0], points[:, 1]], axis=-1)
    recomputed = tf.einsum("nk,nkd->nd", flipped, tf.gather(tf.constant(rules), classes))
    is_variant = tf.gather(tf.constant(variant), classes)
    out = dict(example)
    out["image"] = tf.reverse(example["image"], axis=[1])
    out["boxes"] = flipped
    out["points"] = tf.where(is_variant[:, None], recomputed, mirrored)
    return out


def random_hflip(
    example: dict, cfg: AugmentConfig, seed, rules: np.ndarray, variant: np.ndarray, excluded=None
) -> dict:
    """Flip with probability ``cfg.hflip_prob``, never an example holding a class of ``excluded`` (bool [M],
    :func:`excluded_classes`) nor, in ``safe_only`` mode, a mirror-variant class."""
    flip = tf.random.stateless_uniform([], seed) < cfg.hflip_prob
    blocked = np.zeros_like(variant) if excluded is None else np.asarray(excluded, bool)
    if cfg.hflip_mode == "safe_only":
        blocked = blocked | variant
    elif cfg.hflip_mode != "recompute":
        raise ValueError(f"unknown hflip_mode {cfg.hflip_mode!r}")
    if blocked.any():
        flip = flip & ~tf.reduce_any(tf.gather(tf.constant(blocked), example["classes"]))
    return tf.cond(flip, lambda: hflip(example, rules, variant), lambda: dict(example))


def excluded_classes(cfg: AugmentConfig, taxonomy: Taxonomy) -> np.ndarray:
    """bool [M]: the classes of ``cfg.hflip_exclude_classes`` (an unknown name raises KeyError)."""
    out = np.zeros((taxonomy.num_classes,), bool)
    for name in cfg.hflip_exclude_classes:
        out[taxonomy.class_id(name)] = True
    return out


# ------------------------------------------------------------------------------------------- photometric


def photometric(example: dict, cfg: AugmentConfig, seed) -> dict:
    """Brightness, contrast, saturation, hue jitter and Gaussian noise; geometry untouched."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 6))
    img = tf.cast(example["image"], tf.float32) / 255.0
    if cfg.brightness > 0:
        img = tf.image.stateless_random_brightness(img, cfg.brightness, seeds[0])
    if cfg.contrast > 0:
        img = tf.image.stateless_random_contrast(img, 1 - cfg.contrast, 1 + cfg.contrast, seeds[1])
    if cfg.saturation > 0:
        img = tf.image.stateless_random_saturation(
            tf.clip_by_value(img, 0, 1), 1 - cfg.saturation, 1 + cfg.saturation, seeds[2]
        )
    if cfg.hue > 0:
        img = tf.image.stateless_random_hue(tf.clip_by_value(img, 0, 1), cfg.hue, seeds[3])
    if cfg.noise_std > 0:
        std = tf.random.stateless_uniform([], seeds[4], 0, cfg.noise_std)
        img = img + std * tf.random.stateless_normal(tf.shape(img), seeds[5])
    out = dict(example)
    out["image"] = tf.cast(tf.round(tf.clip_by_value(img, 0, 1) * 255), tf.uint8)
    return out


# ---------------------------------------------------------------------------------------------- compose


def make_augment(
    cfg: AugmentConfig,
    taxonomy: Taxonomy,
    crop: tuple[int, int] | None = None,
    crop_focus: float = 0.0,
    paste: Callable[[dict, tf.Tensor], dict] | None = None,
) -> Callable[[dict], dict]:
    """Return ``augment(example) -> example`` ([crop], [paste], geometry, flip, photometric) driven by
    ``example["seed"]``. ``crop``: (width, height) of :func:`random_crop` windows, cut first so that the
    warp and the photometric work run on the crop only (a zoom-out then pads the crop with grey).
    ``paste(example, seed)``: copy-paste (:func:`keras_lmk.training.copy_paste.tf_paste`), into the window."""
    rules, variant = rule_matrices(taxonomy)
    excluded = excluded_classes(cfg, taxonomy)

    def augment(example: dict) -> dict:
        s_geo, s_flip, s_photo = tf.unstack(tf.random.experimental.stateless_split(example["seed"], 3))
        ex = example
        if crop is not None:  # first, so the warp runs on the crop; its own seed stream
            s_crop = tf.random.experimental.stateless_fold_in(example["seed"], 1)
            ex = random_crop(ex, crop[0], crop[1], crop_focus, s_crop, cfg.min_visible, cfg.ignore_cut)
        if paste is not None:
            ex = paste(ex, tf.random.experimental.stateless_fold_in(example["seed"], 2))
        ex = random_affine(ex, cfg, s_geo)
        if cfg.hflip_prob > 0:
            ex = random_hflip(ex, cfg, s_flip, rules, variant, excluded)
        return photometric(ex, cfg, s_photo)

    return augment
