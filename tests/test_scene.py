"""Polygon soup of the synthetic world (keras_lmk.synth.scene): normals, polygon helpers, shading, boxes and
the flat arrays the renderer reads, against hand-computed values."""

import numpy as np
import pytest

from keras_lmk.synth.scene import KIND_EMISSIVE, PASS_MARKINGS, SceneBuilder, newell_normal, ngon, rect


def test_newell_normal_follows_the_counter_clockwise_order():
    square = np.array([[0, 0, 0], [2, 0, 0], [2, 2, 0], [0, 2, 0]], float)  # CCW seen from +z
    np.testing.assert_allclose(newell_normal(square), [0, 0, 1])
    np.testing.assert_allclose(newell_normal(square[::-1]), [0, 0, -1])
    wall = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]], float)
    expect = np.cross(wall[1] - wall[0], wall[2] - wall[1])  # (0, 1, 0) x (0, 0, 1) = (1, 0, 0)
    np.testing.assert_allclose(newell_normal(wall), expect)
    tilted = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]], float)  # a 45-degree roof
    np.testing.assert_allclose(newell_normal(tilted), np.array([-1, 0, 1]) / np.sqrt(2))


def test_ngon_and_rect_by_hand():
    np.testing.assert_allclose(ngon(4, 2.0), [[2, 0], [0, 2], [-2, 0], [0, -2]], atol=1e-12)
    np.testing.assert_allclose(ngon(2, 1.0, phase=np.pi / 2, cx=3, cy=-1), [[3, 0], [3, -2]], atol=1e-12)
    np.testing.assert_array_equal(rect(0, 1, 2, 3), [[0, 1], [2, 1], [2, 3], [0, 3]])


def test_shading_from_the_sun_and_emissive_faces():
    b = SceneBuilder(sun=np.array([0.0, 0.0, 5.0]))  # normalised: straight overhead
    up = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]
    b.add(up, (10, 20, 30), s=0.0)  # facing the sun: 0.62 + 0.38
    b.add([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], (1, 1, 1), s=1.0)  # a wall: sky light only
    b.add(up[::-1], (1, 1, 1), s=2.0)  # facing the ground
    b.add(up[::-1], (1, 1, 1), s=3.0, kind=KIND_EMISSIVE)  # a lamp is not shaded
    assert b.build().shade.tolist() == pytest.approx([1.0, 0.62, 0.62, 1.0])


def test_build_sorts_by_road_position_into_flat_arrays():
    b = SceneBuilder(sun=np.array([0.0, 0.0, 1.0]))
    g = b.group((1, 2, 3), (0, -1, 0))
    quad = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]
    tri = [[5, 0, 0], [6, 0, 0], [5, 1, 0]]
    b.add(quad, (1, 2, 3), s=9.0, group=g, layer=2)
    b.add(tri, (4, 5, 6), s=4.0, pass_=PASS_MARKINGS, cull=False)
    sc = b.build()
    assert sc.s.tolist() == [4.0, 9.0] and sc.start.tolist() == [0, 3, 7]
    np.testing.assert_array_equal(sc.verts[0:3], tri)
    np.testing.assert_array_equal(sc.verts[3:7], quad)
    assert sc.color.tolist() == [[4, 5, 6], [1, 2, 3]]
    assert sc.pass_.tolist() == [PASS_MARKINGS, 3] and sc.cull.tolist() == [False, True]
    assert sc.group.tolist() == [-1, 0] and sc.layer.tolist() == [0, 2]
    assert sc.group_anchor.tolist() == [[1, 2, 3]] and sc.group_normal.tolist() == [[0, -1, 0]]


def test_box_faces_point_outwards():
    b = SceneBuilder(sun=np.array([0.0, 0.0, 1.0]))
    b.box(lambda abh: abh + [10, 20, 0], (2.0, 4.0, 0.0, 1.0), (9, 9, 9), s=0.0, group=-1, top=True)
    sc = b.build()
    assert len(sc.s) == 5
    normals = {tuple(np.round(n, 9) + 0.0) for n in sc.normal}  # + 0.0: no negative zeros
    assert normals == {(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, 1)}
    for i, n in enumerate(sc.normal):
        face = sc.verts[sc.start[i] : sc.start[i + 1]]
        assert n @ (face.mean(0) - [10, 20, 0.5]) > 0
        # every face spans the box: x in 9..11, y in 18..22, z in 0..1
        assert np.all(face.min(0) >= [9, 18, 0]) and np.all(face.max(0) <= [11, 22, 1])
