"""Polygon soup of the synthetic world: what the renderer draws, built once per drive.

Every polygon is planar, lists its vertices counter-clockwise seen from its front, and carries a colour
(RGB 0..255), a draw pass (ground before markings before standing objects), a group and a layer. Standing
objects are drawn far to near by group (painter's algorithm); inside a group, layers stack decals on their
base (a sign face on its back plate on its pole). When the camera is behind a group's front, the layer
order flips (a pole then covers the back of its sign).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PASS_GROUND, PASS_LINES, PASS_MARKINGS, PASS_OBJECTS = 0, 1, 2, 3
KIND_DIFFUSE, KIND_EMISSIVE, KIND_RETRO = 0, 1, 2


def newell_normal(poly: np.ndarray) -> np.ndarray:
    q = np.roll(poly, -1, axis=0)
    n = np.array(
        [
            np.sum((poly[:, 1] - q[:, 1]) * (poly[:, 2] + q[:, 2])),
            np.sum((poly[:, 2] - q[:, 2]) * (poly[:, 0] + q[:, 0])),
            np.sum((poly[:, 0] - q[:, 0]) * (poly[:, 1] + q[:, 1])),
        ]
    )
    return n / max(float(np.linalg.norm(n)), 1e-12)


def ngon(n: int, r: float, *, phase: float = 0.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """Counter-clockwise regular polygon in a (u right, v up) plane, float [n, 2]."""
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=-1)


def rect(u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Scene:
    """Flat arrays, polygons sorted by road position s.

    Vertices of polygon i: ``verts[start[i]:start[i + 1]]``."""

    verts: np.ndarray  # float [V, 3]
    start: np.ndarray  # int [P + 1]
    color: np.ndarray  # float [P, 3] RGB
    normal: np.ndarray  # float [P, 3]
    pass_: np.ndarray  # int [P]
    group: np.ndarray  # int [P]
    layer: np.ndarray  # int [P]
    cull: np.ndarray  # bool [P] (front-only)
    kind: np.ndarray  # int [P]
    shade: np.ndarray  # float [P] static lighting factor
    batch: np.ndarray  # int [P] ground band id (drawn together) or -1
    s: np.ndarray  # float [P] road position (sorted)
    group_anchor: np.ndarray  # float [G, 3]
    group_normal: np.ndarray  # float [G, 3] (zero: no layer flip)


class SceneBuilder:
    def __init__(self, sun: np.ndarray):
        self.sun = sun / np.linalg.norm(sun)
        self.polys: list[tuple] = []
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []

    def group(self, anchor, normal=(0.0, 0.0, 0.0)) -> int:
        self.groups.append((np.asarray(anchor, np.float64), np.asarray(normal, np.float64)))
        return len(self.groups) - 1

    def add(
        self,
        verts,
        color,
        *,
        s: float,
        group: int = -1,
        layer: int = 0,
        pass_: int = PASS_OBJECTS,
        cull: bool = True,
        kind: int = KIND_DIFFUSE,
        batch: int = -1,
    ) -> None:
        verts = np.asarray(verts, np.float64)
        n = newell_normal(verts)
        # matte Lambert-ish shading from a fixed sun; faces away from it still get sky light
        shade = 1.0 if kind == KIND_EMISSIVE else 0.62 + 0.38 * max(float(n @ self.sun), 0.0)
        self.polys.append(
            (verts, np.asarray(color, np.float64), n, pass_, group, layer, cull, kind, shade, batch, s)
        )

    def box(
        self, corners_fn, size, color, *, s: float, group: int, layer: int = 0, top: bool = False
    ) -> None:
        """Axis box in a local frame: ``corners_fn(abh [K, 3]) -> world [K, 3]``; size (la, lb, h0, h1)."""
        la, lb, h0, h1 = size
        a, b = la / 2, lb / 2
        faces = [
            [(-a, b, h0), (-a, -b, h0), (-a, -b, h1), (-a, b, h1)],  # -a (towards approaching traffic)
            [(a, -b, h0), (a, b, h0), (a, b, h1), (a, -b, h1)],  # +a
            [(-a, -b, h0), (a, -b, h0), (a, -b, h1), (-a, -b, h1)],  # -b (right)
            [(a, b, h0), (-a, b, h0), (-a, b, h1), (a, b, h1)],  # +b (left)
        ]
        if top:
            faces.append([(-a, -b, h1), (a, -b, h1), (a, b, h1), (-a, b, h1)])
        center = corners_fn(np.array([[0.0, 0.0, (h0 + h1) / 2]]))[0]
        for f in faces:
            w = corners_fn(np.array(f, np.float64))
            if newell_normal(w) @ (w.mean(0) - center) < 0:  # keep the front outside
                w = w[::-1]
            self.add(w, color, s=s, group=group, layer=layer)

    def build(self) -> Scene:
        order = sorted(range(len(self.polys)), key=lambda i: self.polys[i][10])
        p = [self.polys[i] for i in order]
        lens = np.array([len(q[0]) for q in p], np.int64)
        groups = self.groups or [(np.zeros(3), np.zeros(3))]
        return Scene(
            verts=np.concatenate([q[0] for q in p]),
            start=np.concatenate([[0], np.cumsum(lens)]),
            color=np.array([q[1] for q in p]),
            normal=np.array([q[2] for q in p]),
            pass_=np.array([q[3] for q in p], np.int64),
            group=np.array([q[4] for q in p], np.int64),
            layer=np.array([q[5] for q in p], np.int64),
            cull=np.array([q[6] for q in p], bool),
            kind=np.array([q[7] for q in p], np.int64),
            shade=np.array([q[8] for q in p]),
            batch=np.array([q[9] for q in p], np.int64),
            s=np.array([q[10] for q in p]),
            group_anchor=np.array([g[0] for g in groups]),
            group_normal=np.array([g[1] for g in groups]),
        )
