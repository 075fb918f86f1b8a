"""Landmark tracking on video: stable IDs and smoothed reference points across frames (numpy + scipy, no
TensorFlow).

Each track is one landmark seen in consecutive frames. Per frame:

1. predict every track one frame ahead with its image velocity (constant velocity in pixels per frame);
2. associate detections to tracks by the Hungarian algorithm on the distance between the detection and the
   prediction, within a gate of ``gate_frac`` x image width (widened by half the track's speed and by each
   missed frame, since landmarks speed up as the vehicle approaches); a detection of another class than the
   track's pays ``class_penalty_frac`` x width extra, and none across ``point_group``s (see below);
3. update a matched track with an alpha-beta filter (``alpha`` on the position, ``beta`` on the velocity;
   the second detection of a track sets its velocity from the two positions), start a new track for every
   unmatched detection that is not a duplicate (a same-class detection within ``duplicate_frac`` x image
   width of a track's point: the decoder can leave two votes of one landmark a few pixels apart, and each
   would otherwise start its own track and steal the landmark's identity every other frame), and let an
   unmatched track coast on its prediction for up to ``max_age`` frames. Two tracks that end up within
   ``duplicate_frac`` x width of each other follow one landmark: the one with fewer detections ends.

A track is *confirmed* after ``min_hits`` detections; only confirmed tracks matched in the current frame are
reported, with the filtered point, the frame's detection score, the track id and the track's class: the
class with the highest summed detection score over the track's life, so a sign read as "regulatory" in
one far frame keeps the identity and class it had. A coasting track
reports nothing: a localizer wants measurements, not extrapolations. One-frame false detections therefore
never leave the tracker, at the cost of each landmark's first ``min_hits - 1`` frames.

The method's reference point depends on the class, so a track only takes detections whose class has the
same point rule as its own (``point_group``: the taxonomy's rule per class id; classes with different rules,
a sign's centre and a marking's lower-right end, never share a track). Without ``point_group`` every class
is its own group.
Defaults were chosen on synthetic drives (``benchmarks/bench_tracking.py``, docs/tracking.md). ``alpha`` is
1 by default, so reported points are the detections' own: a constant-velocity filter in the image lags
behind landmarks that accelerate outwards as the vehicle approaches, and on the drives it made the median
point error worse (1.9 -> 2.9 px at alpha 0.85), more than it removed noise. The localizer smooths in pose
space, where the vehicle's motion model lives. Lower ``alpha`` for a steadier display.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackerConfig:
    """gate_frac: association radius as a fraction of the image width; duplicate_frac: an unmatched
    detection this close (fraction of the width) to a same-class track starts no track (0: always starts
    one); alpha, beta: alpha-beta filter gains (1, 0 = raw detections); min_hits: detections before a track
    is reported; max_age: frames a track may go undetected before it ends."""

    gate_frac: float = 0.05
    duplicate_frac: float = 0.02
    class_penalty_frac: float = 0.02
    alpha: float = 1.0
    beta: float = 0.5
    min_hits: int = 2
    max_age: int = 3

    def __post_init__(self):
        checks = {
            "gate_frac": 0 < self.gate_frac <= 1,
            "duplicate_frac": 0 <= self.duplicate_frac <= 1,
            "class_penalty_frac": 0 <= self.class_penalty_frac <= 1,
            "alpha": 0 < self.alpha <= 1,
            "beta": 0 <= self.beta <= 1,
            "min_hits": self.min_hits >= 1,
            "max_age": self.max_age >= 0,
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "tracker: out of range: " + ", ".join(bad) + " (gate_frac and alpha in (0, 1], beta in "
                "[0, 1], min_hits >= 1, max_age >= 0)"
            )

    def replace(self, **changes) -> TrackerConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrackedDetections:
    """One frame's reported tracks: track_ids int64 [K]; classes int32 [K]; points float32 [K, 2] filtered
    image pixels; raw_points float32 [K, 2] the frame's detections they were matched to; scores float32
    [K]."""

    track_ids: np.ndarray
    classes: np.ndarray
    points: np.ndarray
    raw_points: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)


class LandmarkTracker:
    """Tracks landmarks over the frames of one video; call :meth:`update` once per frame, in order.

    point_group: optional int per class id (index = class id), equal for classes that share a point rule
    (:func:`point_groups`); a track never takes a detection of another group."""

    def __init__(self, config: TrackerConfig | None = None, point_group=None):
        self.config = config or TrackerConfig()
        self.point_group = None if point_group is None else np.asarray(point_group, np.int64)
        self._next_id = 0
        self._ids = np.zeros((0,), np.int64)
        self._votes = np.zeros((0, 1), np.float64)  # summed detection score per class id
        self._pos = np.zeros((0, 2), np.float64)
        self._vel = np.zeros((0, 2), np.float64)
        self._hits = np.zeros((0,), np.int64)
        self._misses = np.zeros((0,), np.int64)

    @property
    def num_tracks(self) -> int:
        """Tracks alive now (tentative, confirmed and coasting)."""
        return len(self._ids)

    @property
    def tracks_started(self) -> int:
        return self._next_id

    @property
    def classes(self) -> np.ndarray:
        """Each live track's class: the one with the highest summed detection score."""
        return self._votes.argmax(axis=1).astype(np.int32)

    def _group(self, classes: np.ndarray) -> np.ndarray:
        if self.point_group is None:
            return classes
        if len(classes) and classes.max() >= len(self.point_group):
            raise ValueError(f"tracker: class {int(classes.max())} has no point group")
        return self.point_group[classes]

    def update(self, points, classes, scores, image_width: int) -> TrackedDetections:
        """Feed one frame's detections (points [D, 2] px, classes [D], scores [D]); returns the confirmed
        tracks matched in this frame."""
        cfg = self.config
        z = np.asarray(points, np.float64).reshape(-1, 2)
        zc = np.asarray(classes, np.int64).reshape(-1)
        zs = np.asarray(scores, np.float32).reshape(-1)
        if not (len(z) == len(zc) == len(zs)):
            raise ValueError(f"tracker: {len(z)} points, {len(zc)} classes, {len(zs)} scores")
        if len(zc) and zc.max() >= self._votes.shape[1]:
            self._votes = np.pad(self._votes, ((0, 0), (0, int(zc.max()) + 1 - self._votes.shape[1])))
        width = float(image_width)
        pred = self._pos + self._vel
        rows, cols = self._associate(pred, z, zc, width)

        residual = z[cols] - pred[rows]
        second = self._hits[rows] == 1  # two positions: the velocity is their difference
        self._vel[rows] = np.where(
            second[:, None], z[cols] - self._pos[rows], self._vel[rows] + cfg.beta * residual
        )
        self._pos[rows] = np.where(second[:, None], z[cols], pred[rows] + cfg.alpha * residual)
        self._hits[rows] += 1
        self._misses[rows] = 0
        self._votes[rows, zc[cols]] += zs[cols]
        matched = np.zeros(len(self._ids), bool)
        matched[rows] = True
        self._pos[~matched] = pred[~matched]
        self._misses[~matched] += 1

        dup = self._duplicates(width)
        report = (self._hits[rows] >= cfg.min_hits) & ~dup[rows]
        out = TrackedDetections(
            track_ids=self._ids[rows[report]],
            classes=self.classes[rows[report]],
            points=self._pos[rows[report]].astype(np.float32),
            raw_points=z[cols[report]].astype(np.float32),
            scores=zs[cols[report]],
        )

        keep = (self._misses <= cfg.max_age) & ~dup
        new = np.setdiff1d(np.arange(len(z)), cols)
        if len(new) and len(self._ids) and cfg.duplicate_frac > 0:
            d = np.linalg.norm(z[new][:, None] - self._pos[None], axis=-1)
            same = self._group(zc[new])[:, None] == self._group(self.classes.astype(np.int64))[None]
            new = new[~np.any(same & (d <= cfg.duplicate_frac * width) & keep[None], axis=1)]
        votes = np.zeros((len(new), self._votes.shape[1]))
        votes[np.arange(len(new)), zc[new]] = zs[new]
        self._ids = np.concatenate([self._ids[keep], self._next_id + np.arange(len(new))])
        self._next_id += len(new)
        self._votes = np.concatenate([self._votes[keep], votes])
        self._pos = np.concatenate([self._pos[keep], z[new]])
        self._vel = np.concatenate([self._vel[keep], np.zeros((len(new), 2))])
        self._hits = np.concatenate([self._hits[keep], np.ones(len(new), np.int64)])
        self._misses = np.concatenate([self._misses[keep], np.zeros(len(new), np.int64)])
        if cfg.min_hits == 1 and len(new):  # a one-hit track is already confirmed: report it now
            out = TrackedDetections(
                track_ids=np.concatenate([out.track_ids, self._ids[-len(new) :]]),
                classes=np.concatenate([out.classes, zc[new].astype(np.int32)]),
                points=np.concatenate([out.points, z[new].astype(np.float32)]),
                raw_points=np.concatenate([out.raw_points, z[new].astype(np.float32)]),
                scores=np.concatenate([out.scores, zs[new]]),
            )
        return out

    def _duplicates(self, width: float) -> np.ndarray:
        """bool [T]: tracks that follow a landmark another track already follows (same point group, within
        ``duplicate_frac`` x width): the one with fewer detections (then the younger) is dropped."""
        n = len(self._ids)
        out = np.zeros(n, bool)
        if n < 2 or self.config.duplicate_frac <= 0:
            return out
        group = self._group(self.classes.astype(np.int64))
        close = (
            np.linalg.norm(self._pos[:, None] - self._pos[None], axis=-1)
            <= self.config.duplicate_frac * width
        )
        close &= group[:, None] == group[None, :]
        for i in np.lexsort((self._ids, -self._hits)):  # most detections first, then the oldest
            if not out[i]:
                later = close[i].copy()
                later[i] = False
                out |= later & ~out & (np.arange(n) != i) & self._rank_after(i)
        return out

    def _rank_after(self, i: int) -> np.ndarray:
        """bool [T]: tracks ranked after track ``i`` (fewer detections, or as many and younger)."""
        return (self._hits < self._hits[i]) | ((self._hits == self._hits[i]) & (self._ids > self._ids[i]))

    def _associate(self, pred, z, zc, width: float) -> tuple[np.ndarray, np.ndarray]:
        """(track rows, detection columns) of the minimum-cost assignment within each track's gate."""
        if len(pred) == 0 or len(z) == 0:
            return np.zeros((0,), np.int64), np.zeros((0,), np.int64)
        from scipy.optimize import linear_sum_assignment  # here: CLIs build their --track options fast

        cfg = self.config
        track_cls = self.classes.astype(np.int64)
        dist = np.linalg.norm(pred[:, None, :] - z[None, :, :], axis=-1)
        gate = cfg.gate_frac * width * (1.0 + self._misses) + 0.5 * np.linalg.norm(self._vel, axis=-1)
        same_group = self._group(track_cls)[:, None] == self._group(zc)[None, :]
        ok = same_group & (dist <= gate[:, None])
        cost = dist + cfg.class_penalty_frac * width * (track_cls[:, None] != zc[None, :])
        rows, cols = linear_sum_assignment(np.where(ok, cost, 1e9))
        keep = ok[rows, cols]
        return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def point_groups(taxonomy) -> np.ndarray:
    """int [M]: one group per distinct point rule of the taxonomy's classes (background its own group)."""
    rules = [taxonomy.rule_of(c) if c > 0 else None for c in range(taxonomy.num_classes)]
    names = {r: i for i, r in enumerate(dict.fromkeys(rules))}
    return np.array([names[r] for r in rules], np.int64)
