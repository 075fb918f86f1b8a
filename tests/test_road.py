"""Road and vehicle trajectory (keras_lmk.synth.road): road coordinates on a hand-made straight road, the
procedural centreline's arc length and curvature, and a drive that keeps to our lanes at traffic speeds."""

import numpy as np
import pytest

from keras_lmk.synth.road import ROAD_HALF, Road, drive, make_road
from keras_lmk.synth.world import build_world


def straight_east(n: int = 21) -> Road:
    return Road(np.column_stack([np.arange(n, dtype=float), np.zeros(n)]), np.zeros(n))


def test_road_coordinates_on_a_straight_road_by_hand():
    road = straight_east()
    assert road.length == 20.0
    o, t, n = road.frame(1.5)
    np.testing.assert_allclose([o, t, n], [[1.5, 0], [1, 0], [0, 1]], atol=1e-12)
    np.testing.assert_allclose(road.frame(-5.0)[0], [0, 0])  # clipped to the road's ends
    np.testing.assert_allclose(road.frame(99.0)[0], [20, 0])
    np.testing.assert_allclose(road.to_world(2.0, 3.0, 1.0), [2, 3, 1])  # lat is to the left (north)
    np.testing.assert_allclose(
        road.to_world(np.array([0.0, 4.0]), np.array([-1.0, 1.0])), [[0, -1, 0], [4, 1, 0]]
    )
    # local (a along, b left, h up) = (1, 2, 3) at s = 2, lat = -1, turned 90 degrees counter-clockwise:
    # along points north (0, 1), left points west (-1, 0): (2, -1, 0) + (0, 1, 0) + (-2, 0, 0) + (0, 0, 3)
    np.testing.assert_allclose(road.place(2.0, -1.0, [[1, 2, 3]], yaw=np.pi / 2), [[0, 0, 3]], atol=1e-12)
    np.testing.assert_allclose(road.place(2.0, -1.0, [[1, 2, 3]]), [[3, 1, 3]])


def test_a_quarter_circle_interpolates_the_heading():
    h = np.linspace(0, np.pi / 2, 11)
    road = Road(np.column_stack([np.sin(h), 1 - np.cos(h)]) * 20 / np.pi, h)  # samples only, as given
    _, t, n = road.frame(2.5)  # halfway between samples 2 and 3: heading 2.5 * 9 degrees
    a = np.radians(22.5)
    np.testing.assert_allclose(t, [np.cos(a), np.sin(a)])
    np.testing.assert_allclose(n, [-np.sin(a), np.cos(a)])


def test_procedural_road_is_sampled_every_metre_with_gentle_bends():
    road = make_road(600, np.random.default_rng(3))
    assert len(road.xy) == 601
    step = np.linalg.norm(np.diff(road.xy, axis=0), axis=1)
    assert step == pytest.approx(np.ones(600), abs=1e-3)  # arc-length samples
    turn = np.abs(np.diff(road.heading))
    assert turn.max() <= 1 / 120 + 1e-9  # tightest bend: radius 120 m
    assert turn.max() > 1 / 600  # and it does bend


def test_the_vehicle_keeps_to_our_side_of_the_road():
    world = build_world(400, seed=1, clutter=False)
    poses, s = drive(world.road, 100, np.random.default_rng(2), step=2.6)
    assert len(poses) == 100 and s[0] == 10.0 and np.all(np.diff(s) > 0)
    o, _, n = world.road.frame(s)
    lat = np.einsum("ij,ij->i", np.array([[p.x, p.y] for p in poses]) - o, n)
    assert lat.max() < 0 and lat.min() > -ROAD_HALF  # traffic drives on the right: our two lanes


def test_vehicle_speed_changes_like_traffic():
    """10 frames/s (the video rate): a car accelerates or brakes at a few m/s^2, not several g. Position
    differences along the road give speed (m/frame) and acceleration (m/frame^2 = 100 m/s^2)."""
    world = build_world(1200, seed=2, clutter=False)
    _, s = drive(world.road, 400, np.random.default_rng(4), step=2.6)
    speed = np.diff(s)
    accel_ms2 = np.diff(speed) * 10.0 * 10.0
    assert 2.0 < speed.mean() < 3.2 and speed.min() > 0.5 * 2.6
    assert np.abs(accel_ms2).max() < 5.0, np.abs(accel_ms2).max()
    assert speed.std() > 0.05  # still varies
