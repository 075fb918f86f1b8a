"""A teacher model's ignore regions on the training images of the real sources (complete negatives).

    table = teacher_ignore_regions(runner, {"gtsdb": records, ...}, partial_names_of, threshold=0.5,
                                   vehicle_masks=VEHICLE_MASKS)
    write_ignore_file(path, table, ...)          # keras_lmk.data.ignore_file, which also reads it back

An image's regions are of the classes *it* leaves unlabelled (``record.unlabelled``: a checked image of added
labels labels its plates) plus those its source labels only in part. A region whose centre lies on the
source's vehicle mask (the camera car's own hood) is dropped: no landmark is ever there, so it trains as
background. Boxes are original-image pixels, xyxy, rounded to 0.1 px, keyed by ``image_key(source, path)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
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


def off_mask(boxes: np.ndarray, width: int, height: int, mask) -> np.ndarray:
    """The boxes (float [K, 4] pixels) whose centre is not inside ``mask`` (a polygon of (x, y) fractions
    of the frame; None: no mask)."""
    if mask is None or not len(boxes):
        return boxes
    poly = (np.asarray(mask, np.float64) * [width, height]).astype(np.float32).reshape(-1, 1, 2)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    keep = [cv2.pointPolygonTest(poly, (float(x), float(y)), False) < 0 for x, y in centres]
    return boxes[np.asarray(keep, bool)]


def teacher_ignore_regions(
    runner,
    records_by_source: dict[str, list[ImageRecord]],
    partial_names_of: Callable[[str], Iterable[str]],
    threshold: float,
    vehicle_masks: dict | None = None,
    progress: Callable | None = None,
) -> dict[str, list[list[float]]]:
    """{image key: boxes} for every record (an image repeated across records is run once); each image's
    classes are its ``unlabelled`` plus ``partial_names_of(source)``; ``vehicle_masks``: {source: polygon}."""
    table: dict[str, list[list[float]]] = {}
    for source, records in records_by_source.items():
        partial = {runner.taxonomy.class_id(n) for n in partial_names_of(source) or ()}
        mask = (vehicle_masks or {}).get(source)
        todo = {image_key(source, r.image_path): r for r in records}
        items = todo.items() if progress is None else progress(todo.items(), desc=source)
        for key, rec in items:
            ids = sorted(partial | set(rec.unlabelled))
            boxes = record_ignore_boxes(runner, rec, ids, threshold) if ids else np.zeros((0, 4), np.float32)
            boxes = off_mask(boxes, rec.width, rec.height, mask)
            table[key] = np.round(boxes.astype(np.float64), 1).tolist()
    return table
