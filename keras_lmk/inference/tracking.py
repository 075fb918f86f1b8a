"""Landmark tracking on video: stable IDs and smoothed reference points across frames (numpy + scipy, no
TensorFlow).

Each track is one landmark seen in consecutive frames. Per frame:

1. predict every track one frame ahead with its image velocity (constant velocity in pixels per frame);
2. associate detections to tracks by the Hungarian algorithm on the distance between the detection and the
   prediction, within a gate of ``gate_frac`` x image width (widened by half the track's speed and by each
   missed frame, since landmarks speed up as the vehicle approaches), and only of the track's own class;
3. update a matched track with an alpha-beta filter (``alpha`` on the position, ``beta`` on the velocity;
   the second detection of a track sets its velocity from the two positions), start a new track for every
   unmatched detection that is not a duplicate (a same-class detection within ``duplicate_frac`` x image
   width of a track's point: the decoder can leave two votes of one landmark a few pixels apart, and each
   would otherwise start its own track and steal the landmark's identity every other frame), and let an
   unmatched track coast on its prediction for up to ``max_age`` frames. Two tracks that end up within
   ``duplicate_frac`` x width of each other follow one landmark: the one with fewer detections ends.

A track is *confirmed* after ``min_hits`` detections; only confirmed tracks matched in the current frame are
reported, with the filtered point, the frame's detection score and class, and the track id. A coasting track
reports nothing: a localizer wants measurements, not extrapolations. One-frame false detections therefore
never leave the tracker, at the cost of each landmark's first ``min_hits - 1`` frames.

Tracks are class-strict: a detection of another class starts another track. The method's reference point
depends on the class, so a marking's lower-right end and a sign's centre must never share a track; letting
classes with the same point rule share one (class by summed score) was measured and rejected: on drive 7
it lowered track recall-per-frame 0.437 -> 0.386 and raised ID switches 115 -> 132 (neighbouring signs of
different classes merged into one track).
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
    alpha: float = 1.0
    beta: float = 0.5
    min_hits: int = 2
    max_age: int = 3

    def __post_init__(self):
        checks = {
            "gate_frac": 0 < self.gate_frac <= 1,
            "duplicate_frac": 0 <= self.duplicate_frac <= 1,
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
    """Tracks landmarks over the frames of one video; call :meth:`update` once per frame, in order."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self._next_id = 0
        self._ids = np.zeros((0,), np.int64)
        self._cls = np.zeros((0,), np.int32)
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

    def update(self, points, classes, scores, image_width: int) -> TrackedDetections:
        """Feed one frame's detections (points [D, 2] px, classes [D], scores [D]); returns the confirmed
        tracks matched in this frame."""
        cfg = self.config
        z = np.asarray(points, np.float64).reshape(-1, 2)
        zc = np.asarray(classes, np.int32).reshape(-1)
        zs = np.asarray(scores, np.float32).reshape(-1)
        if not (len(z) == len(zc) == len(zs)):
            raise ValueError(f"tracker: {len(z)} points, {len(zc)} classes, {len(zs)} scores")
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
        matched = np.zeros(len(self._ids), bool)
        matched[rows] = True
        self._pos[~matched] = pred[~matched]
        self._misses[~matched] += 1

        dup = self._duplicates(width)
        report = (self._hits[rows] >= cfg.min_hits) & ~dup[rows]
        out = TrackedDetections(
            track_ids=self._ids[rows[report]],
            classes=self._cls[rows[report]],
            points=self._pos[rows[report]].astype(np.float32),
            raw_points=z[cols[report]].astype(np.float32),
            scores=zs[cols[report]],
        )

        keep = (self._misses <= cfg.max_age) & ~dup
        new = np.setdiff1d(np.arange(len(z)), cols)
        if len(new) and len(self._ids) and cfg.duplicate_frac > 0:
            d = np.linalg.norm(z[new][:, None] - self._pos[None], axis=-1)
            same = zc[new][:, None] == self._cls[None]
            new = new[~np.any(same & (d <= cfg.duplicate_frac * width) & keep[None], axis=1)]
        self._ids = np.concatenate([self._ids[keep], self._next_id + np.arange(len(new))])
        self._next_id += len(new)
        self._cls = np.concatenate([self._cls[keep], zc[new]])
        self._pos = np.concatenate([self._pos[keep], z[new]])
        self._vel = np.concatenate([self._vel[keep], np.zeros((len(new), 2))])
        self._hits = np.concatenate([self._hits[keep], np.ones(len(new), np.int64)])
        self._misses = np.concatenate([self._misses[keep], np.zeros(len(new), np.int64)])
        if cfg.min_hits == 1 and len(new):  # a one-hit track is already confirmed: report it now
            out = TrackedDetections(
                track_ids=np.concatenate([out.track_ids, self._ids[-len(new) :]]),
                classes=np.concatenate([out.classes, zc[new]]),
                points=np.concatenate([out.points, z[new].astype(np.float32)]),
                raw_points=np.concatenate([out.raw_points, z[new].astype(np.float32)]),
                scores=np.concatenate([out.scores, zs[new]]),
            )
        return out

    def _duplicates(self, width: float) -> np.ndarray:
        """bool [T]: tracks that follow a landmark another track of the class already follows (within
        ``duplicate_frac`` x width): of two, the one with fewer detections (then the younger) ends."""
        n = len(self._ids)
        out = np.zeros(n, bool)
        if n < 2 or self.config.duplicate_frac <= 0:
            return out
        close = (
            np.linalg.norm(self._pos[:, None] - self._pos[None], axis=-1)
            <= self.config.duplicate_frac * width
        )
        close &= self._cls[:, None] == self._cls[None, :]
        np.fill_diagonal(close, False)
        for i in np.lexsort((self._ids, -self._hits)):  # most detections first, then the oldest
            if not out[i]:
                out |= close[i]
        return out

    def _associate(self, pred, z, zc, width: float) -> tuple[np.ndarray, np.ndarray]:
        """(track rows, detection columns) of the minimum-distance same-class assignment within each
        track's gate."""
        if len(pred) == 0 or len(z) == 0:
            return np.zeros((0,), np.int64), np.zeros((0,), np.int64)
        from scipy.optimize import linear_sum_assignment  # here: CLIs build their --track options fast

        dist = np.linalg.norm(pred[:, None, :] - z[None, :, :], axis=-1)
        gate = self.config.gate_frac * width * (1.0 + self._misses) + 0.5 * np.linalg.norm(self._vel, axis=-1)
        ok = (self._cls[:, None] == zc[None, :]) & (dist <= gate[:, None])
        rows, cols = linear_sum_assignment(np.where(ok, dist, 1e9))
        keep = ok[rows, cols]
        return rows[keep].astype(np.int64), cols[keep].astype(np.int64)
