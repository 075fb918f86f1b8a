"""Traffic-light label snapping: hand-built images with one lit lamp, boxes placed beside it by hand."""

import cv2
import numpy as np
import pytest

from keras_lmk.data.lamp_snap import lamp_litness, snap_boxes_to_lit_lamps, snap_record
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.sources import lights_split
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.data.validation import DataError
from keras_lmk.training.config import DataConfig

# a 12 x 16 px lamp at x 112..124, y 40..56 of a 200 x 100 image
LAMP = (112, 40, 124, 56)


def _litness(value: float = 1.0) -> np.ndarray:
    lit = np.zeros((100, 200), np.float32)
    lit[LAMP[1] : LAMP[3], LAMP[0] : LAMP[2]] = value
    return lit


def test_litness_is_saturation_times_value_and_zero_on_blue():
    hsv = np.array([[[0, 255, 255], [60, 128, 255], [120, 255, 255], [10, 255, 0]]], np.uint8)
    np.testing.assert_allclose(lamp_litness(hsv)[0], [1.0, 128 / 255, 0.0, 0.0], atol=1e-6)


def test_a_box_one_lamp_beside_the_lit_lamp_moves_onto_it():
    beside = np.array([[100, 40, 112, 56]], np.float32)  # one box width left of the lamp
    out, moved = snap_boxes_to_lit_lamps(_litness(), beside)
    np.testing.assert_allclose(out, [LAMP])
    assert moved.tolist() == [True]


def test_a_box_on_the_lamp_or_half_on_it_by_less_than_the_gain_stays():
    on = np.array([LAMP], np.float32)
    out, moved = snap_boxes_to_lit_lamps(_litness(), on)
    np.testing.assert_allclose(out, on)
    assert not moved.any()
    # a quarter off: own mean 0.75, the lamp 1.0 < 2 x 0.75
    quarter = np.array([[109, 40, 121, 56]], np.float32)
    assert not snap_boxes_to_lit_lamps(_litness(), quarter)[1].any()


def test_a_dim_patch_below_min_lit_does_not_pull_a_box():
    # 0.25 is 'lit' relative to a dark box but below the absolute floor (a green arrow's thin strokes)
    beside = np.array([[100, 40, 112, 56]], np.float32)
    assert not snap_boxes_to_lit_lamps(_litness(0.25), beside)[1].any()
    assert snap_boxes_to_lit_lamps(_litness(0.25), beside, min_lit=0.2)[1].all()


def test_a_box_does_not_snap_onto_another_label():
    # the lit lamp is labelled too; the dark box beside it must stay a separate landmark
    boxes = np.array([[100, 40, 112, 56], LAMP], np.float32)
    out, moved = snap_boxes_to_lit_lamps(_litness(), boxes)
    np.testing.assert_allclose(out, boxes)
    assert not moved.any()


def test_snap_record_moves_the_point_to_the_new_box_centre(tmp_path):
    bgr = np.zeros((100, 200, 3), np.uint8)
    bgr[LAMP[1] : LAMP[3], LAMP[0] : LAMP[2]] = (0, 0, 255)  # a lit red lamp
    path = tmp_path / "light.png"
    cv2.imwrite(str(path), bgr)
    rec = ImageRecord(str(path), 200, 100, [[100, 40, 112, 56]], [[106, 48]], [5])
    out = snap_record(rec)
    np.testing.assert_allclose(out.points, [[118, 48]])
    np.testing.assert_allclose(out.boxes, [LAMP])
    missing = ImageRecord(str(tmp_path / "gone.png"), 200, 100, [[100, 40, 112, 56]], [[106, 48]], [5])
    with pytest.raises(DataError, match="gone.png: cannot read the image"):
        snap_record(missing)


def test_lights_split_snaps_training_labels_only(tmp_path):
    img, lab = tmp_path / "images", tmp_path / "labels"
    img.mkdir()
    lab.mkdir()
    bgr = np.zeros((100, 200, 3), np.uint8)
    bgr[LAMP[1] : LAMP[3], LAMP[0] : LAMP[2]] = (0, 255, 0)  # a lit green lamp
    for p in range(2):  # 2 photos: ceil(15 % of 2) = 1 validates
        cv2.imwrite(str(img / f"photo{p}.png"), bgr)
        (lab / f"photo{p}.txt").write_text("2 0.53 0.48 0.06 0.16\n")  # box x 100..112: one lamp to the left
    for snap, train_x in ((False, 106.0), (True, 118.0)):
        train, val = lights_split(
            DataConfig(lights_dir=str(tmp_path), lights_snap=snap), load_taxonomy("korea")
        )
        assert train[0].points[0, 0] == pytest.approx(train_x, abs=1e-3)
        assert val[0].points[0, 0] == pytest.approx(106.0, abs=1e-3)


def test_a_labelled_box_on_its_lamp_stays_beside_a_second_unlabelled_lit_lamp():
    # two lit lamps side by side (x 112..124 and 124..136), only the first labelled. The box's own lamp must
    # count as lit for itself (its mean 1.0): the second lamp's 1.0 is not 2 x as lit, so the box stays.
    # Counting the box's own area as an unlit neighbour would make its mean 0 and let the lamp beside it
    # steal the label.
    lit = _litness()
    lit[LAMP[1] : LAMP[3], LAMP[2] : LAMP[2] + 12] = 1.0
    on = np.array([LAMP], np.float32)
    out, moved = snap_boxes_to_lit_lamps(lit, on)
    np.testing.assert_allclose(out, on)
    assert not moved.any()


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


@pytest.mark.parametrize(
    "lamp, box, want",
    [
        # a lamp cut by each image edge (200 x 100): the best candidate wholly inside the image wins, a
        # quarter box towards the edge (5/12 or 6/16 lit against 2/12 or 2/16: over 2x); candidates sticking
        # out of the image never count, however lit their inside part
        ((0, 40, 6, 56), (4, 40, 16, 56), (1, 40, 13, 56)),
        ((194, 40, 200, 56), (184, 40, 196, 56), (187, 40, 199, 56)),
        ((100, 0, 112, 6), (100, 4, 112, 20), (100, 0, 112, 16)),
        ((100, 94, 112, 100), (100, 80, 112, 96), (100, 84, 112, 100)),
    ],
)
def test_candidates_stay_inside_the_image(lamp, box, want):
    lit = np.zeros((100, 200), np.float32)
    lit[lamp[1] : lamp[3], lamp[0] : lamp[2]] = 1.0
    out, moved = snap_boxes_to_lit_lamps(lit, np.array([box], np.float32))
    assert moved.tolist() == [True] and moved.dtype == bool
    np.testing.assert_allclose(out, [want])


def test_default_gain_is_2_and_the_floor_is_inclusive():
    # [109, 40, 121, 56] is 9/12 on the lamp, the lamp 12/12: 1.33 x, it stays. [106, 40, 118, 56] is 6/12 =
    # 0.5 lit against the full lamp's 1.0: exactly 2 x, it moves (>=)
    assert not snap_boxes_to_lit_lamps(_litness(), np.array([[109, 40, 121, 56]], np.float32))[1].any()
    out, moved = snap_boxes_to_lit_lamps(_litness(), np.array([[106, 40, 118, 56]], np.float32))
    assert moved.tolist() == [True]
    np.testing.assert_allclose(out, [LAMP])
    # a patch lit exactly min_lit beside a dark box moves it
    assert snap_boxes_to_lit_lamps(_litness(0.25), np.array([[100, 40, 112, 56]], np.float32), min_lit=0.25)[
        1
    ].all()


def test_blue_hues_100_to_140_are_unlit_inclusive():
    hsv = np.array([[[99, 255, 255], [100, 255, 255], [140, 255, 255], [141, 255, 255]]], np.uint8)
    np.testing.assert_allclose(lamp_litness(hsv)[0], [1.0, 0.0, 0.0, 1.0])
    assert lamp_litness(hsv).dtype == np.float32


def test_box_means_from_the_summed_area_table_are_the_plain_means():
    from keras_lmk.data.lamp_snap import _box_means, _summed_area

    rng = np.random.default_rng(0)
    lit = rng.uniform(0, 1, (30, 40)).astype(np.float32)
    x0, y0 = rng.integers(0, 20, 50), rng.integers(0, 15, 50)
    boxes = np.stack([x0, y0, x0 + rng.integers(1, 20, 50), y0 + rng.integers(1, 15, 50)], axis=1)
    want = [lit[b[1] : b[3], b[0] : b[2]].mean() for b in boxes]
    np.testing.assert_allclose(_box_means(_summed_area(lit, np.zeros((0, 4))), boxes), want, rtol=1e-6)
