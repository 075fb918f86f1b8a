"""Our training pipeline's examples as YOLOv8 box targets.

    ds = peer_dataset(train_records, spec, cfg.pipeline, taxonomy=tax, seed=0)
    images, y = next(iter(ds))   # float32 [B, h, w, 3] RGB 0..255; y["boxes"] [B, K, 4], y["classes"] [B, K]

The steps before the targets are ``keras_lmk.training.pipeline.make_dataset``'s own, in its order: records
(ignore regions as class-0 landmarks) -> read + size check -> letterbox to the model input -> shuffle ->
per-example seeds -> augment (``pipeline.train_crop`` windows at full-frame scale, sign crops pasted,
zoom/translate, the flips the preset allows, photometric jitter). Only the last step differs: instead of
the grid/anchor targets, the boxes are kept as they are (xyxy crop pixels; a road marking's box is its
quad's bounding box), classes become 0-based (``class_id - 1``), and both are padded with -1 to ``max_boxes``
(KerasCV's dense label format).

Ignore regions (a road marking whose end left the frame; a teacher's "an unlabelled landmark may be here",
``data.ignore_regions``): our loss leaves their cells untrained. YOLOv8's loss has no such mask, so their
pixels are painted with the letterbox grey (114) outside every labelled box, the usual way to keep a box
detector from learning them as background.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import PAD_VALUE
from keras_lmk.training.augment import letterbox, make_augment
from keras_lmk.training.pipeline import AUTOTUNE, copy_paste_step, read_image, records_dataset
from keras_lmk.training.pipeline_config import PipelineConfig

MAX_BOXES = 100  # per training crop; more are dropped (a 512x320 crop of our data holds far fewer)


def _box_mask(boxes, height: int, width: int):
    """bool [H, W]: pixels inside any of ``boxes`` (float [K, 4] xyxy, continuous pixel coordinates)."""
    ys = tf.range(height, dtype=tf.float32)[None, :, None] + 0.5
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + 0.5
    b = boxes[:, :, None, None]
    inside = (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])
    return tf.reduce_any(inside, axis=0)


def to_yolo_targets(example: dict, max_boxes: int = MAX_BOXES) -> tuple[tf.Tensor, dict]:
    """An augmented example -> (image float32 [h, w, 3], {"boxes": [max_boxes, 4], "classes": [max_boxes]}).

    Ignore regions (class 0) are painted grey outside the labelled boxes and dropped; the landmarks keep
    their boxes, classes shifted to 0-based, then padded with -1."""
    image, boxes, classes = example["image"], example["boxes"], example["classes"]
    shape = tf.shape(image)
    labelled = classes > 0
    ignore = _box_mask(tf.boolean_mask(boxes, ~labelled), shape[0], shape[1])
    keep = _box_mask(tf.boolean_mask(boxes, labelled), shape[0], shape[1])
    paint = (ignore & ~keep)[..., None]
    image = tf.where(paint, tf.constant(PAD_VALUE, image.dtype), image)
    boxes = tf.boolean_mask(boxes, labelled)[:max_boxes]
    classes = tf.cast(tf.boolean_mask(classes, labelled)[:max_boxes] - 1, tf.float32)
    n = tf.shape(classes)[0]
    boxes = tf.pad(boxes, [[0, max_boxes - n], [0, 0]], constant_values=-1.0)
    classes = tf.pad(classes, [[0, max_boxes - n]], constant_values=-1.0)
    return tf.cast(image, tf.float32), {
        "boxes": tf.ensure_shape(boxes, [max_boxes, 4]),
        "classes": tf.ensure_shape(classes, [max_boxes]),
    }


def corner_boxed_markings(records: Sequence, taxonomy) -> list:
    """The records with each road marking's box cut at its labelled point: ``[x0, y0, px, py]``, so the
    lower-right corner rule gives back the point exactly (``PeerConfig.marking_box="corner"``)."""
    import dataclasses

    import numpy as np

    mark = taxonomy.class_id("road_marking")
    out = []
    for r in records:
        sel = r.classes == mark
        if sel.any():
            boxes = r.boxes.copy()
            boxes[sel, 2:] = np.maximum(r.points[sel], boxes[sel, :2] + 1.0)  # at least 1 px wide and tall
            r = dataclasses.replace(r, boxes=boxes)
        out.append(r)
    return out


def peer_dataset(
    records: Sequence,
    spec: GridSpec,
    cfg: PipelineConfig,
    *,
    taxonomy,
    seed: int = 0,
    max_boxes: int = MAX_BOXES,
) -> tf.data.Dataset:
    """An endless training stream of ``(images, {"boxes", "classes"})`` batches of ``cfg.batch_size``: our
    training examples (``make_dataset(..., training=True)`` up to its target encoder) as YOLOv8 targets.
    Every pass reshuffles and draws new augmentations (``Dataset.random(seed)``), as our training does."""
    if spec.num_classes != taxonomy.num_classes:
        raise ValueError(f"spec has {spec.num_classes} classes, taxonomy has {taxonomy.num_classes}")
    ds = records_dataset(records).shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    h, w = spec.input_height, spec.input_width

    def load(ex: dict) -> dict:
        return letterbox(read_image(ex, cfg.max_landmarks), w, h)

    def with_seed(ex: dict, pair) -> dict:
        return {**ex, "seed": pair}

    def targets(ex: dict):
        return to_yolo_targets(ex, max_boxes)

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds).map(with_seed)
    paste = copy_paste_step(records, spec, cfg, taxonomy) if cfg.augment.copy_paste.classes else None
    augment = make_augment(cfg.augment, taxonomy, cfg.train_crop, cfg.crop_focus, paste)
    ds = ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)
    ds = ds.map(targets, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)
    ds = ds.repeat().batch(cfg.batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)
