"""Map -> per-frame ground truth on a tiny hand-built map with hand-computed pixels."""

import json

import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.geometry.camera import Camera, GeometryError, Mount, Pose
from keras_lmk.geometry.map_ground_truth import (
    LandmarkMap,
    faces_camera,
    facing_normals,
    frame_ground_truth,
    load_map,
    make_landmark,
    save_map,
)

TAX = load_taxonomy()
CAM = Camera(100.0, 100.0, 50.0, 40.0, 100, 80)  # camera at the vehicle origin, looking along world x


def square(x, y, z, half, *, front=True):
    """Vertical square facing -x (towards the camera) when front, counter-clockwise seen from its front."""
    # seen from -x looking +x: right = -y, up = +z
    uv = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    pts = np.array([[x, y - u, z + v] for u, v in uv])
    return pts if front else pts[::-1]


def lm(i, cls, point, outline):
    return make_landmark(i, cls, point, outline, taxonomy=TAX)


def test_sign_ahead_hand_computed():
    m = LandmarkMap((lm(1, "warning", [10, 0, 0], square(10, 0, 0, 0.5)),))
    rec = frame_ground_truth(m, CAM, Pose(), taxonomy=TAX, image_path="/x.jpg", image_id=3)
    np.testing.assert_allclose(rec.boxes, [[45, 35, 55, 45]], atol=1e-5)
    np.testing.assert_allclose(rec.points, [[50, 40]])
    assert rec.classes.tolist() == [TAX.class_id("warning")]
    assert rec.landmark_ids.tolist() == [1] and rec.distances[0] == pytest.approx(10)
    assert (rec.image_path, rec.image_id, rec.width, rec.height) == ("/x.jpg", 3, 100, 80)


def test_culling():
    m = LandmarkMap(
        (
            lm(1, "regulatory", [10, 0, 0], square(10, 0, 0, 0.5, front=False)),  # back of a sign
            lm(2, "regulatory", [-10, 0, 0], square(-10, 0, 0, 0.5)),  # behind the camera
            lm(3, "regulatory", [10, -30, 0], square(10, -30, 0, 0.5)),  # outside the image
            lm(4, "regulatory", [90, 0, 0], square(90, 0, 0, 5)),  # beyond max_range=80
            lm(5, "regulatory", [60, 0, 0], square(60, 0, 0, 0.05)),  # 0.17 px: too small
            lm(6, "indicating", [20, 1, 0], square(20, 1, 0, 0.5)),  # kept
        )
    )
    rec = frame_ground_truth(m, CAM, Pose(), taxonomy=TAX)
    assert rec.landmark_ids.tolist() == [6]
    np.testing.assert_allclose(rec.points, [[45, 40]])
    # the 0.17 px sign is visible but too small to learn: an ignore region, half 100 * 0.05 / 60 px
    assert rec.ignore_classes.tolist() == [TAX.class_id("regulatory")]
    d = 100 * 0.05 / 60
    np.testing.assert_allclose(rec.ignore_boxes, [[50 - d, 40 - d, 50 + d, 40 + d]], atol=1e-5)


def test_road_marking_lower_right_end():
    cam = Camera(100.0, 100.0, 50.0, 40.0, 100, 80, mount=Mount(z=1.5))
    # painted rectangle 5..8 m ahead, 0.5..1 m right of the camera, counter-clockwise seen from above
    outline = np.array([[5, -1, 0], [8, -1, 0], [8, -0.5, 0], [5, -0.5, 0]], float)
    m = LandmarkMap((lm(9, "road_marking", [5, -1, 0], outline),))
    rec = frame_ground_truth(m, cam, Pose(), taxonomy=TAX)
    # near-right corner: camera (x right 1, y down 1.5, z 5) -> (50 + 20, 40 + 30)
    np.testing.assert_allclose(rec.points, [[70, 70]])
    np.testing.assert_allclose(rec.boxes[0, 2:], [70, 70])  # here the rule's bbox corner is the same point
    np.testing.assert_allclose(TAX.reference_points(rec.boxes, rec.classes), rec.points)
    # paint reads from above whichever way its outline runs (the localization predicts it the same way)
    clockwise = LandmarkMap((lm(9, "road_marking", [5, -1, 0], outline[::-1]),))
    np.testing.assert_allclose(frame_ground_truth(clockwise, cam, Pose(), taxonomy=TAX).points, [[70, 70]])


def test_marking_whose_end_left_the_frame_is_an_ignore_region():
    cam = Camera(100.0, 100.0, 50.0, 40.0, 100, 80, mount=Mount(z=1.5))
    # paint 2..8 m ahead, 0.5..1 m right; its lower-right end (2, -1, 0) projects to (50 + 100 * 1 / 2,
    # 40 + 100 * 1.5 / 2) = (100, 115): below the 80 px frame. The far corners (8 m) are at
    # (50 + 12.5, 58.75) and (50 + 6.25, 58.75): the paint is visible, box [56.25, 58.75, 100, 80] clipped.
    outline = np.array([[2, -1, 0], [8, -1, 0], [8, -0.5, 0], [2, -0.5, 0]], float)
    m = LandmarkMap((lm(1, "road_marking", [2, -1, 0], outline),))
    rec = frame_ground_truth(m, cam, Pose(), taxonomy=TAX)
    assert rec.num_landmarks == 0
    assert rec.ignore_classes.tolist() == [TAX.class_id("road_marking")]
    np.testing.assert_allclose(rec.ignore_boxes, [[56.25, 58.75, 100, 80]], atol=1e-4)


def test_marking_under_two_px_tall_is_an_ignore_region():
    cam = Camera(100.0, 100.0, 50.0, 40.0, 100, 80, mount=Mount(z=1.5))
    # a line 6 m wide, 10..10.3 m ahead: x = 50 -+ 30, y = 40 + 150 / 10.3 = 54.563 .. 40 + 150 / 10 = 55:
    # 60 x 0.437 px, sqrt(area) 5.1 >= min_size_px 4, but 0.437 px tall < min_side_px 2
    outline = np.array([[10, -3, 0], [10.3, -3, 0], [10.3, 3, 0], [10, 3, 0]], float)
    m = LandmarkMap((lm(1, "road_marking", [10, -3, 0], outline),))
    rec = frame_ground_truth(m, cam, Pose(), taxonomy=TAX)
    assert rec.num_landmarks == 0 and rec.ignore_classes.tolist() == [TAX.class_id("road_marking")]
    np.testing.assert_allclose(rec.ignore_boxes, [[20, 40 + 150 / 10.3, 80, 55]], atol=1e-4)
    # with min_side_px 0.4 the same line is a landmark with its point at (80, 55)
    rec = frame_ground_truth(m, cam, Pose(), taxonomy=TAX, min_side_px=0.4)
    np.testing.assert_allclose(rec.points, [[80, 55]], atol=1e-4)
    assert len(rec.ignore_boxes) == 0


def test_facing_test_is_one_definition():
    flat_cw = np.array([[0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 0]], float)  # clockwise from above: normal -z
    m = LandmarkMap(
        (
            lm(1, "warning", [10, 0, 0], square(10, 0, 0, 0.5)),  # faces -x
            lm(2, "warning", [10, 5, 0], square(10, 5, 0, 0.5, front=False)),  # faces +x
            lm(3, "road_marking", [0, 0, 0], flat_cw),
        )
    )
    np.testing.assert_allclose(facing_normals(m), [[-1, 0, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    pts = np.array([[10, 0, 0], [10, 5, 0], [0, 0, 0]], float)
    # camera centre at the vehicle origin (0, 0, 0): in front of 1, behind 2, in the plane of 3 (not facing)
    assert faces_camera(pts, facing_normals(m), CAM, Pose()).tolist() == [True, False, False]
    # from x = 20, 1 m up: behind 1, in front of 2, above 3
    assert faces_camera(pts, facing_normals(m), CAM, Pose(x=20, z=1)).tolist() == [False, True, True]


def test_outline_crossing_near_plane_is_clipped_to_image():
    outline = np.array(
        [[-2, -3, 0], [20, -3, 0], [20, 3, 0], [-2, 3, 0]], float
    )  # road patch under the camera
    cam = Camera(100.0, 100.0, 50.0, 40.0, 100, 80, mount=Mount(z=1.5))
    m = LandmarkMap((lm(1, "road_marking", [10, -1, 0], outline),))
    rec = frame_ground_truth(m, cam, Pose(), taxonomy=TAX)
    assert rec.boxes[0].tolist() == pytest.approx([0, 40 + 150 / 20, 100, 80])


def test_round_trip_and_errors(tmp_path):
    m = LandmarkMap((lm(1, "signal", [10, 0, 5], square(10, 0, 5, 0.3)),))
    save_map(m, tmp_path / "map.json")
    back = load_map(tmp_path / "map.json")
    assert back.landmarks[0].id == 1 and back.landmarks[0].cls == "signal"
    np.testing.assert_allclose(back.landmarks[0].outline, m.landmarks[0].outline)

    data = json.loads((tmp_path / "map.json").read_text())
    data["landmarks"][0]["class"] = "speed_bump"
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(GeometryError, match=r"a\.json: landmark id 1: unknown class 'speed_bump'"):
        load_map(tmp_path / "a.json")
    data["landmarks"][0]["class"] = "signal"
    data["landmarks"][0]["point"][2] = float("nan")
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(GeometryError, match=r"b\.json: landmark id 1: point is not finite"):
        load_map(tmp_path / "b.json")
    data["landmarks"][0]["point"][2] = 5.0
    data["landmarks"][0]["outline"] = [[0, 0, 0], [1, 1, 1]]
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(GeometryError, match=r"c\.json: landmark id 1: outline must be >= 3"):
        load_map(tmp_path / "c.json")
    with pytest.raises(ValueError, match="pose.x must be finite"):
        frame_ground_truth(m, CAM, Pose(x=float("inf")), taxonomy=TAX)
