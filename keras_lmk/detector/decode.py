"""Numpy decoder: raw head outputs -> one detection (class, reference point, score) per landmark.

No TensorFlow here (the TFLite runtime and the evaluation import this on devices without TF).

Inputs per frame (batch dimension removed): ``class_logits`` float [S, A, M] and ``points`` float [S, A, 2]
in cell units (see :mod:`keras_lmk.detector.grid`). Steps, all vectorised:

1. softmax over M; confidence = 1 - P(background); class = argmax over the landmark classes 1..M-1.
2. keep the ``top_k_per_cell`` most confident anchors of each cell, then drop those under their class's
   threshold: ``class_score_thresholds[class]`` where the card gives one (calibrated per class on the
   validation split), else ``score_threshold``. With a ``vote_threshold`` the votes are gated at it instead
   and the class thresholds cut the merged detections after step 4: the clusters, and so every point, no
   longer depend on the display threshold, and a threshold calibrated on a decode with the same vote
   threshold reproduces exactly (the gate is the lower of the vote threshold and the lowest class
   threshold, one for every class).
3. cell units -> model-input pixels (``cell_origin + point * stride``).
4. merge votes: several cells/anchors regress the same landmark. Greedy by confidence: the most confident
   remaining vote seeds a cluster of all remaining votes of the same class (of any class with
   ``merge_across_classes``: the cluster takes the seed's class) within ``merge_radius_px``
   (model-input pixels) of it; the cluster's point is the confidence-weighted mean of its members' points and
   its score is the seed's (= the cluster's maximum) confidence, so a score stays a probability and does not
   grow with the size of the landmark. For the classes in ``side_balanced_classes`` (points at an end of the
   object, such as a road marking's lower-right end) each axis is instead the mean of two confidence-weighted
   means, one over the votes whose anchor lies before the seed's point on that axis and one over those at or
   after it: a vote falls short toward its own anchor, and such a point has most of its anchors (the paint)
   on one side, so a plain mean is pulled into the object.
5. model-input pixels -> original pixels (undo the letterbox), clip to the image, drop non-finite values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox


@dataclass(frozen=True)
class DecoderConfig:
    score_threshold: float = 0.3  # on confidence = 1 - P(background)
    top_k_per_cell: int = 2  # anchors kept per cell before thresholding
    merge_radius_px: float = 8.0  # model-input pixels; votes of one class closer than this merge
    max_detections: int = 100
    max_candidates: int = 2000  # votes entering the merge (most confident first); bounds the worst case
    # per class id (index 0 = background, unused: None): a class's own threshold, None = score_threshold;
    # empty = score_threshold for every class
    class_score_thresholds: tuple[float | None, ...] = ()
    # votes >= vote_threshold merge, then the merged detections are cut at their class's threshold (the
    # clusters are the same at every display threshold); None (cards written before it existed): votes are
    # gated at their class's threshold, so the clusters change with the threshold
    vote_threshold: float | None = 0.3
    # class ids whose merged point averages the two sides of the seed per axis (step 4); () = none
    side_balanced_classes: tuple[int, ...] = ()
    # votes of any class within merge_radius_px merge into the seed's class (step 4): one landmark whose
    # anchors disagree on its class is one detection, not one per class
    merge_across_classes: bool = False
    # model-input px: after the merge, a detection this close to a stronger one of its class is dropped (a
    # second cluster of one landmark, e.g. a light head's neighbouring lamp); 0 = off
    suppress_radius_px: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        object.__setattr__(
            self,
            "class_score_thresholds",
            tuple(None if t is None else float(t) for t in self.class_score_thresholds),
        )
        for t in self.class_score_thresholds[1:]:
            if t is not None and not 0.0 <= t < 1.0:
                raise ValueError(f"class_score_thresholds must be in [0, 1) or null, got {t}")
        if self.vote_threshold is not None:
            object.__setattr__(self, "vote_threshold", float(self.vote_threshold))
            if not 0.0 <= self.vote_threshold < 1.0:
                raise ValueError(f"vote_threshold must be in [0, 1) or null, got {self.vote_threshold}")
        object.__setattr__(self, "side_balanced_classes", tuple(int(c) for c in self.side_balanced_classes))
        if any(c < 1 for c in self.side_balanced_classes):
            raise ValueError(
                f"side_balanced_classes are landmark class ids >= 1, got {self.side_balanced_classes}"
            )
        if self.top_k_per_cell < 1 or self.max_detections < 1 or self.max_candidates < 1:
            raise ValueError("top_k_per_cell, max_detections and max_candidates must be >= 1")
        if self.merge_radius_px < 0:
            raise ValueError(f"merge_radius_px must be >= 0, got {self.merge_radius_px}")
        if self.suppress_radius_px < 0:
            raise ValueError(f"suppress_radius_px must be >= 0, got {self.suppress_radius_px}")

    def class_thresholds(self, num_classes: int) -> np.ndarray:
        """float64 [M]: the threshold each class's detections must reach (index 0, background: unused)."""
        own = self.class_score_thresholds
        if own and len(own) != num_classes:
            raise ValueError(
                f"class_score_thresholds has {len(own)} entries, the model has {num_classes} classes "
                "(one per class id, background first)"
            )
        out = np.full(num_classes, self.score_threshold, np.float64)
        for c, t in enumerate(own):
            if c > 0 and t is not None:
                out[c] = t
        return out

    def vote_gates(self, num_classes: int) -> np.ndarray:
        """float64 [M]: the confidence a class's votes need to enter the merge: the class threshold, or with
        a ``vote_threshold`` the lower of it and the lowest class threshold (no threshold is out of reach)."""
        per_class = self.class_thresholds(num_classes)
        if self.vote_threshold is not None:  # one gate for every class
            per_class[1:] = min(self.vote_threshold, per_class[1:].min())
        return per_class

    def to_json(self) -> dict:
        out = {
            "score_threshold": self.score_threshold,
            "top_k_per_cell": self.top_k_per_cell,
            "merge_radius_px": self.merge_radius_px,
            "max_detections": self.max_detections,
            "max_candidates": self.max_candidates,
        }
        if self.class_score_thresholds:
            out["class_score_thresholds"] = [None, *self.class_score_thresholds[1:]]
        out["vote_threshold"] = self.vote_threshold
        if self.side_balanced_classes:
            out["side_balanced_classes"] = list(self.side_balanced_classes)
        if self.merge_across_classes:
            out["merge_across_classes"] = True
        if self.suppress_radius_px:
            out["suppress_radius_px"] = self.suppress_radius_px
        return out

    @classmethod
    def from_json(cls, d: Mapping | None) -> DecoderConfig:
        d = dict(d or {})
        known = {
            *cls().to_json(),
            "class_score_thresholds",
            "side_balanced_classes",
            "merge_across_classes",
            "suppress_radius_px",
        }
        d.setdefault("vote_threshold", None)  # a card without it was calibrated with votes gated per class
        if "class_score_thresholds" in d:
            d["class_score_thresholds"] = tuple(d["class_score_thresholds"] or ())
        d["side_balanced_classes"] = tuple(d.get("side_balanced_classes") or ())
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown decoder settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


@dataclass(frozen=True)
class Detections:
    """classes int32 [K] (>= 1); points float32 [K, 2] original-image pixels (x right, y down);
    scores float32 [K] confidences, sorted descending."""

    classes: np.ndarray
    points: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.classes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0,), np.int32), np.zeros((0, 2), np.float32), np.zeros((0,), np.float32))


def _candidates(class_logits: np.ndarray, cfg: DecoderConfig):
    """-> (flat anchor index [N], class [N], confidence [N]) of the votes that survive steps 1-2."""
    s, a, m = class_logits.shape
    logits = class_logits.reshape(s * a, m).astype(np.float32, copy=False)
    # max over the landmark classes column by column: much faster than .max(axis=1) over a short axis
    fg_max = logits[:, 1].copy()
    for j in range(2, m):
        np.maximum(fg_max, logits[:, j], out=fg_max)
    # Cheap exact pre-filter without exponentials: conf = 1 - 1/(1 + sum_j exp(l_j - l_0)) >= t needs
    # sum_j exp(l_j - l_0) >= t/(1-t), and the sum is at most (M-1) * exp(max_j l_j - l_0).
    per_class = cfg.vote_gates(m)
    t = float(per_class[1:].min())
    if t > 0:
        bound = np.log(t / (1.0 - t)) - np.log(m - 1)
        margin = fg_max - logits[:, 0]
        idx = np.flatnonzero(margin >= bound - 1e-6)
    else:
        idx = np.arange(s * a)
    if idx.size == 0:
        return idx, idx.astype(np.int32), np.zeros((0,), np.float32)
    lg = logits[idx]
    z = lg - np.maximum(lg[:, 0], fg_max[idx])[:, None]
    e = np.exp(z)
    conf = 1.0 - e[:, 0] / e.sum(axis=1)
    cls = (lg[:, 1:].argmax(axis=1) + 1).astype(np.int32)
    ok = np.isfinite(conf) & (conf >= per_class[cls])
    idx, cls, conf = idx[ok], cls[ok], conf[ok].astype(np.float32)
    if cfg.top_k_per_cell < a and idx.size:
        # rank of each surviving vote inside its cell (votes under the threshold rank below it anyway): idx
        # is ascending, so the cells come in runs; one row of A confidences per touched cell, ranked in a row
        cell, anchor = idx // a, idx % a
        row = np.cumsum(np.r_[True, cell[1:] != cell[:-1]]) - 1
        dense = np.full((row[-1] + 1, a), -np.inf, np.float32)
        dense[row, anchor] = conf
        order = np.argsort(-dense, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(a)[None, :], axis=1)
        keep = np.flatnonzero(rank[row, anchor] < cfg.top_k_per_cell)
        idx, cls, conf = idx[keep], cls[keep], conf[keep]
    return idx, cls, conf


def merge_votes(
    points: np.ndarray,
    classes: np.ndarray,
    scores: np.ndarray,
    radius: float,
    max_out: int,
    min_seed: float = 0.0,
    anchors: np.ndarray | None = None,
    side_balanced: tuple[int, ...] = (),
    across_classes: bool = False,
):
    """Greedy confidence-weighted merge (step 4). points [N, 2], classes [N], scores [N] (any order).

    min_seed: votes under it join clusters but seed none (a cluster's score is its seed's, so such clusters
    could not pass the threshold anyway; skipping them keeps a low vote floor cheap).
    anchors [N, 2]: each vote's anchor position (same units as points), needed for ``side_balanced``: the
    classes whose cluster point averages, per axis, the weighted means of the votes with their anchor before
    and at-or-after the seed's point (one side present: its mean).
    across_classes: votes of every class join a seed's cluster; the cluster has the seed's class.
    Returns (points [K, 2], classes [K], scores [K]) sorted by score descending.
    """
    n = len(scores)
    if n == 0:
        return np.zeros((0, 2), np.float32), np.zeros((0,), np.int32), np.zeros((0,), np.float32)
    order = np.argsort(-scores, kind="stable")
    p, c, w = points[order].astype(np.float64), classes[order], scores[order].astype(np.float64)
    # One complex number per vote; classes are shifted far apart so "same class and within the radius" is a
    # single distance test. Claimed votes become inf; the first finite vote (highest score) seeds the next
    # cluster. Per seed that is a handful of numpy calls on N values (no N x N matrix).
    span = np.abs(p).max() * 4 + 4 * radius + 1
    z = p[:, 0] + (0 if across_classes else c * span) + 1j * p[:, 1]
    label = np.full(n, -1, np.int64)
    seeds = []
    i = 0
    while i < n and len(seeds) < max_out and w[i] >= min_seed:
        members = np.abs(z - z[i]) <= radius
        label[members] = len(seeds)
        z[members] = np.inf
        seeds.append(i)
        while i < n and label[i] >= 0:
            i += 1
    k = len(seeds)
    sel = label >= 0
    lab, ws = label[sel], w[sel]
    wsum = np.bincount(lab, ws, minlength=k)
    seeds = np.asarray(seeds, np.int64)
    # a cluster of zero-confidence votes (possible with score_threshold 0) has no weighted mean: use its seed
    safe = np.where(wsum > 0, wsum, 1.0)
    mx = np.where(wsum > 0, np.bincount(lab, ws * p[sel, 0], minlength=k) / safe, p[seeds, 0])
    my = np.where(wsum > 0, np.bincount(lab, ws * p[sel, 1], minlength=k) / safe, p[seeds, 1])
    merged = np.stack([mx, my], axis=-1)
    if side_balanced and k:
        if anchors is None:
            raise ValueError("side_balanced merging needs each vote's anchor")
        balanced = np.isin(c[seeds], side_balanced)
        an = np.asarray(anchors, np.float64)[order][sel]
        for axis in (0, 1):
            side = (an[:, axis] >= p[seeds, axis][lab]).astype(np.int64)
            w2 = np.bincount(2 * lab + side, ws, minlength=2 * k).reshape(k, 2)
            s2 = np.bincount(2 * lab + side, ws * p[sel, axis], minlength=2 * k).reshape(k, 2)
            present = w2 > 0
            means = np.where(present, s2 / np.where(present, w2, 1.0), 0.0)
            count = present.sum(axis=1)
            side_mean = means.sum(axis=1) / np.maximum(count, 1)
            merged[:, axis] = np.where(balanced & (count > 0), side_mean, merged[:, axis])
    return (
        merged.astype(np.float32),
        c[seeds].astype(np.int32),
        w[seeds].astype(np.float32),
    )


def suppress_near(points: np.ndarray, classes: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """int64 [K']: indices of the detections kept (step 5), in order. ``points`` [K, 2], ``classes`` [K],
    ``scores`` [K] sorted descending: a detection closer than ``radius`` to a *kept* stronger one of its class
    is dropped (greedy point NMS); radius 0 keeps all."""
    n = len(scores)
    if radius <= 0 or n < 2:
        return np.arange(n, dtype=np.int64)
    p = np.asarray(points, np.float64)
    kept: list[int] = []
    for i in range(n):
        same = [j for j in kept if classes[j] == classes[i]]
        if not same or np.hypot(*(p[same] - p[i]).T).min() >= radius:
            kept.append(i)
    return np.asarray(kept, np.int64)


def decode(
    class_logits: np.ndarray,
    points: np.ndarray,
    spec: GridSpec,
    letterbox: Letterbox,
    cfg: DecoderConfig = DecoderConfig(),
    *,
    image_size: tuple[int, int] | None = None,
) -> Detections:
    """Decode one frame.

    class_logits: float [S, A, M] (or [1, S, A, M]); points: float [S, A, 2] cell units.
    image_size: (width, height) of the original image for clipping; derived from the letterbox when None.
    """
    s, a, m = spec.num_cells, spec.num_anchors, spec.num_classes
    class_logits = np.asarray(class_logits).reshape(s, a, m)
    points = np.asarray(points, np.float32).reshape(s * a, 2)
    idx, cls, conf = _candidates(class_logits, cfg)
    if idx.size == 0:
        return Detections.empty()
    pts_cell = points[idx]
    finite = np.isfinite(pts_cell).all(axis=1)
    idx, cls, conf, pts_cell = idx[finite], cls[finite], conf[finite], pts_cell[finite]
    if idx.size > cfg.max_candidates:
        top = np.argpartition(-conf, cfg.max_candidates - 1)[: cfg.max_candidates]
        idx, cls, conf, pts_cell = idx[top], cls[top], conf[top], pts_cell[top]
    origins = spec.cell_origins()[idx // a]
    # far-off regressions are clipped later anyway; bounding them keeps the merge arithmetic finite
    pts_in = np.clip(origins + pts_cell * spec.stride, -1e6, 1e6)
    sides = {"across_classes": cfg.merge_across_classes}
    if cfg.side_balanced_classes:  # on top of the merge across classes, not instead of it
        sides["anchors"] = origins + spec.anchor_array()[idx % a] * spec.stride
        sides["side_balanced"] = cfg.side_balanced_classes
    if cfg.vote_threshold is None:
        most = cfg.max_detections if not cfg.suppress_radius_px else len(conf)
        merged, mcls, mscore = merge_votes(pts_in, cls, conf, cfg.merge_radius_px, most, **sides)
    else:  # merge every vote above the floor, then cut the detections at their class's threshold
        per_class = cfg.class_thresholds(m)
        lowest = float(per_class[1:].min())
        merged, mcls, mscore = merge_votes(pts_in, cls, conf, cfg.merge_radius_px, len(conf), lowest, **sides)
        keep = np.flatnonzero(mscore >= per_class[mcls])
        merged, mcls, mscore = merged[keep], mcls[keep], mscore[keep]
    keep = suppress_near(merged, mcls, mscore, cfg.suppress_radius_px)[: cfg.max_detections]
    merged, mcls, mscore = merged[keep], mcls[keep], mscore[keep]
    out = letterbox.to_original(merged).reshape(-1, 2)
    if image_size is None:
        image_size = (
            (spec.input_width - 2 * letterbox.pad_x) / letterbox.scale,
            (spec.input_height - 2 * letterbox.pad_y) / letterbox.scale,
        )
    out[:, 0] = np.clip(out[:, 0], 0, image_size[0])
    out[:, 1] = np.clip(out[:, 1], 0, image_size[1])
    return Detections(mcls, out.astype(np.float32), mscore)


# ---------------------------------------------------------------------------------------------- quantisation


def dequantize(raw: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """Integer tensor -> float32: ``(raw - zero_point) * scale``. Per-channel when scale has several values
    (``axis`` = the quantized dimension)."""
    scale = np.asarray(scale, np.float32)
    zp = np.asarray(zero_point, np.float32)
    x = np.asarray(raw).astype(np.float32)
    if scale.size > 1:
        shape = [1] * x.ndim
        shape[axis if axis is not None else -1] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def quantization_of(detail: Mapping) -> tuple[np.ndarray, np.ndarray, int]:
    """(scales, zero_points, quantized_dimension) from an interpreter tensor detail; scales empty if float."""
    qp = detail.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []), np.float32)
    zps = np.asarray(qp.get("zero_points", []), np.float32)
    if scales.size == 0:
        scale, zp = detail.get("quantization", (0.0, 0))
        if scale:
            scales, zps = np.asarray([scale], np.float32), np.asarray([zp], np.float32)
    return scales, zps, int(qp.get("quantized_dimension", 0))


def dequantize_output(raw: np.ndarray, detail: Mapping) -> np.ndarray:
    """Dequantise one raw interpreter output with the scale/zero point of its tensor detail."""
    raw = np.asarray(raw)
    if np.issubdtype(raw.dtype, np.floating):
        return raw.astype(np.float32, copy=False)
    scales, zps, axis = quantization_of(detail)
    if scales.size == 0:
        raise ValueError(
            f"output {detail.get('name')!r} is {raw.dtype} but carries no quantization parameters"
        )
    return dequantize(raw, scales, zps, axis if scales.size > 1 else None)
