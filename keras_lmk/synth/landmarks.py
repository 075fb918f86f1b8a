"""Landmark geometry of the synthetic world: signs on poles, signals, painted road markings.

Each ``add_*`` function draws into a :class:`SceneBuilder` and returns the map entries
``(class, point [3], outline [K, 3])`` it created. Faces are built in a (u right, v up) plane seen from the
front and stand facing approaching traffic; markings are built in road coordinates (a along, b left).
A sign's point is its face's box centre; a marking's point is the near (smallest a), right (smallest b)
corner of its outline rectangle: the "lower-right end" seen from the lane, the vertex the real marking quads
mark (of the outline's two lowest vertices in the image, the right one). An oncoming-lane arrow therefore
gets its outline's corner, not its tip.
"""

from __future__ import annotations

import numpy as np

from keras_lmk.synth.road import Road
from keras_lmk.synth.scene import KIND_EMISSIVE, KIND_RETRO, PASS_MARKINGS, SceneBuilder, ngon, rect

RED, WHITE, YELLOW, BLUE, BLACK = (200, 22, 28), (238, 238, 232), (250, 196, 20), (20, 70, 190), (22, 22, 22)
POLE = (120, 122, 126)
PAINT_WHITE, PAINT_YELLOW = (228, 228, 222), (232, 184, 40)
LAMP = {"red": (255, 45, 30), "yellow": (255, 190, 0), "green": (30, 235, 130)}


def _face(
    road: Road, s: float, lat: float, yaw: float, uv: np.ndarray, h0: float, offset: float
) -> np.ndarray:
    uv = np.asarray(uv, np.float64)
    abh = np.column_stack([np.full(len(uv), -offset), -uv[:, 0], h0 + uv[:, 1]])
    return road.place(s, lat, abh, yaw)


def _center_uv(uv: np.ndarray) -> np.ndarray:
    return (uv.min(0) + uv.max(0)) / 2


def _sign_design(cls: str, d: float, rng: np.random.Generator) -> list[tuple[np.ndarray, tuple]]:
    """Stacked (uv polygon, RGB) layers of one sign face, outer first; centred near (0, 0)."""
    if cls == "warning":
        r = d / np.sqrt(3)
        outer = ngon(3, r, phase=np.pi / 2)
        fill = YELLOW if rng.random() < 0.7 else WHITE
        sym = rect(-0.05 * d, -0.12 * d, 0.05 * d, 0.22 * d) if rng.random() < 0.5 else ngon(4, 0.16 * d)
        return [(outer, RED), (ngon(3, r * 0.7, phase=np.pi / 2), fill), (sym, BLACK)]
    if cls == "regulatory":
        kind = rng.integers(3)
        if kind == 0:  # stop: octagon
            return [
                (ngon(8, d / 2, phase=np.pi / 8), WHITE),
                (ngon(8, d * 0.46, phase=np.pi / 8), RED),
                (rect(-0.3 * d, -0.08 * d, 0.3 * d, 0.08 * d), WHITE),
            ]
        layers = [(ngon(20, d / 2), RED), (ngon(20, d * 0.38), WHITE)]
        if kind == 1:  # speed limit: numerals
            layers += [
                (rect(-0.2 * d, -0.15 * d, -0.04 * d, 0.15 * d), BLACK),
                (rect(0.04 * d, -0.15 * d, 0.2 * d, 0.15 * d), BLACK),
            ]
        else:  # prohibition: slash
            c, sn = np.cos(np.pi / 4), np.sin(np.pi / 4)
            bar = rect(-0.38 * d, -0.05 * d, 0.38 * d, 0.05 * d) @ np.array([[c, sn], [-sn, c]])
            layers += [(ngon(4, 0.12 * d), BLACK), (bar, RED)]
        return layers
    if cls == "indicating":
        if rng.random() < 0.5:
            arrow = (
                np.array(
                    [
                        [-0.06, -0.3],
                        [0.06, -0.3],
                        [0.06, 0.05],
                        [0.18, 0.05],
                        [0, 0.3],
                        [-0.18, 0.05],
                        [-0.06, 0.05],
                    ]
                )
                * d
            )
            return [(ngon(20, d / 2), BLUE), (arrow, WHITE)]
        w = d * rng.uniform(0.9, 1.3)
        return [(rect(-w / 2, -d / 2, w / 2, d / 2), BLUE), (ngon(3, 0.3 * d, phase=np.pi / 2), WHITE)]
    if cls == "auxiliary":
        w, h = d, d * 0.36
        layers = [
            (rect(-w / 2, -h / 2, w / 2, h / 2), BLACK),
            (rect(-w / 2 + 0.025, -h / 2 + 0.025, w / 2 - 0.025, h / 2 - 0.025), WHITE),
        ]
        for k in range(int(rng.integers(2, 4))):
            x0 = -w * 0.38 + k * w * 0.27
            layers.append((rect(x0, -h * 0.22, x0 + w * 0.2, h * 0.22), BLACK))
        return layers
    raise ValueError(f"no sign design for class {cls!r}")


def add_sign_pole(
    b: SceneBuilder,
    road: Road,
    s: float,
    lat: float,
    yaw: float,
    signs: list[tuple[str, float]],
    rng: np.random.Generator,
    *,
    bottom: float = 2.0,
) -> list[tuple]:
    """A pole with signs stacked top down (first = top), faces towards approaching traffic turned by yaw."""
    designs = [(cls, _sign_design(cls, d, rng)) for cls, d in signs]
    heights = [float(np.ptp(layers[0][0][:, 1])) for _, layers in designs]
    top = bottom + sum(heights) + 0.08 * (len(designs) - 1)
    normal = road.place(s, lat, [[-1.0, 0, 0]], yaw)[0] - road.place(s, lat, [[0, 0, 0]], yaw)[0]
    g = b.group(_face(road, s, lat, yaw, [[0, top - bottom]], bottom, 0.0)[0], normal)
    w = 0.05
    b.box(lambda abh: road.place(s, lat, abh, yaw), (w * 2, w * 2, 0.0, top + 0.05), POLE, s=s, group=g)
    out, v_top = [], top
    for cls, layers in designs:
        uv0 = layers[0][0]
        h0 = v_top - uv0[:, 1].max()  # this sign's centre height offset
        b.add(_face(road, s, lat, yaw, uv0[::-1], h0, w + 0.005), (150, 150, 150), s=s, group=g, layer=1)
        for k, (uv, col) in enumerate(layers):
            b.add(_face(road, s, lat, yaw, uv, h0, w + 0.01), col, s=s, group=g, layer=2 + k, kind=KIND_RETRO)
        point = _face(road, s, lat, yaw, [_center_uv(uv0)], h0, w + 0.01)[0]
        out.append((cls, point, _face(road, s, lat, yaw, uv0, h0, w + 0.01)))
        v_top -= np.ptp(uv0[:, 1]) + 0.08
    return out


def add_signal(
    b: SceneBuilder,
    road: Road,
    s: float,
    lat: float,
    h: float,
    rng: np.random.Generator,
    *,
    vertical: bool = False,
    group: int | None = None,
    layer: int = 0,
) -> list[tuple]:
    """A signal housing centred at (s, lat, h) facing approaching traffic with one lamp lit."""
    n = 3 if vertical or rng.random() < 0.5 else 4
    lamp_r, pitch = 0.12, 0.32
    long, short = n * pitch + 0.06, 0.38
    w, hh = (short, long) if vertical else (long, short)
    if group is None:
        normal = road.place(s, lat, [[-1.0, 0, 0]])[0] - road.place(s, lat, [[0, 0, 0]])[0]
        group = b.group(road.place(s, lat, [[0, 0, h]])[0], normal)
    b.box(
        lambda abh: road.place(s, lat, abh),
        (0.3, w, h - hh / 2, h + hh / 2),
        BLACK,
        s=s,
        group=group,
        layer=layer,
    )
    lit = int(rng.integers(n))
    colours = ["red", "yellow", "green", "green"][:n]
    for k in range(n):
        off = (k - (n - 1) / 2) * pitch
        c = (0.0, -off) if vertical else (off, 0.0)
        col, kind = (LAMP[colours[k]], KIND_EMISSIVE) if k == lit else ((48, 48, 46), 0)
        uv = ngon(12, lamp_r, cx=c[0], cy=c[1])
        b.add(
            _face(road, s, lat, 0.0, uv, h, 0.15 + 0.005), col, s=s, group=group, layer=layer + 1, kind=kind
        )
    face = rect(-w / 2, -hh / 2, w / 2, hh / 2)
    return [
        (
            "signal",
            _face(road, s, lat, 0.0, [[0.0, 0.0]], h, 0.15)[0],
            _face(road, s, lat, 0.0, face, h, 0.15),
        )
    ]


def _marking_shapes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Paint polygons in (a along, b left) metres, counter-clockwise seen from above."""
    if kind == "arrow":
        return [np.array([[0, -0.15], [3, -0.15], [3, -0.5], [5, 0], [3, 0.5], [3, 0.15], [0, 0.15]], float)]
    if kind in ("left", "right"):
        p = np.array(
            [
                [0, -0.15],
                [3, -0.15],
                [3, 0.9],
                [3.25, 0.9],
                [2.85, 1.5],
                [2.45, 0.9],
                [2.7, 0.9],
                [2.7, 0.15],
                [0, 0.15],
            ],
            float,
        )
        return [p] if kind == "left" else [(p * [1, -1])[::-1]]
    if kind == "text":
        polys = []
        for g in range(int(rng.integers(2, 4))):
            a0 = g * 2.3
            parts = [
                rect(a0, -0.6, a0 + 0.3, 0.6),
                rect(a0 + 1.5, -0.6, a0 + 1.8, 0.6),
                rect(a0, -0.6, a0 + 1.8, -0.3),
                rect(a0 + 0.3, 0.3, a0 + 1.5, 0.6),
                rect(a0 + 0.75, -0.3, a0 + 1.05, 0.3),
            ]
            keep = rng.permutation(len(parts))[: int(rng.integers(2, 4))]
            polys += [parts[k] for k in sorted(keep)]
        return polys
    raise ValueError(kind)


def add_marking(
    b: SceneBuilder,
    road: Road,
    s: float,
    lat: float,
    polys: list[np.ndarray],
    *,
    color=PAINT_WHITE,
    reverse: bool = False,
) -> list[tuple]:
    """Paint polygons (a, b) at road position (s, lat); reverse turns them 180 degrees (oncoming lane)."""
    if reverse:
        polys = [-p for p in polys]
    allp = np.concatenate(polys)
    for p in polys:
        b.add(
            road.place(s, lat, np.column_stack([p, np.zeros(len(p))])),
            color,
            s=s,
            pass_=PASS_MARKINGS,
            cull=False,
        )
    box = rect(*allp.min(0), *allp.max(0))
    ref = allp.min(0)  # the outline's near (smallest a), right (smallest b) corner
    return [
        (
            "road_marking",
            road.place(s, lat, [[*ref, 0.0]])[0],
            road.place(s, lat, np.column_stack([box, np.zeros(4)])),
        )
    ]


def add_lane_marking(b: SceneBuilder, road: Road, s: float, lat: float, kind: str, rng, *, reverse=False):
    return add_marking(b, road, s, lat, _marking_shapes(kind, rng), reverse=reverse)


def add_stop_line(b: SceneBuilder, road: Road, s: float, half: float) -> list[tuple]:
    return add_marking(b, road, s, 0.0, [rect(0, -half + 0.15, 0.45, -0.25)])


def add_crosswalk(b: SceneBuilder, road: Road, s: float, half: float) -> list[tuple]:
    """Zebra stripes across the road (parallel to traffic), one landmark per direction's half."""
    out = []
    for sign in (-1, 1):
        edges = np.arange(0.3, half - 0.3, 0.9)
        polys = [rect(0, sign * e, 3.5, sign * (e + 0.45)) for e in edges]
        polys = [p if sign > 0 else p[[1, 0, 3, 2]] for p in polys]
        out += add_marking(b, road, s, 0.0, polys)
    return out
