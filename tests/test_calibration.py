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


def test_a_class_missing_from_the_counts_or_the_background_never_gets_its_own_threshold():
    # no held-out count for "signal" means 0 landmarks (under any min_landmarks >= 1), and class 0 is the
    # background: neither gets a threshold even with a nonzero F1 entry of its own
    m = metrics(
        {"background": point(0.5), "sign": point(0.95), "signal": point(0.6)}, {"background": 9, "sign": 5}
    )
    assert class_thresholds(m, NAMES, min_landmarks=1) == [None, 0.95, None, None]


def test_card_thresholds_on_a_card_that_had_no_class_thresholds():
    card = {"decoder": {"score_threshold": 0.3}}
    assert set_card_thresholds(card, 0.5, None) == {"decoder": {"score_threshold": 0.5}}
    assert set_card_thresholds(card, 0.5, [None, 0.9])["decoder"]["class_score_thresholds"] == [None, 0.9]


def test_calibrate_card_writes_the_pooled_and_class_thresholds_and_returns_the_operating_point(tmp_path):
    path = tmp_path / "card.json"
    classes = [{"id": i, "name": n} for i, n in enumerate(NAMES)]
    card = {"taxonomy": {"classes": classes}, "decoder": {"score_threshold": 0.3, "top_k_per_cell": 2}}
    path.write_text(json.dumps(card))
    m = metrics({"sign": point(0.95), "signal": point(0.6)}, {"sign": 5, "signal": 4})
    # pooled 0.8 (POOLED); only "sign" has the 5 landmarks of its own threshold
    got = calibrate_card(path, m)
    assert got == {**POOLED, "mAP": 0.5, "class_thresholds": [None, 0.95, None, None]}
    assert json.loads(path.read_text()) == {
        "taxonomy": {"classes": classes},
        "decoder": {
            "score_threshold": 0.8,
            "top_k_per_cell": 2,
            "class_score_thresholds": [None, 0.95, None, None],
        },
    }
    # per_class=False: the pooled threshold only, and the old class thresholds are removed
    got = calibrate_card(path, m, per_class=False)
    assert got == {**POOLED, "mAP": 0.5}
    assert json.loads(path.read_text())["decoder"] == {"score_threshold": 0.8, "top_k_per_cell": 2}
    # no class qualifies: the card gets the pooled threshold and no class list
    path.write_text(json.dumps(card))
    got = calibrate_card(path, metrics({"sign": point(0.95)}, {"sign": 2}))
    assert (
        got == {**POOLED, "mAP": 0.5}
        and "class_score_thresholds" not in json.loads(path.read_text())["decoder"]
    )


@pytest.mark.parametrize("card", [{}, {"taxonomy": {}}])
def test_a_card_without_class_names_gets_the_pooled_threshold_only(tmp_path, card):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({**card, "decoder": {"score_threshold": 0.3}}))
    got = calibrate_card(path, metrics({"sign": point(0.95)}, {"sign": 50}))
    assert got == {**POOLED, "mAP": 0.5}
    assert json.loads(path.read_text())["decoder"] == {"score_threshold": 0.8}
