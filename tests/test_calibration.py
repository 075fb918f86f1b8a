"""Operating thresholds from an evaluation (keras_lmk.evaluation.calibration), on hand-written metrics."""

import json

import pytest

from keras_lmk.evaluation.calibration import calibrate_card, class_thresholds, named, set_card_thresholds

NAMES = ["background", "sign", "signal", "road_marking"]


def point(t, f1=0.6):
    return {"threshold": t, "f1": f1, "precision": 0.5, "recall": 0.5}


POOLED = point(0.8, 0.7)


def metrics(per_class, num_gt, best=POOLED):
    return {
        "best_f1": best,
        "best_f1_per_class": per_class,
        "num_gt": num_gt,
        "tolerances": {"adaptive": {"mAP": 0.5}},
        "primary_tolerance": "adaptive",
    }


def test_a_class_needs_five_landmarks_and_a_nonzero_f1_for_its_own_threshold():
    m = metrics(
        {"sign": point(0.95), "signal": point(0.6), "road_marking": point(0.7, 0.0)},
        {"sign": 5, "signal": 4, "road_marking": 30},
    )
    assert class_thresholds(m, NAMES) == [None, 0.95, None, None]
    assert class_thresholds(m, NAMES, min_landmarks=4) == [None, 0.95, 0.6, None]
    assert class_thresholds(metrics({}, {}), NAMES) is None  # nothing qualifies: no per-class list at all


def test_card_thresholds_are_replaced_and_other_keys_kept():
    card = {"decoder": {"score_threshold": 0.3, "top_k_per_cell": 2, "class_score_thresholds": [None, 0.1]}}
    assert set_card_thresholds(card, 0.5, None) == {"decoder": {"score_threshold": 0.5, "top_k_per_cell": 2}}
    got = set_card_thresholds(card, 0.5, [None, 0.9])
    assert got["decoder"] == {
        "score_threshold": 0.5,
        "top_k_per_cell": 2,
        "class_score_thresholds": [None, 0.9],
    }
    assert card["decoder"]["score_threshold"] == 0.3  # the input is not changed


@pytest.mark.parametrize("best", [None, point(0.2, 0.0)])
def test_a_card_is_left_alone_when_nothing_was_found(tmp_path, best):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"decoder": {"score_threshold": 0.3}}))
    assert calibrate_card(path, metrics({}, {}, best)) is None
    assert json.loads(path.read_text()) == {"decoder": {"score_threshold": 0.3}}


def test_named_lists_only_the_classes_with_their_own_threshold():
    assert named([None, 0.95, None, 0.7], NAMES) == {"sign": 0.95, "road_marking": 0.7}
    assert named(None, NAMES) == {}
