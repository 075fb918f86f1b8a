"""Sharded TFRecords of ImageRecords, for data sets larger than memory.

    paths = write_tfrecords(records, "data/train", num_shards=8)   # data/train-00000-of-00008.tfrecord ...
    ds = make_dataset(read_tfrecords(paths), spec, cfg, taxonomy=tax, training=True)

Each tf.train.Example holds the image file bytes unchanged (no re-encoding) and the annotation arrays in
original-image pixels. :func:`read_tfrecords` yields the same source dicts as
``keras_lmk.pipeline.records_dataset`` plus ``encoded``, so ``make_dataset`` takes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_lmk.atomic import atomic_write
from keras_lmk.records import ImageRecord

AUTOTUNE = tf.data.AUTOTUNE

_SCALARS = {
    "path": tf.io.FixedLenFeature([], tf.string),
    "encoded": tf.io.FixedLenFeature([], tf.string),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "image_id": tf.io.FixedLenFeature([], tf.int64),
}
_LISTS = {  # name: (dtype, values per landmark)
    "boxes": (tf.float32, 4),
    "points": (tf.float32, 2),
    "classes": (tf.int64, 1),
    "landmark_ids": (tf.int64, 1),
    "distances": (tf.float32, 1),
    "unlabelled": (tf.int64, 1),  # per image, not per landmark: the classes its source does not annotate
}


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).ravel()))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).ravel()))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def record_to_example(record: ImageRecord) -> tf.train.Example:
    """Serialise one record with its image file bytes (read from ``record.image_path``)."""
    encoded = Path(record.image_path).read_bytes()
    feature = {
        "path": _bytes(record.image_path.encode()),
        "encoded": _bytes(encoded),
        "width": _ints([record.width]),
        "height": _ints([record.height]),
        "image_id": _ints([record.image_id]),
        "boxes": _floats(record.boxes),
        "points": _floats(record.points),
        "classes": _ints(record.classes),
        "landmark_ids": _ints(record.landmark_ids),
        "distances": _floats(record.distances),  # NaN (unknown) survives float_list
        "unlabelled": _ints(record.unlabelled),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def shard_paths(prefix: str | Path, num_shards: int) -> list[Path]:
    return [Path(f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord") for i in range(num_shards)]


def write_tfrecords(records: Sequence[ImageRecord], prefix: str | Path, *, num_shards: int = 8) -> list[Path]:
    """Write records round-robin into ``num_shards`` files ``{prefix}-0000i-of-0000n.tfrecord`` (each atomic).

    Round-robin keeps shards balanced and lets a reader interleave them without a large shuffle buffer.
    """
    if num_shards < 1:
        raise ValueError("num_shards must be >= 1")
    num_shards = min(num_shards, max(1, len(records)))
    paths = shard_paths(prefix, num_shards)
    for i, path in enumerate(paths):

        def write(tmp: str, i: int = i) -> None:
            with tf.io.TFRecordWriter(tmp) as writer:
                for record in records[i::num_shards]:
                    writer.write(record_to_example(record).SerializeToString())

        atomic_write(path, write)
    return paths


def parse_example(serialized) -> dict:
    """tf.train.Example bytes -> source dict (see module docstring)."""
    spec = dict(_SCALARS)
    spec.update({k: tf.io.VarLenFeature(dtype) for k, (dtype, _) in _LISTS.items()})
    f = tf.io.parse_single_example(serialized, spec)
    out = {
        "path": f["path"],
        "encoded": f["encoded"],
        "width": tf.cast(f["width"], tf.int32),
        "height": tf.cast(f["height"], tf.int32),
    }
    for k, (_, width) in _LISTS.items():
        v = tf.sparse.to_dense(f[k])
        out[k] = tf.reshape(v, [-1, width]) if width > 1 else v
    out["classes"] = tf.cast(out["classes"], tf.int32)
    out["unlabelled"] = tf.cast(out["unlabelled"], tf.int32)
    return out


def read_tfrecords(
    paths: Sequence[str | Path], *, shuffle_files: bool = False, seed: int = 0, deterministic: bool = True
) -> tf.data.Dataset:
    """Source dicts from TFRecord shards, files interleaved (optionally in a shuffled order)."""
    files = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    if shuffle_files:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(paths), 4),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    return ds.map(parse_example, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
