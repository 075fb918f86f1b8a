"""Point-based detection metrics: a landmark is found when a prediction of its class lands close to its
reference point (numpy only, streaming: frames are added one at a time into fixed-size state).

Matching (per frame, per tolerance): predictions in descending score order each take the nearest still-
unmatched ground truth of the same class whose distance is within that ground truth's radius; one-to-one.
Radii (:class:`Tolerance`): ``adaptive`` = max(4 px, 0.5 * sqrt(bbox area)) in original pixels, and fixed
2 / 4 / 8 / 10 / 16 px.

AP per class is the area under the interpolated precision-recall curve over all scores ("all-point",
VOC2010+): precision is replaced by its running maximum from the right and summed over each recall step.
``AP_coco101`` averages the same interpolated precision at recall 0, 0.01, ..., 1 (COCO's 101 points). With
``oks_sigma_for``, pycocotools' keypoint rule at one OKS threshold accepts the same pairs as the ``adaptive``
radius, because for one keypoint ``OKS = exp(-d^2 / (2 * area * (2 sigma)^2))`` so ``OKS >= t`` <=> ``d <= 2
sigma sqrt(2 ln(1/t)) sqrt(area)``. The AP is not pycocotools' in general, only when both match alike (tests
check such a case): pycocotools gives each detection the free ground truth of highest OKS, i.e. the smallest
``d / sqrt(area)``, where we take the nearest in pixels, so two same-class ground truths of different size
within one prediction's reach can go different ways (tests show one); pycocotools also has no 4 px radius
floor (boxes under 8 x 8 px), keeps at most ``maxDets`` detections per image (20 by default for keypoints),
and ranks exact scores where :class:`PointEvaluator` ties scores within 1e-4. mAP is the mean AP over
classes that have ground truth in the dataset.

Streaming: :class:`PointEvaluator` keeps the all-threshold predictions as per-class score histograms
(``SCORE_BINS`` = 10,000 bins over [0, 1]) of prediction and hit counts, and computes the curves per non-empty
bin, so its memory does not grow with the number of frames. This equals the per-prediction AP
(:func:`average_precision`) except that scores within 1e-4 of each other count as tied. The matched point
errors at the operating threshold are kept exactly (6 bytes per matched landmark).

Classes without any ground truth in the dataset are "unlabelled" (e.g. GTSDB labels no signals or markings):
they get no AP, and their predictions are not false positives; they are only counted.

At the operating threshold: precision, recall, F1 per class and pooled; point error (px) of matched
predictions under the first (primary) tolerance; a confusion matrix with background: row = ground-truth class
(0 = no landmark), column = predicted class (0 = missed). A prediction left over by same-class matching that
lies within the radius of a left-over ground truth of another class is a confusion; other left-overs are
background false positives (row 0) and misses (column 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy


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


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


class _Column:
    """Growing 1-D array with amortised compaction (the matched point errors): a few bytes per matched
    landmark, not one numpy object per frame; empty appends cost nothing."""

    def __init__(self, dtype, compact_every: int = 256):
        self.dtype = dtype
        self.compact_every = compact_every
        self._data = np.zeros(0, dtype)
        self._pending: list[np.ndarray] = []

    def append(self, values) -> None:
        values = np.asarray(values, self.dtype).reshape(-1)
        if not len(values):
            return
        self._pending.append(values)
        if len(self._pending) >= self.compact_every:
            self._data = self.array()
            self._pending = []

    def array(self) -> np.ndarray:
        return np.concatenate([self._data, *self._pending]) if self._pending else self._data


class PointEvaluator:
    """Accumulates matches frame by frame; :meth:`summary` gives the metrics dict (JSON-ready)."""

    def __init__(self, taxonomy: Taxonomy, tolerances=DEFAULT_TOLERANCES, operating_threshold: float = 0.3):
        self.taxonomy = taxonomy
        self.tolerances = tuple(tolerances)
        self.threshold = float(operating_threshold)
        m = taxonomy.num_classes
        self.num_gt = np.zeros(m, np.int64)
        self.num_frames = 0
        # all-threshold predictions (PR curves, AP) as fixed-size score histograms per class: how many
        # predictions, and (per tolerance) how many hits, fell in each score bin; memory is independent of
        # the number of frames (torchmetrics' binned AP and Keras' AUC(num_thresholds) do the same)
        self._bin_pred = np.zeros((m, SCORE_BINS), np.int64)
        self._bin_tp = {t.name: np.zeros((m, SCORE_BINS), np.int64) for t in self.tolerances}
        # per tolerance at the operating threshold: tp, fp(pred count - tp), per class
        self._tp = {t.name: np.zeros(m, np.int64) for t in self.tolerances}
        self._npred = {t.name: np.zeros(m, np.int64) for t in self.tolerances}
        self._err_cls = _Column(np.int16)
        self._err = _Column(np.float32)
        self.confusion = np.zeros((m, m), np.int64)

    def add_frame(
        self,
        gt_points,
        gt_classes,
        gt_boxes,
        pred_points,
        pred_classes,
        pred_scores,
        *,
        op_points=None,
        op_classes=None,
        op_scores=None,
    ) -> dict:
        """Add one frame (ground truth and predictions in original pixels).

        ``pred_*`` are everything the decoder kept at a low threshold (PR curves, AP). ``op_*`` are the
        detections at the operating threshold (P/R/F1, point error, confusion); when omitted they are the
        ``pred_*`` with score >= the operating threshold (greedy matching by score makes that exact).
        Returns the frame's operating-point counts under the primary tolerance.
        """
        gp = np.asarray(gt_points, np.float64).reshape(-1, 2)
        gc = np.asarray(gt_classes, np.int64).reshape(-1)
        gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        pp = np.asarray(pred_points, np.float64).reshape(-1, 2)
        pc = np.asarray(pred_classes, np.int64).reshape(-1)
        ps = np.asarray(pred_scores, np.float64).reshape(-1)
        if op_points is None:
            op = ps >= self.threshold
            op_pp, op_pc, op_ps = pp[op], pc[op], ps[op]
        else:
            op_pp = np.asarray(op_points, np.float64).reshape(-1, 2)
            op_pc = np.asarray(op_classes, np.int64).reshape(-1)
            op_ps = np.asarray(op_scores, np.float64).reshape(-1)
        self.num_frames += 1
        np.add.at(self.num_gt, gc, 1)
        row = {}
        bins = score_bins(ps)
        np.add.at(self._bin_pred, (pc, bins), 1)
        for k, tol in enumerate(self.tolerances):
            radii = tol.radii(gb)
            match, _ = match_greedy(pp, ps, pc, gp, gc, radii)
            hit = match >= 0
            np.add.at(self._bin_tp[tol.name], (pc[hit], bins[hit]), 1)
            om, dist = match_greedy(op_pp, op_ps, op_pc, gp, gc, radii)
            hit = om >= 0
            np.add.at(self._tp[tol.name], op_pc[hit], 1)
            np.add.at(self._npred[tol.name], op_pc, 1)
            if k == 0:
                self._err.append(dist[hit])
                self._err_cls.append(op_pc[hit])
                self._confuse(op_pp, op_ps, op_pc, om, gp, gc, radii)
                row = {
                    "num_gt": len(gc),
                    "num_pred": len(op_pc),
                    "tp": int(hit.sum()),
                    "fp": int(len(op_pc) - hit.sum()),
                    "fn": int(len(gc) - hit.sum()),
                    "median_point_error_px": float(np.median(dist[hit])) if hit.any() else float("nan"),
                }
        return row

    def _confuse(self, pp, ps, pc, match, gp, gc, radii):
        taken = np.zeros(len(gc), bool)
        taken[match[match >= 0]] = True
        np.add.at(self.confusion, (gc[match[match >= 0]], pc[match >= 0]), 1)
        left = match < 0
        cm, _ = match_greedy(pp[left], ps[left], pc[left], gp, gc, radii, same_class=False, gt_taken=taken)
        lc = pc[left]
        np.add.at(self.confusion, (gc[cm[cm >= 0]], lc[cm >= 0]), 1)
        taken[cm[cm >= 0]] = True
        np.add.at(self.confusion, (np.zeros((cm < 0).sum(), np.int64), lc[cm < 0]), 1)  # background FPs
        np.add.at(self.confusion, (gc[~taken], np.zeros((~taken).sum(), np.int64)), 1)  # misses

    def labelled(self) -> np.ndarray:
        """bool [M]: landmark classes with ground truth in the data seen so far."""
        lab = self.num_gt > 0
        lab[0] = False
        return lab

    def pr_curves(self, tolerance: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """class name -> (recall, precision) for labelled classes, one point per non-empty score bin."""
        tp = self._bin_tp[tolerance or self.tolerances[0].name]
        return {
            self.taxonomy.classes[c].name: binned_pr_curve(self._bin_pred[c], tp[c], int(self.num_gt[c]))
            for c in np.flatnonzero(self.labelled())
        }

    def best_f1_point(self, tolerance: str | None = None) -> dict | None:
        """The score threshold with the highest pooled F1 over labelled classes, from the all-threshold
        histograms: {"threshold" (a bin's lower edge), "f1", "precision", "recall"}; None without ground
        truth or predictions. Predictions of unlabelled classes are left out, as in the pooled P/R."""
        lab = self.labelled()
        preds = self._bin_pred[lab].sum(0)
        hits = self._bin_tp[tolerance or self.tolerances[0].name][lab].sum(0)
        num_gt = int(self.num_gt[lab].sum())
        n_at_or_above = np.cumsum(preds[::-1])[::-1]
        if num_gt == 0 or n_at_or_above[0] == 0:
            return None
        tp_at_or_above = np.cumsum(hits[::-1])[::-1]
        p = tp_at_or_above / np.maximum(n_at_or_above, 1)
        r = tp_at_or_above / num_gt
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        f1[preds == 0] = -1.0  # thresholds at a prediction's own score, not in the empty gaps below it
        b = int(np.argmax(f1))  # the lowest threshold among equal F1s: more recall for the same F1
        return {
            "threshold": b / SCORE_BINS,
            "f1": float(f1[b]),
            "precision": float(p[b]),
            "recall": float(r[b]),
        }

    def point_errors(self) -> tuple[np.ndarray, np.ndarray]:
        """(distances px [K], classes [K]) of matched predictions at the operating threshold."""
        return self._err.array().astype(np.float64), self._err_cls.array().astype(np.int64)

    def confusion_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(matrix [M, M] with unlabelled-class background FPs removed, those removed counts [M])."""
        cm = self.confusion.copy()
        unl = ~self.labelled()
        unl[0] = False
        removed = np.where(unl, cm[0], 0)
        cm[0, unl] = 0
        return cm, removed

    def summary(self) -> dict:
        names = self.taxonomy.names
        lab = self.labelled()
        unlabelled = [names[c] for c in range(1, len(names)) if not lab[c]]
        out: dict = {
            "operating_threshold": self.threshold,
            "ap_score_resolution": 1 / SCORE_BINS,
            "frames": self.num_frames,
            "primary_tolerance": self.tolerances[0].name,
            "num_gt": {names[c]: int(self.num_gt[c]) for c in range(1, len(names))},
            "unlabelled_classes": unlabelled,
            "tolerances": {},
        }
        for tol in self.tolerances:
            curves = self.pr_curves(tol.name)
            per_class, aps, aps101 = {}, [], []
            tp_op, np_op = self._tp[tol.name], self._npred[tol.name]
            for c in np.flatnonzero(lab):
                ap = ap_from_curve(*curves[names[c]])
                ap101 = ap_from_curve(*curves[names[c]], "coco101")
                p = tp_op[c] / np_op[c] if np_op[c] else 0.0
                r = tp_op[c] / self.num_gt[c]
                per_class[names[c]] = {
                    "AP": ap,
                    "AP_coco101": ap101,
                    "num_gt": int(self.num_gt[c]),
                    "num_pred": int(np_op[c]),
                    "tp": int(tp_op[c]),
                    "fp": int(np_op[c] - tp_op[c]),
                    "fn": int(self.num_gt[c] - tp_op[c]),
                    "precision": float(p),
                    "recall": float(r),
                    "f1": _f1(p, r),
                }
                aps.append(ap)
                aps101.append(ap101)
            t, n, g = tp_op[lab].sum(), np_op[lab].sum(), self.num_gt[lab].sum()
            p = t / n if n else 0.0
            r = t / g if g else 0.0
            out["tolerances"][tol.name] = {
                "rule": "fixed" if tol.fixed_px is not None else "adaptive",
                "radius_px": tol.fixed_px
                if tol.fixed_px is not None
                else f"max({tol.min_px}, {tol.area_factor} * sqrt(bbox area))",
                "mAP": float(np.mean(aps)) if aps else float("nan"),
                "mAP_coco101": float(np.mean(aps101)) if aps101 else float("nan"),
                "precision": float(p),
                "recall": float(r),
                "f1": _f1(p, r),
                "per_class": per_class,
            }
        out["best_f1"] = self.best_f1_point()
        err, err_cls = self.point_errors()
        out["point_error_px"] = {
            "count": len(err),
            "median": float(np.median(err)) if len(err) else float("nan"),
            "p90": float(np.percentile(err, 90)) if len(err) else float("nan"),
            "per_class": {
                names[c]: {
                    "count": int((err_cls == c).sum()),
                    "median": float(np.median(err[err_cls == c])),
                    "p90": float(np.percentile(err[err_cls == c], 90)),
                }
                for c in np.unique(err_cls)
            },
        }
        cm, removed = self.confusion_matrix()
        out["confusion"] = {
            "labels": names,
            "rows": "ground truth (background = no landmark)",
            "cols": "prediction (background = missed)",
            "matrix": cm.tolist(),
        }
        out["unlabelled_predictions"] = {
            names[c]: int(removed[c]) for c in range(1, len(names)) if not lab[c]
        }
        return out
