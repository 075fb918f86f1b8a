"""Procedural road centreline and the vehicle trajectory along it.

The road is a flat (z = 0) curve parameterised by arc length ``s`` (m), sampled every metre. Lateral offset
``lat`` is measured to the left of the centreline; traffic drives on the right, so our lanes have ``lat < 0``.
Objects are placed in the local frame at ``(s, lat)``: ``a`` along the road (tangent), ``b`` to the left,
``h`` up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_lmk.geometry.camera import Pose

LANE_WIDTH = 3.5
LANES_PER_DIRECTION = 2
ROAD_HALF = LANE_WIDTH * LANES_PER_DIRECTION  # edge line at lat = -7 and +7
SHOULDER = 2.5  # parking shoulder beyond the edge line
SIDEWALK = 3.5
SPEED_CORRELATION_FRAMES = 30  # the speed drifts over about this many frames


@dataclass(frozen=True, eq=False)
class Road:
    """xy: float [N, 2] centreline samples every metre; heading: float [N] rad (0 = east)."""

    xy: np.ndarray
    heading: np.ndarray

    @property
    def length(self) -> float:
        return float(len(self.xy) - 1)

    def frame(self, s):
        """Origin [..., 2], tangent [..., 2] and left normal [..., 2] at arc lengths s
        (linear interpolation)."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0, self.length)
        i = np.minimum(np.floor(s).astype(int), len(self.xy) - 2)
        f = (s - i)[..., None]
        o = self.xy[i] * (1 - f) + self.xy[i + 1] * f
        h = self.heading[i] * (1 - f[..., 0]) + self.heading[i + 1] * f[..., 0]
        t = np.stack([np.cos(h), np.sin(h)], axis=-1)
        n = np.stack([-np.sin(h), np.cos(h)], axis=-1)
        return o, t, n

    def to_world(self, s, lat, h=0.0) -> np.ndarray:
        """World points [..., 3] of road coordinates (s along, lat left, h up)."""
        o, _, n = self.frame(s)
        lat = np.asarray(lat, dtype=np.float64)[..., None]
        xy = o + lat * n
        return np.concatenate([xy, np.broadcast_to(np.asarray(h, np.float64), xy.shape[:-1])[..., None]], -1)

    def place(self, s: float, lat: float, abh, yaw: float = 0.0) -> np.ndarray:
        """World points [K, 3] of local coords abh [K, 3] (a along road, b left, h up) at (s, lat), the local
        frame turned by ``yaw`` rad (counter-clockwise seen from above)."""
        o, t, n = self.frame(s)
        c, sn = np.cos(yaw), np.sin(yaw)
        t2, n2 = c * t + sn * n, -sn * t + c * n
        abh = np.asarray(abh, dtype=np.float64).reshape(-1, 3)
        base = np.array([*(o + lat * n), 0.0])
        return (
            base
            + abh[:, :1] * np.array([*t2, 0.0])
            + abh[:, 1:2] * np.array([*n2, 0.0])
            + abh[:, 2:3] * [0, 0, 1]
        )


def make_road(length: float, rng: np.random.Generator) -> Road:
    """Straights and constant-curvature bends (radius 120-500 m), sampled every metre."""
    n = int(np.ceil(length)) + 1
    kappa = np.zeros(n)
    s = 0
    while s < n:
        seg = int(rng.uniform(40, 140))
        if rng.random() < 0.55:
            kappa[s : s + seg] = rng.choice([-1, 1]) / rng.uniform(120, 500)
        s += seg
    kappa = np.convolve(kappa, np.ones(15) / 15, mode="same")  # ease in and out of bends
    heading = rng.uniform(-np.pi, np.pi) + np.concatenate([[0.0], np.cumsum(kappa[:-1])])
    step = np.stack([np.cos(heading), np.sin(heading)], axis=-1)
    xy = np.concatenate([[[0.0, 0.0]], np.cumsum((step[:-1] + step[1:]) / 2, axis=0)])
    xy += rng.uniform(-1000, 1000, size=2)
    return Road(xy, heading)


def _smooth_noise(rng: np.random.Generator, n: int, width: int, scale: float) -> np.ndarray:
    x = rng.normal(size=n + 2 * width)
    k = np.hanning(2 * width + 1)
    y = np.convolve(x, k / np.sqrt((k**2).sum()), mode="same")[width : width + n]
    return scale * y


def drive(road: Road, frames: int, rng: np.random.Generator, *, start: float = 10.0, step: float = 2.6):
    """Vehicle poses along our lanes with lane changes, sway and pitch/roll/yaw jitter.

    The speed varies smoothly around ``step`` metres per frame (1-sigma 10 %, correlated over ~3 s at
    10 frames/s: accelerations of about 1-2 m/s^2, as in traffic). Returns (poses: list[Pose], s: float
    [frames])."""
    speed = step * np.clip(1.0 + _smooth_noise(rng, frames, SPEED_CORRELATION_FRAMES, 0.10), 0.6, 1.4)
    s = start + np.concatenate([[0.0], np.cumsum(speed[:-1])])
    lane = np.full(frames, -1.75 if rng.random() < 0.5 else -5.25)
    i = 0
    while True:  # occasional smooth lane change between our two lanes
        i += int(rng.uniform(25, 70))
        if i >= frames:
            break
        old = lane[i - 1]
        ramp = np.clip((np.arange(frames - i) + 1) / 6.0, 0, 1)
        lane[i:] = old + (-2 * LANE_WIDTH - 2 * old) * ramp
    lat = lane + _smooth_noise(rng, frames, 8, 0.25)
    o, t, n = road.frame(s)
    xy = o + lat[:, None] * n
    dl = np.gradient(lat) / np.maximum(np.gradient(s), 1e-3) if frames > 1 else np.zeros(1)
    heading = np.arctan2(t[:, 1], t[:, 0]) + np.arctan(dl)
    yaw = heading + _smooth_noise(rng, frames, 3, np.radians(0.6))
    pitch = _smooth_noise(rng, frames, 2, np.radians(0.8))
    roll = _smooth_noise(rng, frames, 2, np.radians(0.7))
    z = _smooth_noise(rng, frames, 2, 0.02)
    poses = [
        Pose(float(xy[k, 0]), float(xy[k, 1]), float(z[k]), float(yaw[k]), float(pitch[k]), float(roll[k]))
        for k in range(frames)
    ]
    return poses, s
