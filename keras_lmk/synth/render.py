"""Rasterise the world through the camera with OpenCV: painter's algorithm over projected polygons.

Order: sky and far ground (split at the projected horizon), road bands and lane lines (one ``cv2.fillPoly``
per band), painted markings, then standing objects far to near by group with their decal layers. Polygons
crossing the near plane are clipped in the camera frame first. Vertices go through the camera model of
geometry/camera.py (distortion moves vertices; edges stay straight). Lighting is per polygon (sun shade,
daylight, headlights at night, emissive lamps, retro-reflective signs); weather and sensor effects are
image-space.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from keras_lmk.geometry.camera import Camera, Pose
from keras_lmk.geometry.map_ground_truth import clip_near
from keras_lmk.synth.scene import KIND_EMISSIVE, KIND_RETRO, PASS_MARKINGS, PASS_OBJECTS
from keras_lmk.synth.world import World

VIEW_DISTANCE = 160.0
SHIFT = 4  # fillPoly sub-pixel bits


@dataclass(frozen=True)
class Conditions:
    """daylight: 1 noon .. 0.5 dusk .. 0.1 night; tint: RGB gain; rain 0..1; blur: motion-blur length (px);
    noise: sensor noise sigma (grey levels); jpeg_quality 1..100."""

    daylight: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rain: float = 0.0
    blur: int = 0
    noise: float = 0.0
    jpeg_quality: int = 95

    @classmethod
    def clean(cls) -> Conditions:
        """Noon, dry, sharp, noiseless: for checking pixels against the ground truth."""
        return cls()


def sample_conditions(rng: np.random.Generator) -> Conditions:
    """Random conditions from noon to night, with rain, blur, noise and JPEG quality."""
    t = rng.random()
    if t < 0.5:
        daylight, tint = rng.uniform(0.8, 1.1), (1.0, 1.0, 1.0)
    elif t < 0.8:
        daylight, tint = rng.uniform(0.45, 0.75), (1.05, 0.9, 0.75)  # dusk: warm and dim
    else:
        daylight, tint = rng.uniform(0.1, 0.25), (0.8, 0.85, 1.05)  # night
    return Conditions(
        daylight=float(daylight),
        tint=tint,
        rain=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.25 else 0.0,
        blur=int(rng.integers(2, 8)) if rng.random() < 0.3 else 0,
        noise=float(rng.uniform(1.0, 4.0) + (6.0 if daylight < 0.3 else 0.0)),
        jpeg_quality=int(rng.integers(40, 96)),
    )


@lru_cache(maxsize=16)
def _sky(width: int, height: int, daylight: float, tint: tuple) -> np.ndarray:
    top, low = np.array([70, 120, 200.0]), np.array([190, 210, 230.0])
    if daylight < 0.8:  # dusk: orange horizon; night: dark blue
        low = low * (1 - (0.8 - daylight)) + np.array([240, 140, 70.0]) * (0.8 - daylight)
    f = np.linspace(0, 1, height)[:, None]
    rows = (top * (1 - f) + low * f) * min(daylight * 1.1, 1.0) * np.array(tint)
    return np.ascontiguousarray(
        np.broadcast_to(np.clip(rows, 0, 255)[:, None, :], (height, width, 3))
    ).astype(np.uint8)


@lru_cache(maxsize=4)
def _noise_tile(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    return (rng.standard_normal((height + 64, width + 64, 3)) * 16).clip(-127, 127).astype(np.int8)


@lru_cache(maxsize=4)
def _headlight_glow(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    g = np.exp(-(((x - width / 2) / (0.35 * width)) ** 2) - ((y - height) / (0.35 * height)) ** 2)
    return (g[..., None] * np.array([90, 85, 70], np.float32)).astype(np.uint8)


def _to_int(px: np.ndarray) -> np.ndarray:
    return np.round(np.clip(px, -2e5, 2e5) * (1 << SHIFT)).astype(np.int32)


def render_frame(
    world: World,
    camera: Camera,
    pose: Pose,
    cond: Conditions | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """RGB uint8 [H, W, 3] image of the world seen from ``pose``.

    ``rng`` drives rain streaks and noise offsets (default: a fixed one)."""
    cond = cond or Conditions.clean()
    rng = rng or np.random.default_rng(0)
    w, h, sc = camera.width, camera.height, world.scene
    r, t = camera.world_to_camera(pose)
    cam_c = -r.T @ t
    img = _sky(w, h, round(cond.daylight, 3), tuple(cond.tint)).copy()
    _far_ground(img, camera, r, cond)

    s_v = float(np.argmin(np.sum((world.road.xy - cam_c[:2]) ** 2, axis=1)))
    i0, i1 = np.searchsorted(sc.s, [s_v - 40.0, s_v + VIEW_DISTANCE + 20.0])
    if i1 <= i0:
        return _post(img, cond, rng)
    v0, v1 = sc.start[i0], sc.start[i1]
    pc = (sc.verts[v0:v1] - cam_c) @ r.T
    rel = sc.start[i0:i1] - v0
    z = pc[:, 2]
    zmin, zmax = np.minimum.reduceat(z, rel), np.maximum.reduceat(z, rel)
    facing = np.einsum("ij,ij->i", sc.normal[i0:i1], cam_c - sc.verts[sc.start[i0:i1]]) > 0
    keep = (zmax > camera.near) & (facing | ~sc.cull[i0:i1]) & (zmin < VIEW_DISTANCE)
    px = camera.camera_to_pixels(np.column_stack([pc[:, :2], np.maximum(z, camera.near)]))
    ipx = _to_int(px)
    umin, umax = np.minimum.reduceat(px[:, 0], rel), np.maximum.reduceat(px[:, 0], rel)
    vmin, vmax = np.minimum.reduceat(px[:, 1], rel), np.maximum.reduceat(px[:, 1], rel)
    crossing = zmin < camera.near
    keep &= crossing | ((umax >= 0) & (umin < w) & (vmax >= 0) & (vmin < h))

    idx = np.flatnonzero(keep)
    polys: dict[int, np.ndarray] = {}
    for k in idx:
        if crossing[k]:
            clipped = clip_near(pc[rel[k] : rel[k] + sc.start[i0 + k + 1] - sc.start[i0 + k]], camera.near)
            if len(clipped) < 3:
                continue
            polys[k] = _to_int(camera.camera_to_pixels(clipped))
        else:
            polys[k] = ipx[rel[k] : rel[k] + sc.start[i0 + k + 1] - sc.start[i0 + k]]
    idx = np.array(sorted(polys), np.int64)
    if len(idx) == 0:
        return _post(img, cond, rng)
    g = i0 + idx
    colors = _lit_colors(sc, g, np.maximum(zmin[idx], 0.0), cond)

    pass_ = sc.pass_[g]
    for batch in np.unique(sc.batch[g][pass_ < PASS_MARKINGS]):  # road bands and lines: one call each
        sel = np.flatnonzero((sc.batch[g] == batch) & (pass_ < PASS_MARKINGS))
        cv2.fillPoly(img, [polys[idx[j]] for j in sel], colors[sel[0]], cv2.LINE_8, SHIFT)
    for j in np.flatnonzero(pass_ == PASS_MARKINGS):
        cv2.fillPoly(img, [polys[idx[j]]], colors[j], cv2.LINE_8, SHIFT)
    obj = np.flatnonzero(pass_ == PASS_OBJECTS)
    if len(obj):
        grp = sc.group[g[obj]]
        anchor_d = np.linalg.norm(sc.group_anchor[grp] - cam_c, axis=1)
        front = np.einsum("ij,ij->i", sc.group_normal[grp], cam_c - sc.group_anchor[grp]) >= 0
        eff_layer = np.where(front, sc.layer[g[obj]], -sc.layer[g[obj]])
        for j in obj[np.lexsort((eff_layer, -anchor_d))]:
            cv2.fillPoly(img, [polys[idx[j]]], colors[j], cv2.LINE_8, SHIFT)
    return _post(img, cond, rng)


def _far_ground(img: np.ndarray, camera: Camera, r: np.ndarray, cond: Conditions) -> None:
    """Fill below the horizon (the vanishing line of the ground plane) with hazy far ground."""
    fwd = r.T @ np.array([0.0, 0.0, 1.0])
    yaw = np.arctan2(fwd[1], fwd[0])
    d = np.array([[np.cos(yaw + a), np.sin(yaw + a), 0.0] for a in (-0.3, 0.3)]) @ r.T
    if (d[:, 2] <= 1e-6).any():
        return
    p = camera.camera_to_pixels(d)
    slope = (p[1, 1] - p[0, 1]) / (p[1, 0] - p[0, 0])
    w, h = camera.width, camera.height
    y = lambda x: p[0, 1] + slope * (x - p[0, 0])  # noqa: E731
    poly = np.array([[-w, y(-w)], [2 * w, y(2 * w)], [2 * w, 3 * h], [-w, 3 * h]])
    col = np.array([110, 120, 100.0]) * cond.daylight * np.array(cond.tint)
    cv2.fillPoly(img, [_to_int(poly)], np.clip(col, 0, 255).tolist(), cv2.LINE_8, SHIFT)


def _lit_colors(sc, g: np.ndarray, depth: np.ndarray, cond: Conditions) -> list:
    kind = sc.kind[g]
    night = max(0.0, 0.6 - cond.daylight)
    headlight = night * 1.4 / (1 + (depth / 25.0) ** 2)
    gain = cond.daylight * sc.shade[g] + headlight * np.where(kind == KIND_RETRO, 2.5, 0.6)
    col = sc.color[g] * gain[:, None] * np.array(cond.tint)
    col = np.where((kind == KIND_EMISSIVE)[:, None], sc.color[g], col)
    return np.clip(col, 0, 255).tolist()


def _post(img: np.ndarray, cond: Conditions, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if cond.daylight < 0.45:
        img = cv2.add(img, (_headlight_glow(w, h) * (0.45 - cond.daylight)).astype(np.uint8))
    if cond.rain > 0:
        grey = np.full_like(img, int(150 * min(cond.daylight, 1.0)))
        img = cv2.addWeighted(img, 1 - 0.35 * cond.rain, grey, 0.35 * cond.rain, 0)
        n = int(300 * cond.rain)
        x0 = rng.uniform(0, w, n)
        y0 = rng.uniform(-20, h, n)
        ln = rng.uniform(6, 18, n)
        lines = np.stack([np.stack([x0, y0], 1), np.stack([x0 + 0.25 * ln, y0 + ln], 1)], 1).astype(np.int32)
        overlay = img.copy()
        cv2.polylines(overlay, list(lines), False, (200, 200, 205), 1)
        img = cv2.addWeighted(img, 0.6, overlay, 0.4, 0)
    if cond.blur > 1:
        img = cv2.blur(img, (cond.blur, max(1, cond.blur // 3)))
    if cond.noise > 0:
        tile = _noise_tile(w, h)
        oy, ox = rng.integers(0, 64, size=2)
        n = tile[oy : oy + h, ox : ox + w].astype(np.int16) * int(round(cond.noise * 16)) >> 8
        img = np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)
    return img
