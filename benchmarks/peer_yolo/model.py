"""The peer network (KerasCV YOLOV8Detector at YOLOv8n size, random init) and its numpy decoder.

    net = build_peer(num_classes=6)                          # any input size (fully convolutional)
    fixed = fixed_size_copy(net, 992, 1664)                  # the same weights at a fixed input, for export
    boxes, scores, classes = decode(net_out["boxes"][0], net_out["classes"][0], (992, 1664), 0.05)

Input: float32 [B, H, W, 3] RGB 0..255 (the backbone rescales by 1/255), H and W multiples of 32.
Outputs (named, they become the TFLite signature's outputs): ``boxes`` float32 [B, N, 64], per anchor point
4 sides (left, top, right, bottom) x 16 distance bins (distribution focal-loss logits, in strides);
``classes`` float32 [B, N, C] sigmoid scores. N = H W (1/64 + 1/256 + 1/1024): anchor points at strides 8,
16, 32 (KerasCV's ``get_anchors`` order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import keras
import numpy as np

REG_BINS = 16  # KerasCV's BOX_REGRESSION_CHANNELS // 4
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class PeerConfig:
    """YOLOv8n (Ultralytics' n scale: width 0.25, depth 0.33): KerasCV's ``yolo_v8_xs_backbone`` layout."""

    stackwise_channels: tuple[int, ...] = (32, 64, 128, 256)
    stackwise_depth: tuple[int, ...] = (1, 2, 2, 1)
    fpn_depth: int = 1  # the n scale's C2f depth in the neck
    # a road marking's training box: "bbox", its quad's bounding box (the lower-right corner then misses
    # the quad's lower-right end, docs/peer.md); "corner", the box from the quad's top-left bound to its
    # labelled point, whose lower-right corner is that point
    marking_box: str = "bbox"
    # decoding, Ultralytics' defaults: class-aware NMS at IoU 0.7, up to 300 detections per image
    nms_iou: float = 0.7
    max_detections: int = 300
    max_candidates: int = 3000  # highest-scoring anchors kept for NMS

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


YOLOV8N = PeerConfig()


def build_peer(num_classes: int, cfg: PeerConfig = YOLOV8N, input_shape=(None, None, 3)):
    """A randomly initialised YOLOV8Detector (KerasCV), xyxy boxes in input pixels."""
    from keras_cv.models import YOLOV8Backbone, YOLOV8Detector

    backbone = YOLOV8Backbone(
        stackwise_channels=list(cfg.stackwise_channels),
        stackwise_depth=list(cfg.stackwise_depth),
        include_rescaling=True,
        activation="swish",
        input_shape=tuple(input_shape),
    )
    return YOLOV8Detector(
        num_classes=num_classes, bounding_box_format="xyxy", backbone=backbone, fpn_depth=cfg.fpn_depth
    )


def fixed_size_copy(net, height: int, width: int, cfg: PeerConfig = YOLOV8N) -> keras.Model:
    """``net``'s weights in a network built for a fixed [1, height, width, 3] input, outputs named
    ``boxes`` and ``classes`` (static shapes: MAC counting and TFLite export need them)."""
    fixed = build_peer(net.num_classes, cfg, (height, width, 3))
    fixed.set_weights(net.get_weights())
    inp = keras.Input((height, width, 3), batch_size=1, name="image")
    out = fixed(inp)
    return keras.Model(inp, {"boxes": out["boxes"], "classes": out["classes"]}, name="peer_yolov8n")


def anchor_points(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres float32 [N, 2] x, y in input pixels, strides float32 [N]) in the network's output order:
    per stride 8, 16, 32, row-major cells, each at its cell's centre (KerasCV's ``get_anchors``)."""
    centres, strides = [], []
    for s in STRIDES:
        ys, xs = np.meshgrid(np.arange(0, height, s), np.arange(0, width, s), indexing="ij")
        centres.append(np.stack([xs.ravel(), ys.ravel()], axis=-1) + s / 2)
        strides.append(np.full(xs.size, s))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides).astype(np.float32)


def distances(box_logits: np.ndarray) -> np.ndarray:
    """[N, 64] distribution logits -> [N, 4] expected left, top, right, bottom distances (in strides)."""
    z = box_logits.reshape(-1, 4, REG_BINS).astype(np.float64)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ np.arange(REG_BINS, dtype=np.float64)


def decode(
    box_logits: np.ndarray,
    scores: np.ndarray,
    input_hw: tuple[int, int],
    score_threshold: float,
    cfg: PeerConfig = YOLOV8N,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw outputs -> (boxes float32 [K, 4] xyxy input pixels, scores [K], class index [K],
    0-based over the landmark classes), after class-aware NMS, by descending score.

    Each anchor keeps its best class (one label per box, as Ultralytics' predict). Greedy NMS only ever
    suppresses a box by a higher-scoring one, so the detections at a higher threshold are exactly those of
    this result with a score at or above it (the evaluation reads its operating point that way).
    """
    anchors, strides = anchor_points(*input_hw)
    if len(anchors) != len(scores):
        raise ValueError(f"{len(scores)} anchor outputs, expected {len(anchors)} for input {input_hw}")
    cls = scores.argmax(axis=-1)
    conf = scores[np.arange(len(cls)), cls].astype(np.float64)
    keep = np.flatnonzero(conf >= score_threshold)
    keep = keep[np.argsort(-conf[keep], kind="stable")][: cfg.max_candidates]
    d = distances(box_logits[keep]) * strides[keep, None]
    xy = anchors[keep].astype(np.float64)
    boxes = np.concatenate([xy - d[:, :2], xy + d[:, 2:]], axis=-1)
    if not len(keep):
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=-1)
    picked = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), conf[keep].tolist(), cls[keep].tolist(), 0.0, cfg.nms_iou, top_k=cfg.max_detections
    )
    picked = np.asarray(picked, np.int64).reshape(-1)
    picked = picked[np.argsort(-conf[keep][picked], kind="stable")][: cfg.max_detections]
    return boxes[picked].astype(np.float32), conf[keep][picked].astype(np.float32), cls[keep][picked]


def reference_points(boxes_xyxy: np.ndarray, class_index: np.ndarray, taxonomy) -> np.ndarray:
    """The peer's point of each box by its class's rule in our taxonomy: float32 [K, 2] (box centre for
    signs and lights; the box's lower-right corner for road markings, ``bbox_bottom_right``)."""
    if not len(boxes_xyxy):
        return np.zeros((0, 2), np.float32)
    return taxonomy.reference_points(boxes_xyxy, np.asarray(class_index) + 1)
