"""Deterministic train/validation splits of annotation records (used by the data CLI and the sources)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_lmk.data.records import ImageRecord


def split_records(
    records: Sequence[ImageRecord], val_fraction: float, seed: int = 0
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Deterministic train/val split by image: (train, val), each in the input order.

    round(val_fraction * N) images go to val, chosen by a seeded permutation of the images sorted by path,
    so the split does not depend on the order records arrive in.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    n = len(records)
    order = sorted(range(n), key=lambda i: (records[i].image_path, i))
    perm = np.random.default_rng(seed).permutation(n)
    val_idx = {order[j] for j in perm[: round(val_fraction * n)]}
    train = [r for i, r in enumerate(records) if i not in val_idx]
    val = [r for i, r in enumerate(records) if i in val_idx]
    return train, val
