"""Move traffic-light label boxes that sit beside the lit lamp onto it (training labels only).

The Korean traffic-light set labels the *lit lamp* (median box 12 x 16 px in its 800x800 photos), but about
one box in seven sits up to one lamp pitch away from the lit lamp: on a dark lamp of the same housing or
beside it, identically in the three augmented copies of a photo (an annotation offset, not augmentation;
docs/real_data.md shows them). A light's reference point is its box centre, so those labels teach the
detector to point between lamps. :func:`snap_boxes_to_lit_lamps` moves such a box, by whole or half box
sizes, to where the image is most lamp-lit, when that place is at least ``min_gain`` times more lit than the
labelled one and lit in absolute terms (``min_lit``); lamps labelled on their own do not count.

"Lamp-lit" is the mean of saturation x value over the box, HSV in [0, 1], with blue hues (blue sign faces,
sky) counted as unlit: a lit red, amber or green lamp is bright and saturated, a dark lamp, the housing,
facades and sky are not.

Only the training split is snapped (``data.lights_snap``): the validation labels stay as published, because
the held-out test photos carry the same annotation offsets.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.validation import DataError

# OpenCV hue (0-180) of blue sign faces and sky: never a lamp
BLUE_HUE = (100, 140)
SHIFTS = np.arange(-1.0, 1.01, 0.25)  # candidate offsets in box widths / heights


def lamp_litness(hsv: np.ndarray) -> np.ndarray:
    """Per-pixel lamp-lit score of an OpenCV HSV uint8 image: S x V in [0, 1], 0 on blue hues."""
    h = hsv[..., 0]
    lit = (hsv[..., 1].astype(np.float32) / 255.0) * (hsv[..., 2].astype(np.float32) / 255.0)
    return np.where((h >= BLUE_HUE[0]) & (h <= BLUE_HUE[1]), 0.0, lit).astype(np.float32)


def _box_means(integral: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of the image under each integer box [x0, y0, x1, y1) from its summed-area table."""
    x0, y0, x1, y1 = (boxes[:, k] for k in range(4))
    total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return total / np.maximum((x1 - x0) * (y1 - y0), 1)


def _summed_area(litness: np.ndarray, unlit_boxes: np.ndarray) -> np.ndarray:
    """Summed-area table of ``litness`` with ``unlit_boxes`` (xyxy, rounded out) set to 0."""
    h, w = litness.shape
    lit = litness.astype(np.float64)
    for x0, y0, x1, y1 in unlit_boxes:
        lit[max(int(np.floor(y0)), 0) : int(np.ceil(y1)), max(int(np.floor(x0)), 0) : int(np.ceil(x1))] = 0.0
    integral = np.zeros((h + 1, w + 1), np.float64)
    integral[1:, 1:] = np.cumsum(np.cumsum(lit, axis=0), axis=1)
    return integral


def snap_boxes_to_lit_lamps(
    litness: np.ndarray,
    boxes: np.ndarray,
    *,
    min_gain: float = 2.0,
    min_lit: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Shift each box to the most lamp-lit place within one box size, where that is clearly better.

    Args:
      litness: float [H, W] per-pixel score (:func:`lamp_litness`).
      boxes: float [N, 4] xyxy pixels, the labelled lamps of one image.
      min_gain: a box moves only if the best candidate's mean litness is at least this many times its own.
      min_lit: ... and at least this much in absolute terms (a lit lamp: 0.34-0.48 on the light photos; a
        green arrow's thin strokes 0.1-0.3, which must not pull its box onto the dark housing beside it).

    Returns:
      (boxes, moved): float32 [N, 4] the boxes after snapping, same sizes; bool [N] which moved.
      Candidates are the box shifted by ``SHIFTS`` x its width and height (9 x 9, whole image only). The other
      labels' boxes count as unlit for each box: a lamp labelled on its own is not this label's lamp (two
      adjacent lit lamps, both labelled, stay two).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = litness.shape
    out, moved = boxes.copy(), np.zeros(len(boxes), bool)
    dx, dy = np.meshgrid(SHIFTS, SHIFTS)
    dx, dy = dx.ravel(), dy.ravel()
    for i, box in enumerate(boxes):
        bw, bh = box[2] - box[0], box[3] - box[1]
        cand = box[None, :] + np.stack([dx * bw, dy * bh, dx * bw, dy * bh], axis=1)
        inside = (cand[:, 0] >= 0) & (cand[:, 1] >= 0) & (cand[:, 2] <= w) & (cand[:, 3] <= h)
        integral = _summed_area(litness, np.delete(boxes, i, axis=0))
        grid = np.rint(np.clip(cand, 0, [w, h, w, h])).astype(np.int64)
        means = np.where(inside, _box_means(integral, grid), -1.0)
        own = _box_means(integral, np.rint(np.clip(box, 0, [w, h, w, h])).astype(np.int64)[None])[0]
        best = int(np.argmax(means))
        if means[best] >= max(min_gain * own, min_lit):
            out[i], moved[i] = cand[best], True
    return out, moved


def snap_record(record: ImageRecord) -> ImageRecord:
    """The record with its boxes snapped to the lit lamps of its image and each point at its box centre (a
    light's reference point). Raises ``DataError`` naming the file when the image cannot be read."""
    import cv2

    if not len(record.boxes):
        return record
    bgr = cv2.imread(record.image_path)
    if bgr is None:
        raise DataError(record.image_path, None, "cannot read the image")
    boxes, moved = snap_boxes_to_lit_lamps(lamp_litness(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)), record.boxes)
    if not moved.any():
        return record
    points = np.where(moved[:, None], (boxes[:, :2] + boxes[:, 2:]) / 2, record.points).astype(np.float32)
    return dataclasses.replace(record, boxes=boxes, points=points)
