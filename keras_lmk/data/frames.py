"""Frame sources for inference: one image file, a folder of images, or a video (OpenCV, no TensorFlow).

    src = FrameSource("drive.mp4")          # or "img.jpg", or "folder/" (recursive, sorted)
    for f in src:                            # Frame(index, name, rgb uint8 [h, w, 3], timestamp_s)
        ...
    src.skipped                              # unreadable images / corrupt frames skipped (with a warning)

Warnings read ``FILE: reason, skipped``. A source that yields nothing (every image of a folder unreadable, no
readable frame in a video) raises :class:`FrameSourceError` when its iteration ends.

Names are paths relative to the folder (POSIX separators) or the file name of the image/video. Video
timestamps are ``frame_index / fps`` (from the container), or the decoder's position when fps is unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from keras_lmk.data.validation import image_bytes_problem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
MAX_CONSECUTIVE_BAD_FRAMES = 25  # a video that fails this many reads in a row has ended (or is broken)


class FrameSourceError(ValueError):
    """The input cannot be used at all (missing, empty folder, unreadable video); the message names it."""


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source (frame number for video, sorted position for a folder)
    name: str  # relative path for folders, file name for a single image or video
    image: np.ndarray  # RGB uint8 [h, w, 3]
    timestamp_s: float | None = None  # video only


def read_image_rgb(path: str | Path) -> np.ndarray | None:
    """Decode an image file to RGB uint8, or None when it is unreadable or (JPEG) truncated."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    # libjpeg decodes a truncated JPEG into a partly grey image with only a console warning: check the
    # end marker ourselves (allowing a little trailing padding)
    if image_bytes_problem(data[:8], data[-64:]) is not None:
        return None
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def require_image_rgb(path: str | Path) -> np.ndarray:
    """:func:`read_image_rgb` for an image that must be there: FileNotFoundError naming it otherwise."""
    rgb = read_image_rgb(path)
    if rgb is None:
        raise FileNotFoundError(f"{path}: cannot read the image")
    return rgb


def drive_frames(drive: str | Path) -> Path:
    """Where a drive folder's frames are: its ``images/`` folder, else its (first) video."""
    drive = Path(drive)
    if (drive / "images").is_dir():
        return drive / "images"
    videos = sorted(p for p in drive.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise FileNotFoundError(f"{drive}: no images/ folder and no video to read frames from")
    return videos[0]


class FrameSource:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped = 0
        if self.path.is_dir():
            self.kind = "folder"
            self.files = sorted(
                (p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                key=lambda p: p.relative_to(self.path).as_posix(),
            )
            if not self.files:
                raise FrameSourceError(f"{self.path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        elif not self.path.exists():
            raise FrameSourceError(f"{self.path}: no such file or folder")
        elif self.path.suffix.lower() in VIDEO_SUFFIXES:
            self.kind = "video"
            cap = cv2.VideoCapture(str(self.path))
            ok = cap.isOpened()
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if ok else 0.0
            self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if ok else 0
            self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            cap.release()
            if not ok:
                raise FrameSourceError(f"{self.path}: cannot open video (unsupported codec or corrupt file)")
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            self.files = [self.path]
        else:
            raise FrameSourceError(
                f"{self.path}: not an image ({', '.join(IMAGE_SUFFIXES)}) "
                f"or video ({', '.join(VIDEO_SUFFIXES)})"
            )

    def __len__(self) -> int:
        """Number of frames expected (a video's container count may be approximate)."""
        return self.frame_count if self.kind == "video" else len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        self.skipped = 0
        return self._video() if self.kind == "video" else self._images()

    def _skip(self, what: str):
        self.skipped += 1
        warnings.warn(f"{what}, skipped", stacklevel=3)

    def _images(self) -> Iterator[Frame]:
        for i, p in enumerate(self.files):
            rgb = read_image_rgb(p)
            if rgb is None:
                self._skip(f"{p}: unreadable or truncated image")
                continue
            name = p.name if self.kind == "image" else p.relative_to(self.path).as_posix()
            yield Frame(i, name, rgb)
        if self.kind == "image" and self.skipped:
            raise FrameSourceError(f"{self.path}: unreadable or truncated image")
        if self.skipped == len(self.files):
            raise FrameSourceError(f"{self.path}: all {self.skipped} images are unreadable or truncated")

    def _video(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise FrameSourceError(f"{self.path}: cannot open video")
        index, bad_run, yielded = 0, 0, 0
        try:
            while bad_run < MAX_CONSECUTIVE_BAD_FRAMES:
                pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    # past the container's count this is the normal end; inside it, a corrupt frame
                    if self.frame_count and index >= self.frame_count:
                        break
                    if not self.frame_count:
                        break
                    bad_run += 1
                    self._skip(f"{self.path}: frame {index} is corrupt or truncated")
                    index += 1
                    continue
                bad_run = 0
                ts = index / self.fps if self.fps > 0 else pos_ms / 1000.0
                yield Frame(index, self.path.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), float(ts))
                yielded += 1
                index += 1
        finally:
            cap.release()
        if bad_run >= MAX_CONSECUTIVE_BAD_FRAMES:
            # the rest of the container is unreadable: count it once, not frame by frame
            rest = max(0, self.frame_count - index)
            self.skipped += rest
            warnings.warn(f"{self.path}: stopped after {bad_run} unreadable frames in a row", stacklevel=2)
        if not yielded:
            raise FrameSourceError(f"{self.path}: no readable frames in video")
