"""Draw detections onto frames and write them to a folder of images or a video (OpenCV, no TensorFlow).

Each landmark is a class-coloured cross at its reference point (taxonomy colours) with ``name score``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.decode import Detections

VIDEO_OUT_SUFFIXES = (".mp4", ".avi")


def draw_detections(rgb: np.ndarray, dets: Detections, taxonomy: Taxonomy) -> np.ndarray:
    """Return a copy of ``rgb`` (uint8 [h, w, 3]) with markers and labels drawn."""
    out = np.ascontiguousarray(rgb).copy()
    size = max(8, round(min(out.shape[:2]) / 40))
    font = max(0.3, min(out.shape[:2]) / 900)
    for cls, (x, y), score in zip(
        dets.classes.tolist(), dets.points.tolist(), dets.scores.tolist(), strict=True
    ):
        color = tuple(int(v) for v in taxonomy.classes[cls].color)
        p = (round(x), round(y))
        cv2.drawMarker(
            out, p, (0, 0, 0), cv2.MARKER_CROSS, size + 2, 4
        )  # dark outline, readable on any colour
        cv2.drawMarker(out, p, color, cv2.MARKER_CROSS, size, 2)
        label = f"{taxonomy.classes[cls].name} {score:.2f}"
        org = (p[0] + size // 2 + 2, max(10, p[1] - size // 2))
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, font, color, 1, cv2.LINE_AA)
    return out


class RenderSink:
    """Writes rendered frames: ``target`` ending in .mp4/.avi is a video, anything else a folder of JPEGs
    named after the frames (``frame_000123.jpg`` for video inputs)."""

    def __init__(self, target: str | Path, fps: float = 10.0):
        self.target = Path(target)
        self.fps = fps if fps and fps > 0 else 10.0
        self.is_video = self.target.suffix.lower() in VIDEO_OUT_SUFFIXES
        self._writer = None
        self._size = None
        if self.is_video:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        else:
            self.target.mkdir(parents=True, exist_ok=True)

    def write(self, rgb: np.ndarray, name: str, index: int, from_video: bool):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self.is_video:
            if self._writer is None:
                self._size = (bgr.shape[1], bgr.shape[0])
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.target.suffix.lower() == ".mp4" else "MJPG"))
                self._writer = cv2.VideoWriter(str(self.target), fourcc, self.fps, self._size)
                if not self._writer.isOpened():
                    raise OSError(f"{self.target}: cannot open a video writer")
            if (bgr.shape[1], bgr.shape[0]) != self._size:  # a folder of mixed sizes into one video
                bgr = cv2.resize(bgr, self._size)
            self._writer.write(bgr)
            return
        rel = f"frame_{index:06d}.jpg" if from_video else str(Path(name).with_suffix(".jpg"))
        path = self.target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), bgr):
            raise OSError(f"{path}: cannot write rendered frame")

    def close(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
