"""Lit-lamp refinement of traffic-light points (keras_lmk/detector/lamp_refine.py), on hand-built images.

The image: a dark grey housing with one lit red lamp, the 8 x 8 px square x 36..44, y 16..24 (centre
(40, 20)). Lamp-lit = saturation x value with blue hues unlit: the lamp (255, 40, 40) is 0.843 everywhere,
the grey 0. An 8 px square at a point searches shifts of 0, +-2, ..., +-8 px on each axis; only the square
shifted exactly onto the lamp is all lamp, so a point 8 px left of the lamp's centre moves onto it.
"""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import TINY_SPEC, TINY_TAXONOMY

from keras_lmk.detector.card import ModelCardError, load_model_card, model_card
from keras_lmk.detector.decode import DecoderConfig, Detections
from keras_lmk.detector.lamp_refine import LampRefineConfig, refine_lamp_points
from keras_lmk.inference.runtime import _Runner

SIGN, MARKING = 1, 2  # the tiny taxonomy's classes; "sign" plays the traffic light here
REFINE = LampRefineConfig(classes=("sign",), box_px=8.0, min_gain=1.25, min_lit=0.15)


def lamp_image() -> np.ndarray:
    rgb = np.full((64, 64, 3), 40, np.uint8)
    rgb[16:24, 36:44] = (255, 40, 40)
    return rgb


def dets(classes, points) -> Detections:
    n = len(classes)
    return Detections(
        np.asarray(classes, np.int32),
        np.asarray(points, np.float32),
        np.linspace(0.9, 0.8, n, dtype=np.float32),
    )


def test_a_light_point_beside_the_lit_lamp_moves_onto_its_centre_and_nothing_else_moves():
    before = dets(
        [SIGN, MARKING, SIGN, SIGN],
        [
            [32.0, 20.0],  # 8 px left of the lamp's centre: moves onto it
            [32.0, 20.0],  # same place, another class: untouched
            [10.0, 50.0],  # no lit lamp within 8 px: stays
            [40.0, 20.0],  # already on the lamp: nothing is 1.25x as lit
        ],
    )
    after = refine_lamp_points(lamp_image(), before, TINY_TAXONOMY, REFINE)
    np.testing.assert_allclose(after.points, [[40, 20], [32, 20], [10, 50], [40, 20]], atol=1e-5)
    np.testing.assert_array_equal(after.classes, before.classes)
    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_allclose(before.points[0], [32, 20])  # the input is not modified


def test_a_dim_lamp_under_min_lit_and_a_point_off_the_image_stay():
    dim = np.full((64, 64, 3), 40, np.uint8)
    dim[16:24, 36:44] = (60, 50, 50)  # saturation 0.167 x value 0.235 = 0.04 < min_lit 0.15
    d = dets([SIGN], [[32.0, 20.0]])
    np.testing.assert_allclose(refine_lamp_points(dim, d, TINY_TAXONOMY, REFINE).points, [[32, 20]])
    off = dets([SIGN], [[-30.0, 90.0]])
    np.testing.assert_allclose(
        refine_lamp_points(lamp_image(), off, TINY_TAXONOMY, REFINE).points, [[-30, 90]]
    )


class OneVoteRunner(_Runner):
    """A runner whose 'model' votes for one sign at model-input pixel (32, 20) (letterbox: identity)."""

    def __init__(self, card: dict):
        self.card = load_model_card(None, card)
        self.decoder = self.card.decoder

    def infer(self, image_in):
        s, a, m = TINY_SPEC.num_cells, TINY_SPEC.num_anchors, TINY_SPEC.num_classes
        logits = np.zeros((s, a, m), np.float32)
        logits[..., 0] = 8.0  # background everywhere ...
        origins = TINY_SPEC.cell_origins()
        cell = int(np.argmin(np.abs(origins - [32.0, 16.0]).sum(axis=1)))
        logits[cell, 0] = [-8.0, 8.0, -8.0]  # ... but one confident sign
        points = np.zeros((s, a, 2), np.float32)
        points[cell, 0] = (np.array([32.0, 20.0]) - origins[cell]) / TINY_SPEC.stride
        return logits, points


def tiny_card(refine: LampRefineConfig | None) -> dict:
    card = model_card(TINY_SPEC, TINY_TAXONOMY, DecoderConfig(score_threshold=0.5))
    if refine is not None:
        card["lamp_refine"] = refine.to_json()
    return card


def test_predict_frame_refines_when_the_card_says_so():
    rgb = lamp_image()
    plain = OneVoteRunner(tiny_card(None)).predict_frame(rgb)
    refined = OneVoteRunner(tiny_card(REFINE)).predict_frame(rgb)
    np.testing.assert_allclose(plain.points, [[32, 20]], atol=1e-4)
    np.testing.assert_allclose(refined.points, [[40, 20]], atol=1e-4)


def test_predict_frame_takes_another_decoder_and_still_refines():
    import dataclasses

    runner = OneVoteRunner(tiny_card(REFINE))
    strict = dataclasses.replace(runner.decoder, score_threshold=0.99999999)  # above the one vote's score
    assert len(runner.predict_frame(lamp_image(), strict)) == 0
    loose = dataclasses.replace(runner.decoder, score_threshold=0.1)
    np.testing.assert_allclose(runner.predict_frame(lamp_image(), loose).points, [[40, 20]], atol=1e-4)


def test_the_card_section_round_trips_and_bad_settings_are_refused():
    assert load_model_card(None, tiny_card(None)).lamp_refine is None
    assert load_model_card(None, tiny_card(REFINE)).lamp_refine == REFINE
    bad = [
        {**REFINE.to_json(), "radius": 3},  # unknown key
        {**REFINE.to_json(), "classes": ["signal"]},  # not a class of this taxonomy
        {**REFINE.to_json(), "min_gain": 0.5},
        {**REFINE.to_json(), "box_px": 0},
        {**REFINE.to_json(), "classes": []},
    ]
    for section in bad:
        card = {**tiny_card(None), "lamp_refine": section}
        with pytest.raises(ModelCardError, match="malformed model card"):
            load_model_card(None, card)


def test_a_point_diagonal_to_the_lamp_moves_onto_it_in_y_as_well_as_x():
    # 6 px left of and 6 px below the lamp's centre (40, 20): the square shifted by (+6, -6) px (three
    # quarter-side steps on each axis) is all lamp, so the point moves to (40, 20) on both axes
    after = refine_lamp_points(lamp_image(), dets([SIGN], [[34.0, 26.0]]), TINY_TAXONOMY, REFINE)
    np.testing.assert_allclose(after.points, [[40, 20]], atol=1e-5)


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_the_configured_gain_and_floor_reach_the_snapping():
    # 2 px left of the lamp's centre: the unmoved square is 3/4 lamp (0.632), the lamp square 0.843 = 1.33 x:
    # enough for min_gain 1.25 (the snapping's own default, 2, would refuse)
    after = refine_lamp_points(lamp_image(), dets([SIGN], [[38.0, 20.0]]), TINY_TAXONOMY, REFINE)
    np.testing.assert_allclose(after.points, [[40, 20]], atol=1e-5)
    assert after.points.dtype == np.float32
    # a dim lamp (110, 60, 60): lamp-lit 0.4545 x 0.4314 = 0.196, above min_lit 0.15 (the default 0.3 is not)
    dim = np.full((64, 64, 3), 40, np.uint8)
    dim[16:24, 36:44] = (110, 60, 60)
    after = refine_lamp_points(dim, dets([SIGN], [[32.0, 20.0]]), TINY_TAXONOMY, REFINE)
    np.testing.assert_allclose(after.points, [[40, 20]], atol=1e-5)


def test_a_lamp_on_the_image_edge_is_reached():
    # lamps touching the left and the top edge (x 0..8, y 0..8 ranges): the searched window starts at 0
    for lamp, point, want in (
        ((16, 24, 0, 8), (12.0, 20.0), (4, 20)),
        ((0, 8, 30, 38), (34.0, 12.0), (34, 4)),
    ):
        rgb = np.full((64, 64, 3), 40, np.uint8)
        rgb[lamp[0] : lamp[1], lamp[2] : lamp[3]] = (255, 40, 40)
        after = refine_lamp_points(rgb, dets([SIGN], [point]), TINY_TAXONOMY, REFINE)
        np.testing.assert_allclose(after.points, [want], atol=1e-5)


def test_points_off_the_image_on_one_axis_stay_and_the_next_point_is_still_refined():
    # off on x only, off on y only, and exactly where the searched window closes to nothing (x = -15: its
    # window x -29..0 is empty); then a point beside the lamp that must still move
    off = [[-30.0, 20.0], [20.0, 100.0], [-15.0, 20.0], [20.0, -15.0]]
    after = refine_lamp_points(lamp_image(), dets([SIGN] * 5, [*off, [32.0, 20.0]]), TINY_TAXONOMY, REFINE)
    np.testing.assert_allclose(after.points, [*off, [40, 20]], atol=1e-5)


def test_lamp_refine_config_bounds_and_messages():
    LampRefineConfig(box_px=0.5, min_gain=1.0, min_lit=0.0)
    LampRefineConfig(min_lit=1.0)
    with pytest.raises(ValueError, match="^lamp_refine.classes must name at least one class$"):
        LampRefineConfig(classes=())
    for bad in (dict(box_px=0.0), dict(min_gain=0.99), dict(min_lit=-0.1), dict(min_lit=1.5)):
        with pytest.raises(ValueError, match=r"need box_px > 0, min_gain >= 1 and 0 <= min_lit <= 1, got"):
            LampRefineConfig(**bad)
    with pytest.raises(
        ValueError,
        match=r"unknown lamp_refine settings \['radius'\]; known: \['box_px', 'classes', 'min_gain'",
    ):
        LampRefineConfig.from_json({"radius": 3})
    assert LampRefineConfig.from_json({"box_px": 6}) == LampRefineConfig(box_px=6)
