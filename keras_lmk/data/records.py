"""In-memory annotation records: what every importer produces and every consumer reads.

Coordinates are pixels of the original image, x right, y down; boxes are ``[x0, y0, x1, y1]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its landmarks.

    image_path: absolute path of the image file.
    boxes: float32 [N, 4] xyxy pixels; points: float32 [N, 2] reference points (pixels);
    classes: int32 [N] taxonomy ids (>= 1); landmark_ids: int64 [N] map ids or -1; distances: float32 [N]
    metres from the camera or NaN when unknown. unlabelled: taxonomy ids of classes this image's source does
    not annotate although they may appear in it (partial labels; the loss does not treat them as background).
    ignore_boxes: float32 [K, 4] xyxy pixels of *ignore regions*: landmarks that are visible but cannot be
    learnt or scored (a road marking whose reference end has left the frame, one a pixel or two tall). Their
    cells are neither landmark nor background in training, and an unmatched detection inside one is not a
    false positive. ignore_classes: int32 [K] their taxonomy classes (written to COCO as ``iscrowd: 1``).
    """

    image_path: str
    width: int
    height: int
    boxes: np.ndarray
    points: np.ndarray
    classes: np.ndarray
    image_id: int = 0
    landmark_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    distances: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    unlabelled: tuple[int, ...] = ()
    ignore_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    ignore_classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))

    def __post_init__(self):
        n = len(np.asarray(self.classes).reshape(-1))
        object.__setattr__(self, "boxes", np.asarray(self.boxes, np.float32).reshape(n, 4))
        object.__setattr__(self, "points", np.asarray(self.points, np.float32).reshape(n, 2))
        object.__setattr__(self, "classes", np.asarray(self.classes, np.int32).reshape(n))
        if len(self.landmark_ids) != n:
            object.__setattr__(self, "landmark_ids", np.full((n,), -1, np.int64))
        if len(self.distances) != n:
            object.__setattr__(self, "distances", np.full((n,), np.nan, np.float32))
        k = len(np.asarray(self.ignore_classes).reshape(-1))
        object.__setattr__(self, "ignore_boxes", np.asarray(self.ignore_boxes, np.float32).reshape(k, 4))
        object.__setattr__(self, "ignore_classes", np.asarray(self.ignore_classes, np.int32).reshape(k))

    def with_unlabelled(self, class_ids) -> ImageRecord:
        """The same record with ``unlabelled`` set (sorted, unique)."""
        return dataclasses.replace(self, unlabelled=tuple(sorted({int(c) for c in class_ids})))

    @property
    def num_landmarks(self) -> int:
        return len(self.classes)
