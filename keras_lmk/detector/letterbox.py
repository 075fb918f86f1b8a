"""Letterbox resizing between original images and the fixed model input (numpy + OpenCV, no TensorFlow).

The image is scaled by ``scale = min(W_in / w, H_in / h)`` keeping its aspect ratio, and centred with
padding: ``input_px = original_px * scale + (pad_x, pad_y)``. Padding is filled with ``PAD_VALUE`` (grey).
Training, export and the decoder all use this one mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float

    @classmethod
    def fit(cls, width: int, height: int, input_width: int, input_height: int) -> Letterbox:
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        scale = min(input_width / width, input_height / height)
        new_w, new_h = round(width * scale), round(height * scale)
        return cls(scale, (input_width - new_w) // 2, (input_height - new_h) // 2)

    def to_input(self, points) -> np.ndarray:
        """Original pixels [..., 2] -> model-input pixels."""
        return np.asarray(points, np.float32) * self.scale + np.array([self.pad_x, self.pad_y], np.float32)

    def to_original(self, points) -> np.ndarray:
        """Model-input pixels [..., 2] -> original pixels."""
        return (np.asarray(points, np.float32) - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale

    def boxes_to_input(self, boxes_xyxy) -> np.ndarray:
        b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 2, 2)
        return self.to_input(b).reshape(-1, 4)


def letterbox_image(image: np.ndarray, input_width: int, input_height: int) -> tuple[np.ndarray, Letterbox]:
    """Resize an HxWx3 uint8 image into the model input; returns (uint8 [H_in, W_in, 3], Letterbox)."""
    h, w = image.shape[:2]
    lb = Letterbox.fit(w, h, input_width, input_height)
    new_w, new_h = round(w * lb.scale), round(h * lb.scale)
    interp = cv2.INTER_AREA if lb.scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    out = np.full((input_height, input_width, 3), PAD_VALUE, np.uint8)
    x0, y0 = int(lb.pad_x), int(lb.pad_y)
    out[y0 : y0 + new_h, x0 : x0 + new_w] = resized
    return out, lb
