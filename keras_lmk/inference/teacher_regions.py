"""A teacher model's ignore regions on the training images of the real sources (complete negatives).

    table = teacher_ignore_regions(runner, {"gtsdb": records, ...}, class_names_of, threshold=0.8)
    write_ignore_file(path, table, ...)          # keras_lmk.data.ignore_file, which also reads it back

Boxes are original-image pixels, xyxy, rounded to 0.1 px, keyed by ``image_key(source, path)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from keras_lmk.data.frames import read_image_rgb
from keras_lmk.data.ignore_file import image_key
from keras_lmk.data.records import ImageRecord
from keras_lmk.detector.ignore_regions import cell_probabilities, ignore_boxes


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
        todo = {image_key(source, r.image_path): r for r in records}
        items = todo.items() if progress is None else progress(todo.items(), desc=source)
        for key, rec in items:
            boxes = record_ignore_boxes(runner, rec, ids, threshold)
            table[key] = np.round(boxes.astype(np.float64), 1).tolist()
    return table
