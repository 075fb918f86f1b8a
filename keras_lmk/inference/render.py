"""Draw detections onto frames and write them to a folder of images or a video (OpenCV, no TensorFlow).

Each landmark is a class-coloured cross at its reference point (taxonomy colours) with ``name score``.
Labels stay inside the frame and do not cover each other: :func:`place_labels` tries the corners around
the point, then slides the label up or down to the nearest free spot; a label that moved away from its
point gets a thin leader line.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from keras_lmk.atomic import check_writable_dir
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.decode import Detections

VIDEO_OUT_SUFFIXES = (".mp4", ".avi")
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _overlap(a, b) -> int:
    """Intersection area of two (x0, y0, x1, y1) pixel rectangles."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _candidates(x: int, y: int, w: int, h: int, frame_size, gap: int):
    """Label rectangles for a point, best first: the four corners around it, then the right and left
    columns slid down and up in half-label steps; each shifted into the frame."""
    fw, fh = frame_size

    def rect(x0, y0):
        x0 = int(min(max(x0, 0), max(fw - w, 0)))
        y0 = int(min(max(y0, 0), max(fh - h, 0)))
        return (x0, y0, x0 + w, y0 + h)

    right, left, above = x + gap, x - gap - w, y - gap - h
    yield from (rect(right, above), rect(right, y + gap), rect(left, above), rect(left, y + gap))
    step = max(h // 2, 1)
    for k in range(1, fh // step + 2):
        for x0, y0 in ((right, above + k * step), (right, above - k * step)):
            yield rect(x0, y0)
        for x0, y0 in ((left, above + k * step), (left, above - k * step)):
            yield rect(x0, y0)


def place_labels(points, sizes, frame_size, gap: int = 4) -> list[tuple[int, int, int, int]]:
    """Label rectangles (x0, y0, x1, y1), pixels, x right, y down, one per point, in the points' order.

    points: [N, 2] label anchors (a landmark's reference point); sizes: [N, 2] label (width, height);
    frame_size: (width, height). Labels are placed in the given order (draw the most important first):
    each takes the first free place among right-above, right-below, left-above and left-below of its point,
    then the nearest free place up or down from there; in a frame too full for that, the place that covers
    the earlier labels least. Every rectangle lies inside the frame (one larger than the frame is pinned to
    its top-left corner).
    """
    placed: list[tuple[int, int, int, int]] = []
    points = np.asarray(points, float).reshape(-1, 2)
    for (px, py), (w, h) in zip(points, np.asarray(sizes, int).reshape(-1, 2), strict=True):
        best, best_cover = None, None
        for r in _candidates(round(px), round(py), int(w), int(h), frame_size, gap):
            cover = sum(_overlap(r, q) for q in placed)
            if best_cover is None or cover < best_cover:
                best, best_cover = r, cover
            if cover == 0:
                break
        placed.append(best)
    return placed


def draw_detections(rgb: np.ndarray, dets: Detections, taxonomy: Taxonomy) -> np.ndarray:
    """Return a copy of ``rgb`` (uint8 [h, w, 3]) with markers and labels drawn (labels by descending score,
    placed by :func:`place_labels`; tracked detections are labelled with their track id)."""
    out = np.ascontiguousarray(rgb).copy()
    h_img, w_img = out.shape[:2]
    size = max(8, round(min(h_img, w_img) / 40))
    font = max(0.3, min(h_img, w_img) / 900)
    order = np.argsort(-np.asarray(dets.scores), kind="stable")
    classes = np.asarray(dets.classes)[order].tolist()
    scores = np.asarray(dets.scores)[order].tolist()
    points = np.asarray(dets.points, float).reshape(-1, 2)[order].tolist()
    labels = [f"{taxonomy.classes[c].name} {s:.2f}" for c, s in zip(classes, scores, strict=True)]
    if hasattr(dets, "track_ids"):  # tracked detections (keras_lmk.inference.tracking): "#id class score"
        ids = np.asarray(dets.track_ids)[order].tolist()
        labels = [f"#{t} {label}" for t, label in zip(ids, labels, strict=True)]
    ring = max(1, round(1.5 * font))  # outline width, pixels
    metrics = [cv2.getTextSize(label, FONT, font, 1) for label in labels]  # ((w, h), baseline)
    sizes = [(tw + 2 * ring, th + base + 2 * ring) for (tw, th), base in metrics]
    rects = place_labels(points, sizes, (w_img, h_img), gap=size // 2 + 2)
    colors = [tuple(int(v) for v in taxonomy.classes[c].color) for c in classes]
    for (x, y), color in zip(points, colors, strict=True):
        p = (round(x), round(y))
        cv2.drawMarker(out, p, (0, 0, 0), cv2.MARKER_CROSS, size + 2, 4)  # dark outline: any background
        cv2.drawMarker(out, p, color, cv2.MARKER_CROSS, size, 2)
    for (x, y), color, label, (x0, y0, x1, y1), (_, base) in zip(
        points, colors, labels, rects, metrics, strict=True
    ):
        p = (round(x), round(y))
        near = (min(max(p[0], x0), x1), min(max(p[1], y0), y1))
        if abs(near[0] - p[0]) + abs(near[1] - p[1]) > 2 * size:  # moved away: a leader line to its point
            cv2.line(out, p, near, color, 1, cv2.LINE_AA)
        draw_label(out, label, (x0 + ring, y1 - ring - base), font, color, ring)
    return out


def draw_label(out: np.ndarray, text: str, org: tuple[int, int], scale: float, color, ring: int = 1) -> None:
    """Draw ``text`` in ``color`` with a dark outline ``ring`` pixels wide into ``out`` (uint8 [h, w, 3], in
    place); ``org`` is putText's bottom-left of the text, pixels, x right, y down.

    The text is drawn once, into a mask, and the outline is that mask dilated: both are the same glyphs
    whatever the OpenCV version. (Outline and text as two putText calls of thickness 3 and 1 come apart with
    OpenCV 5, whose thicker text is also wider: "indicating 1.00" read "indicatling1100".)
    """
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    pad = ring + 2  # antialiased glyphs may reach a pixel past the measured box
    cx0, cy0 = org[0] - pad, org[1] - th - pad  # the canvas around the text, frame pixels
    mask = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(mask, text, (pad, pad + th), FONT, scale, 255, 1, cv2.LINE_AA)
    k = 2 * ring + 1
    outline = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    h, w = out.shape[:2]
    x0, y0 = max(cx0, 0), max(cy0, 0)  # the canvas clipped to the frame
    x1, y1 = min(cx0 + mask.shape[1], w), min(cy0 + mask.shape[0], h)
    if x0 >= x1 or y0 >= y1:
        return
    crop = np.s_[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    a_text = mask[crop][..., None] / 255.0
    a_ring = np.minimum(outline[crop][..., None] / 127.5, 1.0)  # solid where a glyph covers half a pixel
    roi = out[y0:y1, x0:x1].astype(np.float32) * (1.0 - a_ring)  # dark outline (and under the text)
    roi = roi * (1.0 - a_text) + np.asarray(color, np.float32) * a_text
    out[y0:y1, x0:x1] = np.clip(np.rint(roi), 0, 255).astype(out.dtype)


class RenderSink:
    """Writes rendered frames: ``target`` ending in .mp4/.avi is a video, anything else a folder of JPEGs
    named after the frames (``frame_000123.jpg`` for video inputs).

    The folders it needs are made with :func:`keras_lmk.atomic.check_writable_dir` (a command that fails
    removes them again while empty). A video is written to a temporary file beside ``target`` and moved
    there by ``close()`` (``close(commit=False)``, or leaving a ``with`` block on an error, deletes it): a
    failed run neither leaves half a video nor replaces an earlier one."""

    def __init__(self, target: str | Path, fps: float = 10.0):
        self.target = Path(target)
        self.fps = fps if fps and fps > 0 else 10.0
        self.is_video = self.target.suffix.lower() in VIDEO_OUT_SUFFIXES
        self._writer = None
        self._size = None
        check_writable_dir(self.target.parent if self.is_video else self.target)
        # atomic_write's temporary naming (keras_lmk.atomic.TEMP_NAME), keeping the suffix OpenCV goes by
        self._tmp = self.target.with_name(f".{self.target.name}.{os.getpid():08d}.tmp{self.target.suffix}")

    def write(self, rgb: np.ndarray, name: str, index: int, from_video: bool):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self.is_video:
            if self._writer is None:
                self._size = (bgr.shape[1], bgr.shape[0])
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.target.suffix.lower() == ".mp4" else "MJPG"))
                self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self._size)
                if not self._writer.isOpened():
                    self._writer = None
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

    def close(self, commit: bool = True):
        """Finish the video: moved to ``target`` when ``commit``, else deleted (a folder of JPEGs keeps what
        was written)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if commit:
                os.replace(self._tmp, self.target)
        self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(commit=exc_type is None)
