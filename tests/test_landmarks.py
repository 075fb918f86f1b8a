"""Landmark geometry of the synthetic world (keras_lmk.synth.landmarks) on a straight road heading east
(traffic comes from -x): reference points and outlines by hand, and the faces they are drawn with."""

import numpy as np
import pytest

from keras_lmk.synth import landmarks as lm
from keras_lmk.synth.road import Road
from keras_lmk.synth.scene import PASS_MARKINGS, SceneBuilder


def straight_east(n: int = 101) -> Road:
    return Road(np.column_stack([np.arange(n, dtype=float), np.zeros(n)]), np.zeros(n))


ROAD = straight_east()


def builder() -> SceneBuilder:
    return SceneBuilder(sun=np.array([0.0, 0.0, 1.0]))


def test_a_marking_point_is_the_near_right_corner_of_its_outline():
    b = builder()
    # an arrow 5 m long, 1 m wide (head), at s = 20 in the lane centred at lat = -1.75. Its outline is the
    # rectangle a in [0, 5], b in [-0.5, 0.5]; the point is the outline's near (a = 0) right (b = -0.5)
    # corner, (20, -2.25, 0), as the real marking quads mark the lower-right vertex of the outline, not the
    # nearest paint vertex (the shaft's corner, b = -0.15)
    ((cls, point, outline),) = lm.add_lane_marking(b, ROAD, 20.0, -1.75, "arrow", np.random.default_rng(0))
    assert cls == "road_marking"
    np.testing.assert_allclose(point, [20.0, -2.25, 0.0])
    np.testing.assert_allclose(outline, [[20, -2.25, 0], [25, -2.25, 0], [25, -1.25, 0], [20, -1.25, 0]])
    sc = b.build()
    assert len(sc.s) == 1 and sc.pass_.tolist() == [PASS_MARKINGS] and sc.cull.tolist() == [False]
    assert np.all(sc.verts[:, 2] == 0)  # paint lies on the road


def test_a_right_turn_arrow_point_is_its_outline_corner_not_its_shaft():
    # the right-turn arrow's head reaches b = -1.5 (shape 'right' = 'left' mirrored): outline corner (0, -1.5)
    ((_, point, outline),) = lm.add_lane_marking(builder(), ROAD, 20.0, 0.0, "right", None)
    np.testing.assert_allclose(point, [20.0, -1.5, 0.0])
    assert np.any(np.all(np.isclose(outline, point), axis=1))  # the point is a vertex of the outline


def test_a_reversed_marking_is_turned_half_round():
    # the oncoming lane's arrow points at us: its outline spans a in [-5, 0] and b in [-0.5, 0.5] around
    # lat = 1.75; the point is the near right corner (15, 1.25, 0), not the tip (15, 1.75, 0)
    ((_, point, _),) = lm.add_lane_marking(builder(), ROAD, 20.0, 1.75, "arrow", None, reverse=True)
    np.testing.assert_allclose(point, [15.0, 1.25, 0.0])


def test_stop_line_and_crosswalk_points():
    ((_, point, outline),) = lm.add_stop_line(builder(), ROAD, 30.0, 7.0)
    np.testing.assert_allclose(point, [30.0, -6.85, 0.0])  # rect(0, -half + 0.15, 0.45, -0.25)
    np.testing.assert_allclose(outline[2], [30.45, -0.25, 0.0])
    walk = lm.add_crosswalk(builder(), ROAD, 40.0, 7.0)
    assert [c for c, _, _ in walk] == ["road_marking", "road_marking"]  # one per direction
    # stripes start at |b| = 0.3 + 0.9 k while that is < half - 0.3 (k = 0..7, the last 6.6..7.05): our
    # half's rightmost stripe edge is b = -7.05, the other half's is b = +0.3
    np.testing.assert_allclose([p for _, p, _ in walk], [[40, -7.05, 0], [40, 0.3, 0]])


def test_a_sign_point_is_the_centre_of_its_face_facing_traffic():
    b = builder()
    # an auxiliary plate 1 m x 0.36 m, bottom edge 2 m up, on a pole at (50, -9): the face is 0.06 m in front
    # of the pole's axis (towards -x), its centre 0.18 m above the bottom
    ((cls, point, outline),) = lm.add_sign_pole(
        b, ROAD, 50.0, -9.0, 0.0, [("auxiliary", 1.0)], np.random.default_rng(0), bottom=2.0
    )
    assert cls == "auxiliary"
    np.testing.assert_allclose(point, [49.94, -9.0, 2.18])
    np.testing.assert_allclose(outline[:, 0], 49.94)
    np.testing.assert_allclose(np.ptp(outline[:, 1]), 1.0)
    np.testing.assert_allclose([outline[:, 2].min(), outline[:, 2].max()], [2.0, 2.36])
    sc = b.build()
    faces = sc.layer >= 2  # the printed layers, in front of the back plate (1) and the pole (0)
    np.testing.assert_allclose(sc.normal[faces], np.tile([-1.0, 0, 0], (faces.sum(), 1)), atol=1e-12)


def test_stacked_signs_go_top_down_with_a_gap():
    stack = [("auxiliary", 1.0), ("auxiliary", 0.5)]  # plates 0.36 m and 0.18 m high, 0.08 m apart
    out = lm.add_sign_pole(builder(), ROAD, 50.0, -9.0, 0.0, stack, np.random.default_rng(0), bottom=2.0)
    # top = 2 + 0.36 + 0.18 + 0.08 = 2.62: first centre 2.62 - 0.18, second 2.62 - 0.36 - 0.08 - 0.09
    np.testing.assert_allclose([p[2] for _, p, _ in out], [2.44, 2.09])


def test_a_signal_point_is_its_housing_centre():
    b = builder()
    ((cls, point, outline),) = lm.add_signal(b, ROAD, 60.0, -1.75, 5.75, np.random.default_rng(1))
    assert cls == "signal"
    np.testing.assert_allclose(point, [59.85, -1.75, 5.75])  # the housing's front, 0.15 m towards traffic
    np.testing.assert_allclose(outline.mean(0), point, atol=1e-12)
    lit = b.build().kind == lm.KIND_EMISSIVE
    assert lit.sum() == 1  # one lamp lit


def test_unknown_sign_class_is_an_error():
    with pytest.raises(ValueError, match="no sign design"):
        lm.add_sign_pole(builder(), ROAD, 50.0, -9.0, 0.0, [("lighthouse", 1.0)], np.random.default_rng(0))


@pytest.mark.parametrize(
    "kind, lat, reverse",
    [("arrow", -1.75, False), ("right", -1.75, False), ("left", 1.75, False), ("arrow", 1.75, True)],
)
def test_projected_marking_point_follows_the_real_quad_rule(kind, lat, reverse):
    # the real marking quads' rule (taxonomy.outline_point: of the outline's two lowest image vertices, the
    # right one) applied to the projected outline picks the projected synthetic point, for our lane's and
    # the oncoming lane's markings, seen from a camera 1.5 m up in our lane looking along the road
    from keras_lmk.data.taxonomy import outline_point
    from keras_lmk.geometry.camera import Camera, Mount, Pose

    cam = Camera(600.0, 600.0, 640.0, 360.0, 1280, 720, mount=Mount(z=1.5))
    pose = Pose(x=5.0, y=-1.75)
    ((_, point, outline),) = lm.add_lane_marking(builder(), ROAD, 20.0, lat, kind, None, reverse=reverse)
    px = cam.project(np.vstack([outline, point]), pose).pixels
    np.testing.assert_allclose(outline_point(px[:4, 0], px[:4, 1], "bbox_bottom_right"), px[4], atol=1e-3)
