"""Copy-paste augmentation: real landmark crops pasted onto other training images, labels and all.

    bank = CropBank.from_records(train_records, taxonomy, spec, CopyPasteConfig(classes=("signal",)))
    example = paste(example_np, bank, cfg, rng)          # numpy; the pipeline wraps it in tf.numpy_function

A crop is a labelled landmark's box widened by ``margin`` of its size on each side (a traffic lamp keeps its
housing, a sign its pole and surroundings), cut from a training image and resized to the scale that image
has at the model input, so a pasted landmark is as large as it would be in its own frame. Crops whose window
cuts another labelled landmark are not taken (pasting them would add an unlabelled part-landmark); landmarks
wholly inside the window travel with it. Validation images never enter the bank.

Pasting (per training example, after the crop window and before the warp): with probability ``prob``, up to
``per_image`` crops, drawn uniformly or, with ``balance`` > 0, favouring the crops of rare classes (the
repeat-factor idea of LVIS: weight = (crops of the class)^-balance). Each is scaled by a log-uniform factor
in [scale_min, scale_max] and placed uniformly where it overlaps no landmark, ignore region or earlier paste
(10 tries, then skipped). The crop's outer half of the margin is blended linearly into the image, so no hard
rectangle edge marks where a landmark is. Pasted landmarks get landmark id -1 and an unknown distance.

Partial labels stay honest: a pasted landmark is a positive of its class, also in images whose source does
not label that class (the loss only treats an unlabelled class leniently on background cells).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from keras_lmk.data.frames import read_image_rgb
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.augment_config import CopyPasteConfig

TRIES = 10


@dataclass(frozen=True)
class Crop:
    """A pasteable window at its model-input scale: ``image`` uint8 [h, w, 3] and the landmarks wholly inside
    it, in window pixels (``boxes`` float32 [K, 4] xyxy, ``points`` float32 [K, 2], ``classes`` int32 [K])."""

    image: np.ndarray
    boxes: np.ndarray
    points: np.ndarray
    classes: np.ndarray


def overlapping(boxes: np.ndarray, window) -> np.ndarray:
    """bool [N]: which xyxy ``boxes`` [N, 4] share some area with the xyxy ``window``."""
    x0, y0, x1, y1 = window
    return (boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)


def crop_window(box: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """Integer window [x0, y0, x1, y1] around ``box`` widened by ``margin`` x its size per side, clipped."""
    w, h = box[2] - box[0], box[3] - box[1]
    x0 = max(0, math.floor(box[0] - margin * w))
    y0 = max(0, math.floor(box[1] - margin * h))
    x1 = min(width, math.ceil(box[2] + margin * w))
    y1 = min(height, math.ceil(box[3] + margin * h))
    return np.array([x0, y0, x1, y1], np.int64)


def draw_weights(labels: np.ndarray, balance: float) -> np.ndarray:
    """Probability of drawing each crop, given each crop's class ``labels`` [N]: proportional to
    (number of crops of its class)^-balance, so 0 is uniform over crops and 1 uniform over classes."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -balance
    return w / w.sum()


class CropBank:
    """The crops of the configured classes from a list of training records; ``probs`` [N] the chance of
    drawing each (None: uniform)."""

    def __init__(self, crops: list[Crop], probs: np.ndarray | None = None):
        self.crops = crops
        self.probs = probs

    def __len__(self) -> int:
        return len(self.crops)

    def draw(self, rng: np.random.Generator) -> Crop:
        if self.probs is None:
            return self.crops[rng.integers(len(self.crops))]
        return self.crops[rng.choice(len(self.crops), p=self.probs)]

    @classmethod
    def from_records(
        cls, records, taxonomy: Taxonomy, spec: GridSpec, cfg: CopyPasteConfig, read=None
    ) -> CropBank:
        """Crops of every landmark of ``cfg.classes`` in ``records`` (at most ``cfg.max_crops``, spread evenly
        over the records). ``read(path) -> RGB uint8``: the image reader (default OpenCV)."""
        read = read or _read_rgb
        wanted = {taxonomy.class_id(name) for name in cfg.classes}
        picks = [(r, i) for r in records for i, c in enumerate(r.classes) if int(c) in wanted]
        if len(picks) > cfg.max_crops:
            keep = np.linspace(0, len(picks) - 1, cfg.max_crops).round().astype(int)
            picks = [picks[i] for i in keep]
        crops, labels, cache = [], [], {}
        for record, i in picks:
            if record.image_path not in cache:
                cache.clear()  # picks are grouped by record: one image in memory at a time
                cache[record.image_path] = read(record.image_path)
            crop = make_crop(cache[record.image_path], record, i, spec, cfg.margin)
            if crop is not None:
                crops.append(crop)
                labels.append(int(record.classes[i]))
        # balance 0 keeps the plain uniform draw (and so the random stream of runs made before balance)
        probs = draw_weights(np.array(labels), cfg.balance) if cfg.balance > 0 and crops else None
        return cls(crops, probs)


def _read_rgb(path: str) -> np.ndarray:
    rgb = read_image_rgb(path)  # None for a truncated JPEG too (OpenCV would half-grey it)
    if rgb is None:
        raise FileNotFoundError(
            f"{path}: cannot read the image for copy-paste crops (missing, corrupt or truncated)"
        )
    return rgb


def make_crop(
    image: np.ndarray, record: ImageRecord, index: int, spec: GridSpec, margin: float
) -> Crop | None:
    """The window around landmark ``index`` of ``record`` (``image``: its RGB pixels), resized by the record's
    letterbox scale at ``spec``; None when the window cuts another labelled landmark or an ignore region."""
    height, width = image.shape[:2]
    win = crop_window(record.boxes[index], margin, width, height)
    boxes = np.concatenate([record.boxes, record.ignore_boxes]).astype(np.float64)
    inside = (
        (boxes[:, 0] >= win[0]) & (boxes[:, 1] >= win[1]) & (boxes[:, 2] <= win[2]) & (boxes[:, 3] <= win[3])
    )
    overlaps = overlapping(boxes, win)
    n = len(record.boxes)
    if np.any(overlaps & ~inside) or np.any(overlaps[n:]):
        return None
    keep = inside[:n]
    scale = min(spec.input_width / width, spec.input_height / height)
    out_w = max(1, round((win[2] - win[0]) * scale))
    out_h = max(1, round((win[3] - win[1]) * scale))
    pixels = image[win[1] : win[3], win[0] : win[2]]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(pixels), (out_w, out_h), interpolation=interp)
    sx, sy = out_w / (win[2] - win[0]), out_h / (win[3] - win[1])
    factor = np.array([sx, sy, sx, sy])
    return Crop(
        image=resized,
        boxes=((record.boxes[keep] - np.tile(win[:2], 2)) * factor).astype(np.float32),
        points=((record.points[keep] - win[:2]) * factor[:2]).astype(np.float32),
        classes=record.classes[keep].astype(np.int32),
    )


def feather(h: int, w: int, ramp_x: float, ramp_y: float) -> np.ndarray:
    """float32 [h, w] blend weight: 1 inside, falling linearly to 0 over ``ramp`` px towards each edge."""

    def axis(n, ramp):
        # distance of each pixel centre to the nearer edge
        d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
        return np.clip(d / ramp, 0.0, 1.0) if ramp > 0 else np.ones(n)

    return np.outer(axis(h, ramp_y), axis(w, ramp_x)).astype(np.float32)


def paste(example: dict, bank: CropBank, cfg: CopyPasteConfig, rng: np.random.Generator) -> dict:
    """Paste crops from ``bank`` into ``example`` (numpy: ``image`` uint8 [H, W, 3], ``boxes``, ``points``,
    ``classes``, ``landmark_ids``, ``distances``); returns a new dict, the input untouched."""
    out = dict(example)
    if not len(bank) or rng.random() >= cfg.prob:
        return out
    image = example["image"].copy()
    height, width = image.shape[:2]
    taken = [np.asarray(example["boxes"], np.float64).reshape(-1, 4)]
    added = {"boxes": [], "points": [], "classes": []}
    for _ in range(rng.integers(1, cfg.per_image + 1)):
        crop = bank.draw(rng)
        s = math.exp(rng.uniform(math.log(cfg.scale_min), math.log(cfg.scale_max)))
        h, w = max(1, round(crop.image.shape[0] * s)), max(1, round(crop.image.shape[1] * s))
        if h > height or w > width:
            continue
        occupied = np.concatenate(taken)
        for _ in range(TRIES):
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if not overlapping(occupied, (x0, y0, x0 + w, y0 + h)).any():
                break
        else:
            continue
        pixels = cv2.resize(crop.image, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        fx, fy = w / crop.image.shape[1], h / crop.image.shape[0]
        boxes = crop.boxes * np.array([fx, fy, fx, fy], np.float32) + np.array([x0, y0, x0, y0], np.float32)
        points = crop.points * np.array([fx, fy], np.float32) + np.array([x0, y0], np.float32)
        # blend the outer half of the margin: between the window edge and the landmarks' union box
        inner = np.concatenate([boxes[:, :2].min(0) - [x0, y0], [x0 + w, y0 + h] - boxes[:, 2:].max(0)])
        alpha = feather(h, w, max(0.0, min(inner[0], inner[2])) / 2, max(0.0, min(inner[1], inner[3])) / 2)
        region = image[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        blended = alpha[..., None] * pixels.astype(np.float32) + (1 - alpha[..., None]) * region
        image[y0 : y0 + h, x0 : x0 + w] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        taken.append(np.array([[x0, y0, x0 + w, y0 + h]], np.float64))
        added["boxes"].append(boxes)
        added["points"].append(points)
        added["classes"].append(crop.classes)
    if not added["classes"]:
        return out
    k = sum(len(c) for c in added["classes"])
    out["image"] = image
    out["boxes"] = np.concatenate([np.asarray(example["boxes"], np.float32).reshape(-1, 4), *added["boxes"]])
    out["points"] = np.concatenate(
        [np.asarray(example["points"], np.float32).reshape(-1, 2), *added["points"]]
    )
    out["classes"] = np.concatenate([np.asarray(example["classes"], np.int32), *added["classes"]])
    out["landmark_ids"] = np.concatenate(
        [np.asarray(example["landmark_ids"], np.int64), np.full(k, -1, np.int64)]
    )
    out["distances"] = np.concatenate(
        [np.asarray(example["distances"], np.float32), np.full(k, np.nan, np.float32)]
    )
    return out


def tf_paste(bank: CropBank, cfg: CopyPasteConfig):
    """``paste(example, seed) -> example`` for the tf.data pipeline: :func:`paste` through
    ``tf.numpy_function``, its randomness a function of the int64 [2] ``seed``."""
    import tensorflow as tf

    keys = ("boxes", "points", "classes", "landmark_ids", "distances")

    def run(image, boxes, points, classes, ids, distances, seed):
        rng = np.random.default_rng(np.asarray(seed).view(np.uint64))
        ex = dict(zip(("image", *keys), (image, boxes, points, classes, ids, distances), strict=True))
        out = paste(ex, bank, cfg, rng)
        return (
            out["image"],
            np.asarray(out["boxes"], np.float32).reshape(-1, 4),
            np.asarray(out["points"], np.float32).reshape(-1, 2),
            np.asarray(out["classes"], np.int32),
            np.asarray(out["landmark_ids"], np.int64),
            np.asarray(out["distances"], np.float32),
        )

    def fn(example: dict, seed) -> dict:
        values = tf.numpy_function(
            run,
            [example["image"], *(example[k] for k in keys), seed],
            [tf.uint8, tf.float32, tf.float32, tf.int32, tf.int64, tf.float32],
            stateful=False,
        )
        out = dict(example)
        out["image"] = tf.ensure_shape(values[0], example["image"].shape)
        for k, v, shape in zip(keys, values[1:], ([None, 4], [None, 2], [None], [None], [None]), strict=True):
            out[k] = tf.ensure_shape(v, shape)
        return out

    return fn
