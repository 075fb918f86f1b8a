"""Which frames the mobile kit shows (:mod:`keras_lmk.deploy.demo_kit`), and its phone-sized frame.

**Sample choice.** A kit's sample should show what the model does on its source: a labelled landmark found.
For each data source of the run, the candidates are its validation frames with at least one labelled
landmark, in the split's fixed order, the first ``scan`` of them. The kit's own int8 model (its card's
thresholds and lit-lamp refinement) runs on each; a frame *shows* its source when at least one detection is
of a labelled landmark's class and within ``radius_px`` original pixels of its reference point (greedy
one-to-one matching, :func:`keras_lmk.evaluation.matching.match_greedy`). Of the frames that show their
source, the kit takes those with the fewest *other* detections (not matched to a labelled landmark: false
ones, or landmarks the source does not label), the earlier frame first on a tie; the scan stops once
``count`` frames with no other detection are found (they rank first anyway), so the choice is the same
whether it stops early or not. When no frame of the first ``scan`` shows its source, the first frames are
taken, as before this rule, and the build says so.

**Phone frame.** A phone camera gives 1920x1080 frames, larger than the model input, so every one of them is
*shrunk* into it (the area filter of :mod:`keras_lmk.detector.letterbox`); the validation images are smaller
and are enlarged. :func:`phone_frame` makes such a frame from a real sample (its centre cropped to 16:9, then
resized), so the kit's goldens cover the shrinking path too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from keras_lmk.detector.decode import Detections
from keras_lmk.evaluation.matching import match_greedy

SCAN = 40  # validation frames tried per source
RADIUS_PX = 10.0  # original pixels: the road-marking bar's "found within 10 px"
PHONE_FRAME = (1920, 1080)  # width, height of a phone camera's video frame
RULE = (
    f"the validation frame of this source (of its first {SCAN} with labels) where the kit's model finds a "
    f"labelled landmark (its class, within {RADIUS_PX:g} px) with the fewest other detections, the earliest "
    "on a tie"
)


@dataclass(frozen=True)
class Shown:
    """One candidate frame judged: ``index`` in the candidates, labelled landmarks ``found`` by a detection of
    their class within the radius, ``other`` detections matched to none."""

    index: int
    found: int
    other: int

    def to_json(self, scanned: int) -> dict:
        return {"found": self.found, "other": self.other, "candidate": self.index, "scanned": scanned}


def judge(dets: Detections, gt_points, gt_classes, radius_px: float = RADIUS_PX) -> tuple[int, int]:
    """(labelled landmarks found, other detections) of one frame; points in original pixels."""
    gt_points = np.asarray(gt_points, np.float64).reshape(-1, 2)
    match, _ = match_greedy(
        dets.points, dets.scores, dets.classes, gt_points, gt_classes, np.full(len(gt_points), radius_px)
    )
    found = int((match >= 0).sum())
    return found, len(dets) - found


def choose(
    candidates: Sequence,
    detect: Callable[[object], Detections],
    count: int,
    *,
    scan: int = SCAN,
    radius_px: float = RADIUS_PX,
) -> tuple[list[Shown], int]:
    """The ``count`` candidates to show (module doc), best first, and how many were scanned; an empty list
    when none of the first ``scan`` shows its labels. ``candidates``: records with ``points`` and
    ``classes`` (original pixels); ``detect(record)``: the kit's detections on it."""
    shown: list[Shown] = []
    scanned = 0
    for i, rec in enumerate(candidates[:scan]):
        found, other = judge(detect(rec), rec.points, rec.classes, radius_px)
        scanned += 1
        if found:
            shown.append(Shown(i, found, other))
        if sum(s.other == 0 for s in shown) >= count:
            break
    return sorted(shown, key=lambda s: (s.other, s.index))[:count], scanned


def phone_frame_size(input_width: int, input_height: int) -> tuple[int, int]:
    """PHONE_FRAME, doubled until the model input is smaller on both axes (it is already for every kit so
    far), so that the letterbox shrinks the frame."""
    w, h = PHONE_FRAME
    while w <= input_width or h <= input_height:
        w, h = 2 * w, 2 * h
    return w, h


def phone_frame(rgb: np.ndarray, points, size: tuple[int, int] = PHONE_FRAME):
    """``rgb`` uint8 [h, w, 3] as a phone frame of ``size`` (width, height): its centre cropped to that aspect
    ratio, resized to it (bilinear when enlarging, area when shrinking). Returns (frame uint8 [H, W, 3],
    points [N, 2] in the frame's pixels, inside bool [N]: the points the crop kept)."""
    h, w = rgb.shape[:2]
    out_w, out_h = size
    if w * out_h > out_w * h:  # wider than the frame: crop the sides
        crop_w, crop_h = round(h * out_w / out_h), h
    else:
        crop_w, crop_h = w, round(w * out_h / out_w)
    x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
    crop = np.ascontiguousarray(rgb[y0 : y0 + crop_h, x0 : x0 + crop_w])
    interp = cv2.INTER_LINEAR if out_w >= crop_w else cv2.INTER_AREA
    frame = cv2.resize(crop, (out_w, out_h), interpolation=interp)
    in_crop = np.asarray(points, np.float64).reshape(-1, 2) - (x0, y0)
    inside = (in_crop >= 0).all(axis=1) & (in_crop[:, 0] <= crop_w) & (in_crop[:, 1] <= crop_h)
    return frame, in_crop * (out_w / crop_w, out_h / crop_h), inside
