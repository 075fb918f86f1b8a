"""Dataset statistics: images, landmarks per class, box sizes (the data CLI's ``stats``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy


def dataset_stats(records: Sequence[ImageRecord], taxonomy: Taxonomy) -> dict:
    """Counts per class and box-size percentiles (pixels of the original images)."""
    classes = np.concatenate([r.classes for r in records]) if records else np.zeros((0,), np.int32)
    boxes = np.concatenate([r.boxes for r in records]) if records else np.zeros((0, 4), np.float32)
    sizes = np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 0))
    return {
        "images": len(records),
        "negative_images": sum(r.num_landmarks == 0 for r in records),
        "landmarks": int(len(classes)),
        "per_class": {c.name: int(np.sum(classes == c.id)) for c in taxonomy.classes[1:]},
        "box_size_px": (
            {q: float(np.percentile(sizes, p)) for q, p in (("min", 0), ("median", 50), ("max", 100))}
            if len(sizes)
            else {}
        ),
    }
