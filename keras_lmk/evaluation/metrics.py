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

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.evaluation.matching import (
    DEFAULT_TOLERANCES,
    SCORE_BINS,
    ap_from_curve,
    binned_pr_curve,
    match_greedy,
    score_bins,
)


def on_ignore_region(points, ignore_boxes, gt_points, radii) -> np.ndarray:
    """bool [N]: the point lies inside an ignore box and outside every ground truth's match radius."""
    x, y = points[:, :1], points[:, 1:]
    inside = ((x >= ignore_boxes[:, 0]) & (x <= ignore_boxes[:, 2]) & (y >= ignore_boxes[:, 1])
              & (y <= ignore_boxes[:, 3])).any(axis=1)  # fmt: skip
    if len(gt_points):
        d = np.linalg.norm(points[:, None, :] - gt_points[None, :, :], axis=-1)
        inside &= ~(d <= radii[None, :]).any(axis=1)
    return inside


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


def format_threshold(threshold: float | dict[str, float]) -> str:
    """A summary's ``operating_threshold`` for people: ``0.8`` or ``warning 0.95, signal 0.83, ...``."""
    if isinstance(threshold, dict):
        return ", ".join(f"{name} {t:g}" for name, t in threshold.items())
    return f"{threshold:g}"


def _best_f1(preds: np.ndarray, hits: np.ndarray, num_gt: int) -> dict | None:
    """Score histograms (predictions and hits per bin) -> the bin edge with the highest F1, or None."""
    n_at_or_above = np.cumsum(preds[::-1])[::-1]
    if num_gt == 0 or n_at_or_above[0] == 0:
        return None
    tp_at_or_above = np.cumsum(hits[::-1])[::-1]
    p = tp_at_or_above / np.maximum(n_at_or_above, 1)
    r = tp_at_or_above / num_gt
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    f1[preds == 0] = -1.0  # thresholds at a prediction's own score, not in the empty gaps below it
    b = int(np.argmax(f1))  # the lowest threshold among equal F1s: more recall for the same F1
    return {"threshold": b / SCORE_BINS, "f1": float(f1[b]), "precision": float(p[b]), "recall": float(r[b])}


class PointEvaluator:
    """Accumulates matches frame by frame; :meth:`summary` gives the metrics dict (JSON-ready)."""

    def __init__(self, taxonomy: Taxonomy, tolerances=DEFAULT_TOLERANCES, operating_threshold=0.3):
        """operating_threshold: one score threshold, or one per class id [M] (index 0 unused)."""
        self.taxonomy = taxonomy
        self.tolerances = tuple(tolerances)
        m = taxonomy.num_classes
        th = np.asarray(operating_threshold, np.float64)
        self.thresholds = np.full(m, float(th)) if th.ndim == 0 else th.reshape(m).copy()
        self.threshold = float(self.thresholds[1:].min())  # the lowest; with one for all classes, that one
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
        # operating-point predictions of classes their frame's source does not label (left out)
        self._unlabelled_in_frame = np.zeros(m, np.int64)

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
        ignore_boxes=None,
        unlabelled=(),
    ) -> dict:
        """Add one frame (ground truth and predictions in original pixels).

        ``pred_*`` are everything the decoder kept at a low threshold (PR curves, AP). ``op_*`` are the
        detections at the operating threshold (P/R/F1, point error, confusion); when omitted they are the
        ``pred_*`` with score >= the operating threshold (greedy matching by score makes that exact).
        ``ignore_boxes`` float [K, 4] xyxy: ignore regions of the frame (``ImageRecord.ignore_boxes``). A
        prediction whose point lies inside one and farther than the primary tolerance from every ground-truth
        point is left out (neither TP nor FP), as COCO treats detections on crowd regions.
        ``unlabelled``: class ids this frame's source never annotates (``ImageRecord.unlabelled``); their
        predictions on this frame are left out too and only counted (``unlabelled_predictions``).
        Returns the frame's operating-point counts under the primary tolerance.
        """
        gp = np.asarray(gt_points, np.float64).reshape(-1, 2)
        gc = np.asarray(gt_classes, np.int64).reshape(-1)
        gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        pp = np.asarray(pred_points, np.float64).reshape(-1, 2)
        pc = np.asarray(pred_classes, np.int64).reshape(-1)
        ps = np.asarray(pred_scores, np.float64).reshape(-1)
        if op_points is None:
            op = ps >= self.thresholds[pc]
            op_pp, op_pc, op_ps = pp[op], pc[op], ps[op]
        else:
            op_pp = np.asarray(op_points, np.float64).reshape(-1, 2)
            op_pc = np.asarray(op_classes, np.int64).reshape(-1)
            op_ps = np.asarray(op_scores, np.float64).reshape(-1)
        if len(unlabelled):
            unl = np.asarray(unlabelled, np.int64)
            np.add.at(self._unlabelled_in_frame, op_pc[np.isin(op_pc, unl)], 1)
            keep = ~np.isin(pc, unl)
            pp, pc, ps = pp[keep], pc[keep], ps[keep]
            keep = ~np.isin(op_pc, unl)
            op_pp, op_pc, op_ps = op_pp[keep], op_pc[keep], op_ps[keep]
        if ignore_boxes is not None and len(ignore_boxes):
            ib = np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
            radii = self.tolerances[0].radii(gb)
            keep = ~on_ignore_region(pp, ib, gp, radii)
            pp, pc, ps = pp[keep], pc[keep], ps[keep]
            keep = ~on_ignore_region(op_pp, ib, gp, radii)
            op_pp, op_pc, op_ps = op_pp[keep], op_pc[keep], op_ps[keep]
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
        hits = self._bin_tp[tolerance or self.tolerances[0].name][lab].sum(0)
        return _best_f1(self._bin_pred[lab].sum(0), hits, int(self.num_gt[lab].sum()))

    def operating_threshold(self) -> float | dict[str, float]:
        """The operating threshold: one number, or {class name: threshold} when the classes have their own."""
        th = self.thresholds[1:]
        if np.all(th == th[0]):
            return float(th[0])
        return {self.taxonomy.names[c]: float(self.thresholds[c]) for c in range(1, len(self.thresholds))}

    def best_f1_per_class(self, tolerance: str | None = None) -> dict[str, dict]:
        """Per labelled class, the score threshold of its own highest F1 (the rules of
        :meth:`best_f1_point`, one class at a time): {class name: {"threshold", "f1", "precision",
        "recall"}}."""
        hits = self._bin_tp[tolerance or self.tolerances[0].name]
        out = {}
        for c in np.flatnonzero(self.labelled()):
            best = _best_f1(self._bin_pred[c], hits[c], int(self.num_gt[c]))
            if best is not None:
                out[self.taxonomy.names[c]] = best
        return out

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
            "operating_threshold": self.operating_threshold(),
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
        out["best_f1_per_class"] = self.best_f1_per_class()
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
        # predictions left out as unlabelled: of classes no frame labels, plus those on frames whose source
        # does not label them
        left_out = removed + self._unlabelled_in_frame
        out["unlabelled_predictions"] = {
            names[c]: int(left_out[c]) for c in range(1, len(names)) if left_out[c] or not lab[c]
        }
        return out
