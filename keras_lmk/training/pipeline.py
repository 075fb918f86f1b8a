"""tf.data input pipeline: records -> decoded, letterboxed, augmented images with per-cell targets.

    ds = make_dataset(records, spec, PipelineConfig(), taxonomy=tax, training=True, seed=0)
    images, targets = next(iter(ds))
    images               # float32 [B, H_in, W_in, 3], RGB 0..255 (the model normalises)
    targets["gt_class"]  # int32 [B, S]
    targets["gt_point"]  # float32 [B, S, 2], cell units (see keras_lmk/detector/grid.py)
    targets["cls_mask"]  # float32 [B, S]
    targets["mine_pool"], targets["mine_count"]  # float32 [B, S], [B]: with pipeline.mined_negatives > 0

Steps, each a ``dict -> dict`` function: source (paths + labels, or any dataset of the same dicts) -> read +
decode + size check -> letterbox -> [cache] -> [shuffle] ->
seed -> augment (training only) -> encode targets (``keras_lmk.detector.targets.encode_targets`` through
``tf.numpy_function``) -> batch -> prefetch.

Determinism: every random choice is a stateless function of a per-element seed. Training draws the seeds from
``Dataset.random(seed)``, re-drawn each epoch (new augmentations every epoch, same sequence for the same
``seed``); evaluation uses ``(seed, index)`` so an eval set is identical on every pass. Data errors (an
unreadable image, a size that disagrees with the annotation) raise; nothing is skipped silently.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.augment import letterbox, make_augment, random_crop
from keras_lmk.training.pipeline_config import PipelineConfig

AUTOTUNE = tf.data.AUTOTUNE


def _ragged(arrays: list[np.ndarray], width: int | None, dtype) -> tf.RaggedTensor:
    lengths = [len(a) for a in arrays]
    tail = () if width is None else (width,)
    flat = np.concatenate(arrays).astype(dtype) if arrays else np.zeros((0, *tail), dtype)
    return tf.RaggedTensor.from_row_lengths(flat.reshape(-1, *tail), np.asarray(lengths, np.int64))


def with_ignore_regions(r: ImageRecord) -> ImageRecord:
    """The record with its ``ignore_boxes`` appended as class-0 landmarks (point: box centre), the form the
    augmentation and the target encoder read ignore regions in."""
    k = len(r.ignore_boxes)
    if not k:
        return r
    centres = (r.ignore_boxes[:, :2] + r.ignore_boxes[:, 2:]) / 2
    return dataclasses.replace(
        r,
        boxes=np.concatenate([r.boxes, r.ignore_boxes]),
        points=np.concatenate([r.points, centres]),
        classes=np.concatenate([r.classes, np.zeros(k, np.int32)]),
        landmark_ids=np.concatenate([r.landmark_ids, np.full(k, -1, np.int64)]),
        distances=np.concatenate([r.distances, np.full(k, np.nan, np.float32)]),
        ignore_boxes=np.zeros((0, 4), np.float32),
        ignore_classes=np.zeros((0,), np.int32),
    )


def records_dataset(records: Sequence[ImageRecord]) -> tf.data.Dataset:
    """Source dicts of in-memory records (image bytes read lazily; see :func:`read_image`).

    Each element: ``path`` string, ``width``/``height`` int32, ``boxes`` float32 [N, 4], ``points`` float32
    [N, 2], ``classes`` int32 [N], ``landmark_ids`` int64 [N], ``distances`` float32 [N] (original pixels),
    ``unlabelled`` int32 [K] (classes the image's source does not annotate). Another source may yield the
    same dicts plus ``encoded`` (the image file bytes) instead of a readable ``path``.
    """
    if not records:
        raise ValueError("no records")
    records = [with_ignore_regions(r) for r in records]
    columns = {
        "path": tf.constant([r.image_path for r in records]),
        "width": tf.constant([r.width for r in records], tf.int32),
        "height": tf.constant([r.height for r in records], tf.int32),
        "boxes": _ragged([r.boxes for r in records], 4, np.float32),
        "points": _ragged([r.points for r in records], 2, np.float32),
        "classes": _ragged([r.classes for r in records], None, np.int32),
        "landmark_ids": _ragged([r.landmark_ids for r in records], None, np.int64),
        "distances": _ragged([r.distances for r in records], None, np.float32),
        "unlabelled": _ragged([np.asarray(r.unlabelled, np.int32) for r in records], None, np.int32),
    }
    return tf.data.Dataset.from_tensor_slices(columns)


def read_image(example: dict, max_landmarks: int) -> dict:
    """Decode ``encoded`` (or read ``path``) to ``image`` uint8 [H, W, 3]; check size and landmark count."""
    encoded = example["encoded"] if "encoded" in example else tf.io.read_file(example["path"])
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    shape = tf.shape(image)
    n = tf.shape(example["classes"])[0]
    checks = [
        tf.debugging.Assert(
            tf.reduce_all(tf.stack([shape[0] == example["height"], shape[1] == example["width"]])),
            [
                "decoded image size (h, w) differs from the annotation:",
                example["path"],
                shape,
                example["height"],
                example["width"],
            ],
        ),
        tf.debugging.Assert(
            n <= max_landmarks, ["more landmarks than max_landmarks:", example["path"], n, max_landmarks]
        ),
    ]
    with tf.control_dependencies(checks):
        image = tf.identity(image)
    out = {k: v for k, v in example.items() if k != "encoded"}
    out["image"] = tf.ensure_shape(image, [None, None, 3])
    return out


def make_encoder(spec: GridSpec, cfg: PipelineConfig):
    """Return ``encode(example) -> (image float32, targets)`` running the numpy target encoder."""
    from keras_lmk.detector.targets import encode_targets

    def encode_np(boxes, points, classes, seed):
        rng = np.random.default_rng(np.asarray(seed).view(np.uint64))
        t = encode_targets(
            spec,
            boxes,
            points,
            classes,
            background_ratio=cfg.background_ratio,
            min_background=cfg.min_background,
            point_radius=cfg.point_radius,
            far_cells=cfg.far_cells,
            mined_share=cfg.mined_negatives,
            rng=rng,
        )
        out = (
            t["gt_class"].astype(np.int32),
            t["gt_point"].astype(np.float32),
            t["cls_mask"].astype(np.float32),
        )
        if mining:
            out += (t["mine_pool"], np.float32(t["mine_count"]))
        return out

    mining = cfg.mined_negatives > 0
    types = [tf.int32, tf.float32, tf.float32] + [tf.float32, tf.float32] * mining

    def encode(example: dict):
        out = tf.numpy_function(
            encode_np,
            [example["boxes"], example["points"], example["classes"], example["seed"]],
            types,
            stateful=False,
        )
        s = spec.num_cells
        targets = {
            "gt_class": tf.ensure_shape(out[0], [s]),
            "gt_point": tf.ensure_shape(out[1], [s, 2]),
            "cls_mask": tf.ensure_shape(out[2], [s]),
        }
        if mining:
            targets["mine_pool"] = tf.ensure_shape(out[3], [s])
            targets["mine_count"] = tf.ensure_shape(out[4], [])
        unl = example.get("unlabelled", tf.zeros([0], tf.int32))
        targets["unlabelled"] = tf.minimum(
            tf.reduce_sum(tf.one_hot(unl, spec.num_classes, dtype=tf.float32), axis=0), 1.0
        )
        image = tf.ensure_shape(
            tf.cast(example["image"], tf.float32), [spec.input_height, spec.input_width, 3]
        )
        return image, targets

    return encode


def copy_paste_step(records, spec: GridSpec, cfg: PipelineConfig, taxonomy: Taxonomy):
    """The pipeline's copy-paste step: a crop bank from the training ``records`` (each image once)."""
    from keras_lmk.training.copy_paste import CropBank, tf_paste

    if isinstance(records, tf.data.Dataset):
        raise ValueError("augment.copy_paste needs in-memory training records, not a dataset")
    unique = list({r.image_path: r for r in records}.values())  # data.balance repeats records
    bank = CropBank.from_records(unique, taxonomy, spec, cfg.augment.copy_paste)
    if not len(bank):
        raise ValueError(
            f"augment.copy_paste: no crops of {list(cfg.augment.copy_paste.classes)} in the training records "
            "(--set pipeline.augment.copy_paste.classes=[] turns pasting off)"
        )
    return tf_paste(bank, cfg.augment.copy_paste)


def make_dataset(
    records: Sequence[ImageRecord] | tf.data.Dataset,
    spec: GridSpec,
    cfg: PipelineConfig,
    *,
    taxonomy: Taxonomy,
    training: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """One epoch of ``(image float32 [B, H, W, 3] 0..255, {"gt_class", "gt_point", "cls_mask"})``.

    records: ImageRecords, or a dataset of source dicts (``records_dataset`` or the same dicts from
    elsewhere).
    training: shuffle, augment and drop the last partial batch (when there is at least one full batch).
    With ``cfg.train_crop`` both training and evaluation examples are crops (evaluation: fixed per index), and
    targets are encoded on ``cfg.train_spec(spec)``.
    """
    if spec.num_classes != taxonomy.num_classes:
        raise ValueError(
            f"spec has {spec.num_classes} classes, taxonomy {taxonomy.name!r} has {taxonomy.num_classes}"
        )
    in_memory = not isinstance(records, tf.data.Dataset)
    ds = records_dataset(records) if in_memory else records
    n = len(records) if in_memory else None
    ds = ds.enumerate()  # (index, example)
    if training and not cfg.cache:  # cheap: shuffles paths and labels, not pixels
        ds = ds.shuffle(n or cfg.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    h, w = spec.input_height, spec.input_width
    enc_spec = cfg.train_spec(spec)
    crop = cfg.train_crop

    def load(index, example):
        ex = letterbox(read_image(example, cfg.max_landmarks), w, h)
        ex["index"] = index
        return ex

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)
    if cfg.cache:
        ds = ds.cache("" if cfg.cache == "memory" else cfg.cache)
        if training:
            ds = ds.shuffle(cfg.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    if training:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda ex, s: {**ex, "seed": s})
        paste = copy_paste_step(records, spec, cfg, taxonomy) if cfg.augment.copy_paste.classes else None
        ds = ds.map(
            make_augment(cfg.augment, taxonomy, crop, cfg.crop_focus, paste),
            num_parallel_calls=AUTOTUNE,
            deterministic=cfg.deterministic,
        )
    else:
        ds = ds.map(lambda ex: {**ex, "seed": tf.stack([tf.constant(seed, tf.int64), ex["index"]])})
        if crop is not None:  # the same windows on every pass
            ds = ds.map(
                lambda ex: random_crop(
                    ex,
                    crop[0],
                    crop[1],
                    cfg.crop_focus,
                    ex["seed"],
                    cfg.augment.min_visible,
                    cfg.augment.ignore_cut,
                )
            )

    ds = ds.map(make_encoder(enc_spec, cfg), num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic)
    drop = training and (n is None or n >= cfg.batch_size)
    ds = ds.batch(
        cfg.batch_size, drop_remainder=drop, num_parallel_calls=AUTOTUNE, deterministic=cfg.deterministic
    )
    options = tf.data.Options()
    options.deterministic = cfg.deterministic
    return ds.prefetch(AUTOTUNE).with_options(options)


def pipeline_throughput(ds: tf.data.Dataset, steps: int = 20) -> float:
    """Images per second over ``steps`` batches, after one warm-up batch (pipeline benchmark)."""
    it = iter(ds)
    next(it)
    images = 0
    start = time.perf_counter()
    for _ in range(steps):
        try:
            batch = next(it)
        except StopIteration:
            break
        images += int(tf.shape(batch[0] if isinstance(batch, tuple) else batch["image"])[0])
    elapsed = time.perf_counter() - start
    return images / elapsed if elapsed > 0 else float("nan")
