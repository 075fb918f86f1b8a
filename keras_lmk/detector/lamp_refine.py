"""Lit-lamp refinement: move a traffic-light detection's point onto the lit lamp beside it.

A traffic light's reference point is the centre of its *lit lamp*, often 8-16 px wide; the detector's point
lands near it but, in a housing of three or four lamps, often between two lamps or on a dark one (one lamp
pitch off on x: docs/history.md). After decoding, each detection of ``classes`` looks at the image around
its point: a ``box_px`` square centred there is compared with the same square shifted by up to one side
(in quarter-side steps, :func:`keras_lmk.data.lamp_snap.snap_boxes_to_lit_lamps`), and the point moves to
the centre of the most lamp-lit square when that square is at least ``min_gain`` times as lit as the
unmoved one and at least ``min_lit`` in absolute terms ("lamp-lit": saturation x value with blue hues
unlit, :func:`keras_lmk.data.lamp_snap.lamp_litness`, the rule that cleaned the training labels). Scores,
classes and order are unchanged; other classes are untouched.

It needs the original image, so it is a step of the runner (``predict_frame``, the evaluation), not of the
tensor-only :func:`keras_lmk.detector.decode.decode`; a model card turns it on with its ``lamp_refine``
section (absent: off). numpy + OpenCV, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from keras_lmk.data.lamp_snap import lamp_litness, snap_boxes_to_lit_lamps
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.decode import Detections


@dataclass(frozen=True)
class LampRefineConfig:
    classes: tuple[str, ...] = ("signal",)  # class names whose points are refined
    box_px: float = 8.0  # side of the square compared, original pixels; the point moves at most this far
    min_gain: float = 1.25  # the new square must be at least this many times as lamp-lit as the old one
    min_lit: float = 0.15  # ... and at least this lamp-lit (a lit lamp: 0.34-0.48 on the light photos)

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.classes:
            raise ValueError("lamp_refine.classes must name at least one class")
        if not self.box_px > 0 or not self.min_gain >= 1.0 or not 0.0 <= self.min_lit <= 1.0:
            raise ValueError(
                f"lamp_refine: need box_px > 0, min_gain >= 1 and 0 <= min_lit <= 1, got {self.box_px}, "
                f"{self.min_gain}, {self.min_lit}"
            )

    def to_json(self) -> dict:
        return {**asdict(self), "classes": list(self.classes)}

    @classmethod
    def from_json(cls, d: Mapping | None) -> LampRefineConfig | None:
        """None when the card has no ``lamp_refine`` section (refinement off)."""
        if d is None:
            return None
        unknown = set(d) - set(asdict(cls()))
        if unknown:
            raise ValueError(
                f"unknown lamp_refine settings {sorted(unknown)}; known: {sorted(asdict(cls()))}"
            )
        return cls(**d)


def refine_lamp_points(
    rgb: np.ndarray, dets: Detections, taxonomy: Taxonomy, cfg: LampRefineConfig
) -> Detections:
    """``dets`` (original-image pixels) with the points of ``cfg.classes`` moved onto the lit lamp beside
    them, where there is one; ``rgb`` uint8 [h, w, 3] is the original image."""
    import cv2

    ids = [taxonomy.class_id(name) for name in cfg.classes]
    chosen = np.flatnonzero(np.isin(dets.classes, ids))
    if not len(chosen):
        return dets
    h, w = rgb.shape[:2]
    s = float(cfg.box_px)
    reach = int(np.ceil(1.5 * s)) + 2  # half a square plus one shift, and a pixel of rounding either side
    points = dets.points.astype(np.float32, copy=True)
    for i in chosen:
        x, y = float(points[i, 0]), float(points[i, 1])
        x0, y0 = max(int(np.floor(x)) - reach, 0), max(int(np.floor(y)) - reach, 0)
        x1, y1 = min(int(np.floor(x)) + reach + 1, w), min(int(np.floor(y)) + reach + 1, h)
        if x1 <= x0 or y1 <= y0:  # the point lies off the image
            continue
        lit = lamp_litness(cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV))
        box = np.array([[x - x0 - s / 2, y - y0 - s / 2, x - x0 + s / 2, y - y0 + s / 2]], np.float32)
        new, moved = snap_boxes_to_lit_lamps(lit, box, min_gain=cfg.min_gain, min_lit=cfg.min_lit)
        if moved[0]:
            points[i] = (new[0, :2] + new[0, 2:]) / 2 + np.array([x0, y0], np.float32)
    return Detections(dets.classes, points, dets.scores)
