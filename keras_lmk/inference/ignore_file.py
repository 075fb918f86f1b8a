"""A teacher model's ignore regions for the training images of the real sources, as one JSON file.

    table = teacher_ignore_regions(runner, {"gtsdb": records, ...}, classes_of, threshold=0.5)
    write_ignore_file(path, table, teacher="android_demo_assets/model_int8.tflite", threshold=0.5)

File layout (read by :func:`keras_lmk.data.sources.read_ignore_file`)::

    {"format": "keras_lmk.ignore_regions/1", "teacher": "...", "threshold": 0.5,
     "classes": {"gtsdb": ["auxiliary", ...], ...},
     "images": {"gtsdb/00001.jpg": [[x0, y0, x1, y1], ...], ...}}

Boxes are original-image pixels, xyxy, rounded to 0.1 px. Key: the source name and the image's file name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write_text
from keras_lmk.data.frames import read_image_rgb
from keras_lmk.data.records import ImageRecord
from keras_lmk.detector.ignore_regions import cell_probabilities, ignore_boxes

IGNORE_FORMAT = "keras_lmk.ignore_regions/1"


def image_key(source: str, record: ImageRecord) -> str:
    return f"{source}/{Path(record.image_path).name}"


def record_ignore_boxes(runner, record: ImageRecord, class_ids, threshold: float) -> np.ndarray:
    """float32 [K, 4] original pixels: the teacher's ignore regions of ``class_ids`` on one image."""
    rgb = read_image_rgb(record.image_path)
    logits, _, lb = runner.infer_frame(rgb)
    boxes = ignore_boxes(cell_probabilities(logits), runner.spec, class_ids, threshold)
    if not len(boxes):
        return boxes
    out = lb.to_original(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    h, w = rgb.shape[:2]
    return np.clip(out, 0, [w, h, w, h]).astype(np.float32)


def teacher_ignore_regions(
    runner,
    records_by_source: dict[str, list[ImageRecord]],
    class_names_of: Callable[[str], Iterable[str]],
    threshold: float,
    progress: Callable | None = None,
) -> dict[str, list[list[float]]]:
    """{image key: boxes} for every record (an image repeated across records is run once)."""
    table: dict[str, list[list[float]]] = {}
    for source, records in records_by_source.items():
        ids = [runner.taxonomy.class_id(n) for n in class_names_of(source)]
        todo = {image_key(source, r): r for r in records}
        items = todo.items() if progress is None else progress(todo.items(), desc=source)
        for key, rec in items:
            boxes = record_ignore_boxes(runner, rec, ids, threshold)
            table[key] = np.round(boxes.astype(np.float64), 1).tolist()
    return table


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
