"""Point matching and average precision: match radii (tolerances), greedy one-to-one matching of
predicted to ground-truth reference points, precision-recall curves and AP (numpy only; the definitions
are in keras_lmk/evaluation/metrics.py's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    name: str
    fixed_px: float | None = None  # a fixed radius; else max(min_px, area_factor * sqrt(bbox area))
    min_px: float = 4.0
    area_factor: float = 0.5

    def radii(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """float64 [G] match radius of each ground truth (original pixels)."""
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        if self.fixed_px is not None:
            return np.full(len(b), float(self.fixed_px))
        area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
        return np.maximum(self.min_px, self.area_factor * np.sqrt(area))


DEFAULT_TOLERANCES = (
    Tolerance("adaptive"),
    Tolerance("2px", 2.0),  # tight radii: only these separate a real point regressor from anchor positions
    Tolerance("4px", 4.0),
    Tolerance("8px", 8.0),
    Tolerance("10px", 10.0),  # the road-marking bar: found within 10 px
    Tolerance("16px", 16.0),
)


def tolerance_by_name(name: str) -> Tolerance:
    """One of DEFAULT_TOLERANCES, or ``"<N>px"`` for any fixed radius."""
    for t in DEFAULT_TOLERANCES:
        if t.name == name:
            return t
    if name.endswith("px"):
        try:
            return Tolerance(name, float(name[:-2]))
        except ValueError:
            pass
    raise ValueError(f"unknown tolerance {name!r}: 'adaptive' or '<N>px'")


def tolerances_with_primary(name: str) -> tuple[Tolerance, ...]:
    """``name``'s tolerance first (the primary one: point errors, confusion, best F1), then the other
    DEFAULT_TOLERANCES in their order."""
    primary = tolerance_by_name(name)
    return (primary, *[t for t in DEFAULT_TOLERANCES if t.name != primary.name])


def oks_sigma_for(area_factor: float = 0.5, oks_threshold: float = 0.5) -> float:
    """The COCO keypoint sigma whose OKS >= oks_threshold means d <= area_factor * sqrt(area)."""
    return area_factor / (2.0 * np.sqrt(2.0 * np.log(1.0 / oks_threshold)))


def match_greedy(
    pred_points, pred_scores, pred_classes, gt_points, gt_classes, radii, *, same_class=True, gt_taken=None
):
    """One-to-one greedy matching. Returns (gt index per prediction or -1 [N], distance per prediction [N]).

    Predictions are visited in descending score; each takes the nearest free ground truth (of the same class
    when ``same_class``, of another class otherwise) within that ground truth's radius.
    """
    pp = np.asarray(pred_points, np.float64).reshape(-1, 2)
    gp = np.asarray(gt_points, np.float64).reshape(-1, 2)
    n = len(pp)
    match = np.full(n, -1, np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or len(gp) == 0:
        return match, dist
    pc, gc = np.asarray(pred_classes), np.asarray(gt_classes)
    d = np.sqrt(((pp[:, None, :] - gp[None, :, :]) ** 2).sum(-1))  # [N, G]
    ok = d <= np.asarray(radii, np.float64)[None, :]
    ok &= (pc[:, None] == gc[None, :]) if same_class else (pc[:, None] != gc[None, :])
    taken = np.zeros(len(gp), bool) if gt_taken is None else np.asarray(gt_taken, bool).copy()
    for i in np.argsort(-np.asarray(pred_scores), kind="stable"):
        cand = ok[i] & ~taken
        if cand.any():
            j = int(np.argmin(np.where(cand, d[i], np.inf)))
            match[i], dist[i] = j, d[i, j]
            taken[j] = True
    return match, dist


def pr_curve(scores, is_tp, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """(recall [N], precision [N]) over the predictions sorted by descending score."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(is_tp, bool)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    recall = ctp / max(num_gt, 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    return recall, precision


def ap_from_curve(recall, precision, method: str = "all_point") -> float:
    """AP from a (recall, precision) curve in descending-score order: ``all_point`` (area under the
    interpolated curve) or ``coco101``."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if len(recall) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if method == "all_point":
        steps = np.diff(np.concatenate([[0.0], recall]))
        return float((steps * envelope).sum())
    if method == "coco101":
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        vals = np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)
        return float(vals.mean())
    raise ValueError(f"unknown AP method {method!r}")


def average_precision(scores, is_tp, num_gt: int, method: str = "all_point") -> float:
    """AP of one class from every prediction's score and hit: ``all_point`` or ``coco101``; NaN if no GT."""
    if num_gt == 0:
        return float("nan")
    return ap_from_curve(*pr_curve(scores, is_tp, num_gt), method)


SCORE_BINS = 10_000
"""Score resolution of the streaming PR curves: scores closer than 1 / SCORE_BINS count as tied."""


def score_bins(scores) -> np.ndarray:
    """int64 [N] histogram bin of each score in [0, 1] (bin k holds [k, k + 1) / SCORE_BINS; 1.0 -> last)."""
    b = np.floor(np.asarray(scores, np.float64) * SCORE_BINS).astype(np.int64)
    return np.clip(b, 0, SCORE_BINS - 1)


def binned_pr_curve(num_pred, num_tp, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at each non-empty score bin, highest scores first, from per-bin counts [BINS]."""
    nz = np.flatnonzero(np.asarray(num_pred))[::-1]
    ctp = np.cumsum(np.asarray(num_tp)[nz])
    return ctp / max(num_gt, 1), ctp / np.cumsum(np.asarray(num_pred)[nz])
