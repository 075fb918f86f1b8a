"""Ignore regions from a teacher's class probabilities: where a class a source does not label may really be.

Complete negatives (docs/real_data.md "Complete negatives"): a real source annotates some classes only, so
training used to treat every other class leniently in every background cell of that source ("background or
an unlabelled class"); the model learnt to park probability there and reported 18-48 landmarks per frame at a
score of 0.5. Instead every cell is now background for every class, except the cells where a teacher model
gives an unlabelled class a probability of at least ``threshold``: those become *ignore regions* (neither
landmark nor background). The teacher's confident cells are not made positives: its confidence on classes it
never saw a real example of is what was wrong.

    probs = softmax(class_logits).mean(anchors)     # float [S, M], one image
    boxes = ignore_boxes(probs, spec, classes=[4, 6], threshold=0.5)   # float [K, 4] model-input px
"""

from __future__ import annotations

import cv2
import numpy as np

from keras_lmk.detector.grid import GridSpec


def cell_probabilities(class_logits) -> np.ndarray:
    """float [S, A, M] logits -> float [S, M]: softmax per anchor, then the mean over the cell's anchors."""
    z = np.asarray(class_logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return p.mean(axis=1).astype(np.float32)


def ignore_boxes(probs, spec: GridSpec, classes, threshold: float, grow_cells: int = 1) -> np.ndarray:
    """Boxes around the cells where any of ``classes`` has probability >= ``threshold``.

    probs: float [S, M] cell probabilities (row-major cells of ``spec``). Each 8-connected group of such cells
    gives one box: the group's cells grown by ``grow_cells`` on every side, clipped to the input, in
    model-input pixels xyxy (a cell is ``[c * stride, (c + 1) * stride)``). Returns float32 [K, 4], sorted by
    (y0, x0).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    probs = np.asarray(probs, np.float32)
    if probs.shape != (spec.num_cells, spec.num_classes):
        raise ValueError(f"probs must be [{spec.num_cells}, {spec.num_classes}], got {list(probs.shape)}")
    cls = np.asarray(list(classes), np.int64)
    if cls.size == 0:
        return np.zeros((0, 4), np.float32)
    if cls.min() < 1 or cls.max() >= spec.num_classes:
        raise ValueError(f"classes must be landmark ids 1..{spec.num_classes - 1}, got {cls.tolist()}")
    hot = (probs[:, cls] >= threshold).any(axis=1).reshape(spec.grid_h, spec.grid_w).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
    s = spec.stride
    boxes = []
    for x, y, w, h, _area in stats[1:n]:
        x0, y0 = max(x - grow_cells, 0), max(y - grow_cells, 0)
        x1, y1 = min(x + w + grow_cells, spec.grid_w), min(y + h + grow_cells, spec.grid_h)
        boxes.append([x0 * s, y0 * s, x1 * s, y1 * s])
    out = np.asarray(boxes, np.float32).reshape(-1, 4)
    return out[np.lexsort((out[:, 0], out[:, 1]))]
