"""The procedural world of one drive: road surface, lane lines, clutter, distractors and landmarks.

``build_world(length, seed)`` returns a :class:`World`: the road, the polygon :class:`Scene` the renderer
draws and the :class:`LandmarkMap` the ground truth is projected from (the same geometry, so they agree).
Landmark sites are drawn from shuffled bags so every class recurs every ~100 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy, load_taxonomy
from keras_lmk.geometry.map_ground_truth import LandmarkMap, make_landmark
from keras_lmk.synth import landmarks as lm
from keras_lmk.synth.road import ROAD_HALF, SHOULDER, SIDEWALK, Road, make_road
from keras_lmk.synth.scene import KIND_EMISSIVE, PASS_GROUND, PASS_LINES, Scene, SceneBuilder, ngon, rect

GROUND_STEP = 8.0  # metres per ground quad along the road
ASPHALT, SHOULDER_C, SIDEWALK_C, GRASS = (88, 88, 92), (80, 80, 84), (150, 146, 138), (78, 104, 58)
POLE_C = (110, 112, 116)
SIGN_CLASSES = ("warning", "regulatory", "indicating", "auxiliary", "signal")


@dataclass(frozen=True, eq=False)
class World:
    road: Road
    scene: Scene
    map: LandmarkMap
    sky: tuple[int, int, int] = (150, 185, 230)


def _ground(b: SceneBuilder, road: Road, rng: np.random.Generator) -> None:
    edge = ROAD_HALF + SHOULDER
    bands = [
        (-edge - SIDEWALK - 40, -edge - SIDEWALK, GRASS),
        (-edge - SIDEWALK, -edge, SIDEWALK_C),
        (-edge, -ROAD_HALF, SHOULDER_C),
        (-ROAD_HALF, ROAD_HALF, ASPHALT),
        (ROAD_HALF, edge, SHOULDER_C),
        (edge, edge + SIDEWALK, SIDEWALK_C),
        (edge + SIDEWALK, edge + SIDEWALK + 40, GRASS),
    ]
    lines = [
        (-ROAD_HALF - 0.15, -ROAD_HALF, (220, 220, 214)),
        (ROAD_HALF, ROAD_HALF + 0.15, (220, 220, 214)),
        (-0.25, -0.1, lm.PAINT_YELLOW),
        (0.1, 0.25, lm.PAINT_YELLOW),
    ]
    s = np.arange(0.0, road.length, GROUND_STEP)
    for s0 in s:
        s1 = min(s0 + GROUND_STEP, road.length)
        for k, (l0, l1, col) in enumerate(bands + lines):
            quad = road.to_world(np.array([s0, s1, s1, s0]), np.array([l0, l0, l1, l1]))
            b.add(
                quad,
                col,
                s=(s0 + s1) / 2,
                pass_=PASS_GROUND if k < len(bands) else PASS_LINES,
                cull=False,
                batch=k,
            )
    for s0 in np.arange(0.0, road.length - 3, 8.0):  # dashed lane lines, 3 m on / 5 m off
        for k, lc in enumerate((-3.5, 3.5)):
            quad = road.to_world(
                np.array([s0, s0 + 3, s0 + 3, s0]), np.array([lc - 0.075] * 2 + [lc + 0.075] * 2)
            )
            b.add(quad, (220, 220, 214), s=s0 + 1.5, pass_=PASS_LINES, cull=False, batch=20 + k)


def _building(
    b: SceneBuilder, road: Road, s: float, side: int, length: float, rng: np.random.Generator
) -> None:
    depth, height = rng.uniform(8, 15), rng.uniform(4, 28)
    lat = side * (ROAD_HALF + SHOULDER + SIDEWALK + rng.uniform(0.5, 6) + depth / 2)
    base = np.array(
        rng.choice([(150, 150, 150), (190, 180, 160), (150, 90, 70), (120, 130, 140), (210, 205, 195)])
    )
    g = b.group(road.place(s, lat, [[0, 0, height / 2]])[0])
    place = lambda abh: road.place(s, lat, abh)  # noqa: E731
    b.box(place, (length, depth, 0.0, height), base * rng.uniform(0.8, 1.1), s=s, group=g)
    front = -side * depth / 2  # the face towards the road, in b

    # decals on the road-facing wall: (u along the wall in the direction that keeps them counter-clockwise)
    def wall(uv):
        uv = np.asarray(uv, float)
        a = uv[:, 0] * side  # right-side buildings face +b, read left to right along +a... keep CCW
        return place(np.column_stack([a, np.full(len(uv), front - side * 0.02), uv[:, 1]]))

    for row in range(min(int(height // 3.2), 3)):
        for col in range(int(rng.integers(1, 4))):
            u0 = -length / 2 + 1 + col * (length - 2) / 3
            h0 = 4.2 + row * 3.2
            if h0 + 1.4 < height:
                b.add(wall(rect(u0, h0, u0 + 1.6, h0 + 1.4)), (50, 60, 75), s=s, group=g, layer=1)
    if rng.random() < 0.6:  # shop sign: a distractor in landmark colours
        col = [(200, 30, 30), (30, 60, 190), (235, 235, 235), (240, 200, 30), (30, 150, 60)][
            int(rng.integers(5))
        ]
        w = rng.uniform(2, min(6, length - 1))
        u0 = rng.uniform(-length / 2 + 0.5, length / 2 - w - 0.5)
        b.add(wall(rect(u0, 2.6, u0 + w, 3.5)), col, s=s, group=g, layer=1)
        b.add(
            wall(rect(u0 + 0.3, 2.8, u0 + w * 0.6, 3.3)),
            (245, 245, 245) if col[0] < 200 else (20, 20, 20),
            s=s,
            group=g,
            layer=2,
        )
        if rng.random() < 0.5:  # round logo
            b.add(
                wall(ngon(16, 0.4, cx=u0 + w - 0.5, cy=3.05)),
                (220, 20, 30) if rng.random() < 0.5 else (20, 60, 200),
                s=s,
                group=g,
                layer=2,
            )


def _tree(b: SceneBuilder, road: Road, s: float, lat: float, rng: np.random.Generator) -> None:
    g = b.group(road.place(s, lat, [[0, 0, 3]])[0])
    b.box(lambda abh: road.place(s, lat, abh), (0.3, 0.3, 0.0, 3.0), (90, 65, 45), s=s, group=g)
    r, green = rng.uniform(1.0, 1.7), (rng.uniform(30, 70), rng.uniform(80, 120), rng.uniform(30, 60))
    for yaw in (0.0, np.pi / 2):
        uv = ngon(8, r, cy=3.0 + r * 0.8) * [1, 1.2]
        abh = np.column_stack([np.zeros(8), -uv[:, 0], uv[:, 1]])
        b.add(road.place(s, lat, abh, yaw), green, s=s, group=g, layer=1, cull=False)


def _street_light(b: SceneBuilder, road: Road, s: float, side: int) -> None:
    lat = side * (ROAD_HALF + SHOULDER + 0.4)
    g = b.group(road.place(s, lat, [[0, 0, 4]])[0])
    b.box(lambda abh: road.place(s, lat, abh), (0.16, 0.16, 0.0, 8.0), POLE_C, s=s, group=g)
    b.box(
        lambda abh: road.place(s, lat - side * 1.2, abh),
        (0.12, 2.4, 7.9, 8.05),
        POLE_C,
        s=s,
        group=g,
        layer=1,
    )
    lamp = road.place(
        s,
        lat - side * 2.2,
        np.array([[-0.3, -0.15, 7.88], [0.3, -0.15, 7.88], [0.3, 0.15, 7.88], [-0.3, 0.15, 7.88]])[::-1],
    )
    b.add(lamp, (255, 240, 200), s=s, group=g, layer=2, kind=KIND_EMISSIVE, cull=False)


def _parked_car(b: SceneBuilder, road: Road, s: float, side: int, rng: np.random.Generator) -> None:
    lat = side * (ROAD_HALF + SHOULDER / 2)
    yaw = 0.0 if side < 0 else np.pi
    col = np.array(
        [(180, 20, 20), (20, 40, 150), (230, 230, 230), (30, 30, 30), (140, 140, 145)][int(rng.integers(5))]
    )
    g = b.group(road.place(s, lat, [[0, 0, 0.8]])[0])
    place = lambda abh: road.place(s, lat, abh, yaw)  # noqa: E731
    b.box(place, (4.2, 1.8, 0.25, 1.0), col, s=s, group=g)
    b.box(lambda abh: place(abh + [0.3, 0, 0]), (2.2, 1.6, 1.0, 1.5), col * 0.8, s=s, group=g, layer=1)
    # rear (-a face): tail lights, glowing at night
    for u in (-0.65, 0.65):
        uv = rect(u - 0.18, 0.65, u + 0.18, 0.85)
        b.add(
            place(np.column_stack([np.full(4, -2.11), -uv[:, 0], uv[:, 1]])),
            (230, 25, 25),
            s=s,
            group=g,
            layer=2,
            kind=KIND_EMISSIVE if side < 0 else 0,
        )


def build_world(length: float, seed: int, *, clutter: bool = True, taxonomy: Taxonomy | None = None) -> World:
    """World of ``length`` metres of road for ``seed``.

    clutter=False leaves out buildings, trees, lights, cars."""
    taxonomy = taxonomy or load_taxonomy()
    rng = np.random.default_rng([seed, 1])
    road = make_road(length, rng)
    b = SceneBuilder(sun=np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), 1.2]))
    _ground(b, road, rng)
    entries: list[tuple] = []
    sites: list[float] = []
    bag: list[str] = []
    s = 25.0
    while s < road.length - 20:
        if not bag:
            bag = list(rng.permutation(SIGN_CLASSES))
        cls = str(bag.pop())
        sites.append(s)
        side = -1 if rng.random() < 0.85 else 1
        lat = side * (ROAD_HALF + SHOULDER + rng.uniform(0.3, 1.0))
        yaw = -side * rng.uniform(0.0, 0.25)
        if cls == "signal":
            entries += _signal_site(b, road, s, rng)
        else:
            stack = [(cls, rng.uniform(0.6, 1.2))]
            if cls == "auxiliary":
                stack = [
                    (str(rng.choice(["warning", "regulatory", "indicating"])), rng.uniform(0.7, 1.1)),
                    ("auxiliary", rng.uniform(0.7, 1.1)),
                ]
            elif rng.random() < 0.25:
                stack.append((str(rng.choice(["regulatory", "indicating"])), rng.uniform(0.6, 0.9)))
            entries += lm.add_sign_pole(b, road, s, lat, yaw, stack, rng, bottom=rng.uniform(1.9, 3.2))
            if clutter and rng.random() < 0.2:  # a thin pole in front: partial occlusion
                _pole(b, road, s - rng.uniform(2, 5), lat - side * rng.uniform(0.2, 0.8))
        if rng.random() < 0.35:  # a sign for the oncoming traffic: we see its back (not in the ground truth)
            c = str(rng.choice(["warning", "regulatory", "indicating"]))
            entries += lm.add_sign_pole(
                b, road, s + rng.uniform(5, 10), ROAD_HALF + SHOULDER + 0.6, np.pi, [(c, 0.9)], rng
            )
        s += rng.uniform(16, 30)
    s = 12.0
    while s < road.length - 10:
        kind = str(rng.choice(["arrow", "arrow", "left", "right", "text"]))
        reverse = rng.random() < 0.15
        lane = (1.75 if rng.random() < 0.5 else 5.25) * (1 if reverse else -1)
        entries += lm.add_lane_marking(b, road, s, lane, kind, rng, reverse=reverse)
        s += rng.uniform(12, 26)
    if clutter:
        _clutter(b, road, rng, sites)
    lmap = LandmarkMap(
        tuple(
            make_landmark(i + 1, c, p, o, taxonomy=taxonomy, source="synth")
            for i, (c, p, o) in enumerate(entries)
        ),
        taxonomy.name,
    )
    return World(road, b.build(), lmap)


def _pole(b: SceneBuilder, road: Road, s: float, lat: float) -> None:
    g = b.group(road.place(s, lat, [[0, 0, 3]])[0])
    b.box(lambda abh: road.place(s, lat, abh), (0.14, 0.14, 0.0, 6.5), POLE_C, s=s, group=g)


def _signal_site(b: SceneBuilder, road: Road, s: float, rng: np.random.Generator) -> list[tuple]:
    """Signals on an arm or a gantry, with a stop line and crosswalk before them."""
    out = lm.add_stop_line(b, road, s - 9.0, ROAD_HALF) + lm.add_crosswalk(b, road, s - 7.5, ROAD_HALF)
    pole_l = -(ROAD_HALF + SHOULDER + 0.5)
    g = b.group(road.place(s, pole_l, [[0, 0, 3]])[0])
    b.box(lambda abh: road.place(s, pole_l, abh), (0.25, 0.25, 0.0, 6.4), POLE_C, s=s, group=g)
    gantry = rng.random() < 0.4
    if gantry:
        g2 = b.group(road.place(s, -pole_l, [[0, 0, 3]])[0])
        b.box(lambda abh: road.place(s, -pole_l, abh), (0.25, 0.25, 0.0, 6.4), POLE_C, s=s, group=g2)
        mid, width = 0.0, -2 * pole_l
    else:
        mid, width = (pole_l - 1.0) / 2, -1.0 - pole_l
    g3 = b.group(road.place(s, mid, [[0, 0, 6.3]])[0])
    b.box(lambda abh: road.place(s, mid, abh), (0.2, width, 6.2, 6.4), POLE_C, s=s, group=g3)
    lanes = [-1.75, -5.25] if gantry or rng.random() < 0.4 else [float(rng.choice([-1.75, -3.5, -5.25]))]
    for lane in lanes:
        out += lm.add_signal(b, road, s, lane, 5.75, rng)
    if rng.random() < 0.35:  # a second, vertical signal on the pole
        out += lm.add_signal(b, road, s - 0.2, pole_l + 0.3, 3.6, rng, vertical=True)
    return out


def _clutter(b: SceneBuilder, road: Road, rng: np.random.Generator, sites: list[float]) -> None:
    near_site = lambda s, r: any(abs(s - q) < r for q in sites)  # noqa: E731
    for side in (-1, 1):
        s = rng.uniform(0, 10)
        while s < road.length - 10:
            length = rng.uniform(8, 25)
            _building(b, road, s + length / 2, side, length, rng)
            s += length + rng.uniform(0, 8)
        s = rng.uniform(0, 15)
        while s < road.length:
            if not near_site(s, 6):
                _tree(b, road, s, side * (ROAD_HALF + SHOULDER + SIDEWALK - 0.9), rng)
            s += rng.uniform(9, 22)
        for s in np.arange(rng.uniform(0, 30), road.length, 35.0):
            _street_light(b, road, s, side)
        s = rng.uniform(5, 30)
        while s < road.length - 5:
            if rng.random() < 0.5:
                _parked_car(b, road, s, side, rng)
            s += rng.uniform(10, 40)
