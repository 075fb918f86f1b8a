"""The ignore-region file: a teacher's ignore regions per real training image (complete negatives).

    table = read_ignore_file(path)                          # {"gtsdb/00001.jpg": float32 [K, 4], ...}
    records = made_complete(records, "gtsdb", table, path)  # unlabelled cleared, regions added
    write_ignore_file(path, table, teacher="kit/model_int8.tflite", threshold=0.8, classes={...})

Layout (written by ``python -m keras_lmk.ignore_regions``, :mod:`keras_lmk.inference.teacher_regions`)::

    {"format": "keras_lmk.ignore_regions/1", "teacher": "...", "threshold": 0.8,
     "classes": {"gtsdb": ["auxiliary", ...], ...},
     "images": {"gtsdb/00001.jpg": [[x0, y0, x1, y1], ...], ...}}

Boxes are original-image pixels, xyxy. Key: the source name and the image's file name (:func:`image_key`).
A record made complete teaches every class as background outside its landmarks and ignore regions
(docs/real_data.md "Partial labels and complete negatives").
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write_text
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.validation import DataError

IGNORE_FORMAT = "keras_lmk.ignore_regions/1"


def image_key(source: str, image_path: str) -> str:
    return f"{source}/{Path(image_path).name}"


def read_ignore_file(path: Path) -> dict[str, np.ndarray]:
    """{image key (``source/file name``): float32 [K, 4] boxes, original pixels} of an ignore-region file."""
    try:
        doc = json.loads(Path(path).read_text())
        if doc.get("format") != IGNORE_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {IGNORE_FORMAT!r}")
        out = {}
        for key, boxes in doc["images"].items():
            b = np.asarray(boxes, np.float32).reshape(-1, 4)
            if not (np.isfinite(b).all() and (b[:, 2:] >= b[:, :2]).all()):
                raise ValueError(
                    f"image {key!r}: boxes must be finite [x0, y0, x1, y1] with x1 >= x0, y1 >= y0"
                )
            out[key] = b
        return out
    except FileNotFoundError:
        raise DataError(path, None, "ignore-region file not found (data.ignore_regions)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataError(path, None, f"not an ignore-region file: {e}") from None


def made_complete(records: list[ImageRecord], source: str, table: dict, path) -> list[ImageRecord]:
    """The records made complete: ``unlabelled`` cleared, the table's boxes added as ignore regions (class
    0: every class ignores them). Every record must be in the table."""
    out = []
    for r in records:
        key = image_key(source, r.image_path)
        if key not in table:
            raise DataError(path, None, f"no ignore regions for training image {key} (regenerate the file)")
        b = table[key]
        out.append(
            dataclasses.replace(
                r,
                unlabelled=(),
                ignore_boxes=np.concatenate([r.ignore_boxes, b]),
                ignore_classes=np.concatenate([r.ignore_classes, np.zeros(len(b), np.int32)]),
            )
        )
    return out


def write_ignore_file(path, table, *, teacher: str, threshold: float, classes: dict[str, list[str]]):
    doc = {
        "format": IGNORE_FORMAT,
        "teacher": teacher,
        "threshold": threshold,
        "classes": classes,
        "images": dict(sorted(table.items())),
    }
    # one image a line: a reviewable diff when the file is regenerated
    head = json.dumps({k: v for k, v in doc.items() if k != "images"})[:-1]
    rows = ",\n".join(
        f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in doc["images"].items()
    )
    atomic_write_text(path, f'{head}, "images": {{\n{rows}\n}}}}\n')
