"""Tracking metrics on sequences with landmark identities (CLEAR-MOT style, on reference points).

Per frame, reported tracks are matched one-to-one to the ground-truth landmarks of the same class within
``tolerance_px`` (Hungarian, minimum total distance). Counted over the sequence:

- ``recall`` = matched / ground-truth landmark-frames, ``precision`` = matched / reported (reports inside an
  ignore region that match nothing are not counted);
- ``id_switches``: a landmark matched to a different track than at its previous match;
- ``mota`` = 1 - (misses + false reports + ID switches) / ground-truth landmark-frames;
- ``track_recall``: landmarks matched (by any track) in at least half of the frames they are visible in;
  ``mostly_tracked``: landmarks whose *single most frequent* track covers >= 80 % of their frames;
- ``tracks_per_landmark``: distinct track ids a matched landmark was given (1 is ideal);
- ``point_error_px``: median and p90 distance of the matches.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import numpy as np

from keras_lmk.inference.tracking import LandmarkTracker, TrackerConfig


def match_points(
    gt_points, gt_classes, points, classes, tolerance_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """(gt rows, prediction rows) of the same-class minimum-distance one-to-one matching within tolerance."""
    g = np.asarray(gt_points, np.float64).reshape(-1, 2)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if len(g) == 0 or len(p) == 0:
        return np.zeros((0,), np.int64), np.zeros((0,), np.int64)
    from scipy.optimize import linear_sum_assignment

    dist = np.linalg.norm(g[:, None] - p[None], axis=-1)
    ok = (np.asarray(gt_classes)[:, None] == np.asarray(classes)[None, :]) & (dist <= tolerance_px)
    rows, cols = linear_sum_assignment(np.where(ok, dist, 1e9))
    keep = ok[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _inside(points: np.ndarray, boxes) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) == 0 or len(points) == 0:
        return np.zeros(len(points), bool)
    x, y = points[:, :1], points[:, 1:]
    return np.any((x >= b[:, 0]) & (x <= b[:, 2]) & (y >= b[:, 1]) & (y <= b[:, 3]), axis=1)


class TrackingEvaluator:
    """Accumulates one sequence frame by frame (:meth:`add_frame`); :meth:`summary` gives the metrics."""

    def __init__(self, tolerance_px: float = 8.0):
        self.tolerance_px = float(tolerance_px)
        self.num_gt = self.num_reported = self.num_matched = self.num_false = self.id_switches = 0
        self.frames = 0
        self._errors: list[float] = []
        self._last_track: dict[int, int] = {}
        self._visible: Counter = Counter()
        self._tracks_of: dict[int, Counter] = defaultdict(Counter)

    def add_frame(
        self, gt_points, gt_classes, gt_ids, track_points, track_classes, track_ids, ignore_boxes=()
    ) -> dict:
        """One frame: ground truth (points [G, 2], classes [G], landmark ids [G]) and the reported tracks
        (points [K, 2], classes [K], track ids [K]). Returns the frame's counts."""
        gt_ids = np.asarray(gt_ids, np.int64).reshape(-1)
        if len(gt_ids) and np.any(gt_ids < 0):
            raise ValueError("tracking metrics need a landmark id for every ground-truth landmark")
        tp = np.asarray(track_points, np.float64).reshape(-1, 2)
        tid = np.asarray(track_ids, np.int64).reshape(-1)
        g, k = match_points(gt_points, gt_classes, tp, track_classes, self.tolerance_px)
        unmatched = np.ones(len(tp), bool)
        unmatched[k] = False
        false = int(np.sum(unmatched & ~_inside(tp, ignore_boxes)))
        switches = 0
        for gi, ki in zip(g.tolist(), k.tolist(), strict=True):
            lid, t = int(gt_ids[gi]), int(tid[ki])
            if lid in self._last_track and self._last_track[lid] != t:
                switches += 1
            self._last_track[lid] = t
            self._tracks_of[lid][t] += 1
        for lid in gt_ids.tolist():
            self._visible[int(lid)] += 1
        gp = np.asarray(gt_points, np.float64).reshape(-1, 2)
        self._errors += np.linalg.norm(gp[g] - tp[k], axis=-1).tolist()
        self.frames += 1
        self.num_gt += len(gt_ids)
        self.num_reported += len(tp) - int(np.sum(unmatched & _inside(tp, ignore_boxes)))
        self.num_matched += len(g)
        self.num_false += false
        self.id_switches += switches
        return {"gt": len(gt_ids), "matched": len(g), "false": false, "id_switches": switches}

    def summary(self) -> dict:
        n_lm = len(self._visible)
        covered = [sum(self._tracks_of[lid].values()) for lid in self._visible]
        best = [max(self._tracks_of[lid].values(), default=0) for lid in self._visible]
        vis = [self._visible[lid] for lid in self._visible]
        matched_lms = [lid for lid in self._visible if self._tracks_of[lid]]
        err = np.array(self._errors, np.float64)
        misses = self.num_gt - self.num_matched
        return {
            "tolerance_px": self.tolerance_px,
            "frames": self.frames,
            "gt_landmark_frames": self.num_gt,
            "landmarks": n_lm,
            "recall": self.num_matched / self.num_gt if self.num_gt else None,
            "precision": self.num_matched / self.num_reported if self.num_reported else None,
            "false_per_frame": self.num_false / self.frames if self.frames else None,
            "id_switches": self.id_switches,
            "id_switches_per_100_matches": 100.0 * self.id_switches / self.num_matched
            if self.num_matched
            else None,
            "mota": 1.0 - (misses + self.num_false + self.id_switches) / self.num_gt if self.num_gt else None,
            "track_recall": float(np.mean([c >= 0.5 * v for c, v in zip(covered, vis, strict=True)]))
            if n_lm
            else None,
            "mostly_tracked": float(np.mean([b >= 0.8 * v for b, v in zip(best, vis, strict=True)]))
            if n_lm
            else None,
            "tracks_per_landmark": float(np.mean([len(self._tracks_of[lid]) for lid in matched_lms]))
            if matched_lms
            else None,
            "point_error_px": {
                "median": float(np.median(err)) if len(err) else None,
                "p90": float(np.percentile(err, 90)) if len(err) else None,
            },
        }


DETECTION_KEYS = ("recall", "precision", "false_per_frame", "point_error_px")


class SequenceTracking:
    """``evaluate --track``: tracks one drive's operating-point detections and scores the tracks and, for
    comparison, the raw detections with the same matching (their identity metrics do not apply)."""

    def __init__(self, config: TrackerConfig, tolerance_px: float = 8.0):
        self.config = config
        self.tracker = LandmarkTracker(config)
        self.tracks = TrackingEvaluator(tolerance_px)
        self.raw = TrackingEvaluator(tolerance_px)
        self._raw_ids = 0

    def add_frame(self, record, dets, image_width: int) -> None:
        """One frame in drive order: its ground-truth ImageRecord (with landmark ids) and Detections."""
        ids = record.landmark_ids
        if ids is None or (len(ids) and np.any(np.asarray(ids) < 0)):
            raise ValueError(
                f"{record.image_path}: --track needs a landmark id per ground-truth landmark (a synthetic "
                "drive, or a COCO file whose annotations carry landmark_id)"
            )
        t = self.tracker.update(dets.points, dets.classes, dets.scores, image_width)
        gt = (record.points, record.classes, ids)
        self.tracks.add_frame(*gt, t.points, t.classes, t.track_ids, ignore_boxes=record.ignore_boxes)
        unique = np.arange(self._raw_ids, self._raw_ids + len(dets))
        self._raw_ids += len(dets)
        self.raw.add_frame(*gt, dets.points, dets.classes, unique, ignore_boxes=record.ignore_boxes)

    def summary(self) -> dict:
        raw = self.raw.summary()
        return {
            "tracker": dataclasses.asdict(self.config),
            "tracks_started": self.tracker.tracks_started,
            "tracks": self.tracks.summary(),
            "detections": {"tolerance_px": raw["tolerance_px"], **{k: raw[k] for k in DETECTION_KEYS}},
        }
