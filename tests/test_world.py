"""The procedural world of one drive (keras_lmk.synth.world): a function of its seed, every class within the
first bag of sites, and each landmark where the method expects it (signs beside the road facing traffic,
markings painted on our side's lanes, signals overhead)."""

import numpy as np

from keras_lmk.synth.road import ROAD_HALF, SHOULDER
from keras_lmk.synth.world import SIGN_CLASSES, build_world


def road_coordinates(road, points):
    """(s, lat) of world points [N, 3]: the nearest centreline sample, lat along its left normal."""
    d = np.linalg.norm(points[:, None, :2] - road.xy[None], axis=-1)
    s = d.argmin(1).astype(float)
    o, _, n = road.frame(s)
    return s, np.einsum("ij,ij->i", points[:, :2] - o, n)


def test_same_seed_same_world_other_seed_differs():
    a, b, c = (build_world(200, seed, clutter=False) for seed in (7, 7, 8))
    assert a.map.to_json() == b.map.to_json() and np.array_equal(a.scene.verts, b.scene.verts)
    assert a.map.to_json() != c.map.to_json()


def test_every_class_is_placed_where_it_belongs():
    world = build_world(200, seed=3, clutter=False)
    lms = world.map.landmarks
    assert [lm.id for lm in lms] == list(range(1, len(lms) + 1))
    # sites 16-30 m apart from s = 25 draw from a shuffled bag of the five sign classes: the first bag is
    # used up by s = 25 + 4 * 30 = 145 m, inside 200 m; lane markings start at s = 12
    assert {lm.cls for lm in lms} == {*SIGN_CLASSES, "road_marking"}
    points = np.array([lm.point for lm in lms])
    s, lat = road_coordinates(world.road, points)
    for lm, z, side in zip(lms, points[:, 2], lat, strict=True):
        if lm.cls == "road_marking":
            assert z == 0 and abs(side) <= ROAD_HALF + 0.1, (lm.id, side)  # paint on the carriageway
        elif lm.cls == "signal":
            assert z > 3.0, (lm.id, z)  # on an arm, a gantry or high on its pole
        else:
            assert abs(side) > ROAD_HALF + SHOULDER - 0.2 and z > 1.9, (lm.id, lm.cls, side, z)
    assert np.all((s >= 0) & (s <= world.road.length))


def test_clutter_adds_scenery_but_no_landmark_class():
    bare, full = build_world(150, seed=4, clutter=False), build_world(150, seed=4)
    assert len(full.scene.s) > len(bare.scene.s)
    assert {lm.cls for lm in full.map.landmarks} <= {*SIGN_CLASSES, "road_marking"}
