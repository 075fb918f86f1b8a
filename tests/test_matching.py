"""Point matching and AP: hand-made rankings, radii and greedy matches with hand-computed results."""

import math

import numpy as np
import pytest

from keras_lmk.evaluation.matching import (
    DEFAULT_TOLERANCES,
    SCORE_BINS,
    Tolerance,
    ap_from_curve,
    average_precision,
    binned_pr_curve,
    match_greedy,
    oks_sigma_for,
    pr_curve,
    score_bins,
    tolerance_by_name,
    tolerances_with_primary,
)


def box_at(x, y, size):
    return [x - size / 2, y - size / 2, x + size / 2, y + size / 2]


def test_ap_of_a_hand_made_ranking():
    # 3 ground truths; ranking TP FP TP FP TP
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    tp = [True, False, True, False, True]
    # precision 1, 1/2, 2/3, 1/2, 3/5; recall 1/3, 1/3, 2/3, 2/3, 1; envelope 1, 2/3, 2/3, 3/5, 3/5
    assert average_precision(scores, tp, 3) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # 101 points: recall 0..0.33 (34 points) -> 1, 0.34..0.66 (33) -> 2/3, 0.67..1 (34) -> 3/5
    assert average_precision(scores, tp, 3, "coco101") == pytest.approx((34 + 33 * 2 / 3 + 34 * 3 / 5) / 101)
    assert average_precision([], [], 2) == 0.0
    assert np.isnan(average_precision([0.5], [False], 0))


def test_tolerance_rule():
    boxes = np.array([box_at(50, 50, 10), box_at(0, 0, 4), box_at(0, 0, 40)])
    np.testing.assert_allclose(Tolerance("adaptive").radii(boxes), [5.0, 4.0, 20.0])
    np.testing.assert_allclose(Tolerance("8px", 8.0).radii(boxes), [8.0, 8.0, 8.0])
    gt_p, gt_c = np.array([[50.0, 50.0]]), np.array([1])
    pred = np.array([[54.9, 50.0]])
    for tol, hit in (
        (Tolerance("adaptive"), True),
        (Tolerance("4px", 4.0), False),
        (Tolerance("8px", 8.0), True),
    ):
        m, d = match_greedy(pred, [0.9], [1], gt_p, gt_c, tol.radii(boxes[:1]))
        assert (m[0] == 0) == hit
    m, _ = match_greedy(pred, [0.9], [2], gt_p, gt_c, [8.0])  # other class never matches
    assert m[0] == -1


def test_greedy_one_to_one_by_score():
    gt = np.array([[0.0, 0.0], [10.0, 0.0]])
    preds = np.array([[9.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    m, d = match_greedy(preds, [0.5, 0.9, 0.7], [1, 1, 1], gt, [1, 1], [12.0, 12.0])
    # best (1,0) takes gt0; next (0.5,0) takes the remaining gt1 (9.5 px); lowest (9,0) finds nothing
    assert m.tolist() == [-1, 0, 1]
    np.testing.assert_allclose(d[1:], [1.0, 9.5])


def test_match_greedy_other_class_mode_and_taken_ground_truths():
    gt, gt_c = np.array([[0.0, 0.0], [5.0, 0.0]]), np.array([1, 2])
    pred = np.array([[1.0, 0.0]])
    # same_class=False: a class-1 prediction may only take the class-2 ground truth (4 px away)
    m, d = match_greedy(pred, [0.9], [1], gt, gt_c, [6.0, 6.0], same_class=False)
    assert m.tolist() == [1] and d.tolist() == [4.0]
    # ground truths already taken (by an earlier pass) are not offered again
    m, d = match_greedy(pred, [0.9], [1], gt, gt_c, [6.0, 6.0], gt_taken=[True, False])
    assert m.tolist() == [-1] and np.isnan(d[0])
    m, d = match_greedy(np.zeros((0, 2)), [], [], gt, gt_c, [6.0, 6.0])
    assert m.shape == d.shape == (0,)


def test_pr_curve_hand_computed():
    # scores out of order: sorted 0.9 (TP), 0.6 (FP), 0.3 (TP); 4 ground truths
    recall, precision = pr_curve([0.3, 0.9, 0.6], [True, True, False], 4)
    np.testing.assert_allclose(recall, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    # all-point AP: 0.25 * max(1, ...) + 0.25 * 2/3
    assert ap_from_curve(recall, precision) == pytest.approx(0.25 + 0.25 * 2 / 3)
    with pytest.raises(ValueError, match="AP method"):
        ap_from_curve(recall, precision, "voc07")


def test_tolerances_by_name_and_oks_sigma():
    assert [t.name for t in DEFAULT_TOLERANCES] == ["adaptive", "2px", "4px", "8px", "10px", "16px"]
    assert tolerance_by_name("adaptive") is DEFAULT_TOLERANCES[0]
    assert tolerance_by_name("3.5px") == Tolerance("3.5px", 3.5)
    for bad in ("3", "abcpx", "oks"):
        with pytest.raises(ValueError, match="unknown tolerance"):
            tolerance_by_name(bad)
    # OKS = exp(-d^2 / (2 s^2 (2 sigma)^2)) with s^2 = area; at d = 0.5 sqrt(area) it must be exactly 0.5
    sigma = oks_sigma_for(0.5, 0.5)
    assert math.exp(-(0.5**2) / (2 * (2 * sigma) ** 2)) == pytest.approx(0.5)


def test_score_bins_and_binned_curve_hand_computed():
    assert SCORE_BINS == 10_000
    assert score_bins([0.0, 0.00005, 0.5, 0.99995, 1.0]).tolist() == [0, 0, 5000, 9999, 9999]
    num_pred, num_tp = np.zeros(SCORE_BINS, np.int64), np.zeros(SCORE_BINS, np.int64)
    num_pred[[9000, 5000, 1000]] = [2, 1, 3]  # bins at scores 0.9, 0.5, 0.1
    num_tp[[9000, 5000, 1000]] = [2, 0, 1]
    recall, precision = binned_pr_curve(num_pred, num_tp, 5)
    # highest bin first: cumulative TP 2, 2, 3 over 5 GT; cumulative predictions 2, 3, 6
    np.testing.assert_allclose(recall, [0.4, 0.4, 0.6])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])


def test_the_primary_tolerance_comes_first_and_the_defaults_follow_once():
    assert [t.name for t in tolerances_with_primary("10px")] == [
        "10px",
        "adaptive",
        "2px",
        "4px",
        "8px",
        "16px",
    ]
    assert [t.name for t in tolerances_with_primary("adaptive")] == [
        "adaptive",
        "2px",
        "4px",
        "8px",
        "10px",
        "16px",
    ]
    assert [(t.name, t.fixed_px) for t in tolerances_with_primary("3px")][:2] == [
        ("3px", 3.0),
        ("adaptive", None),
    ]


def test_one_prediction_on_the_only_ground_truth_has_ap_one():
    # recall 1, precision 1 after the first and only prediction: the whole unit square
    assert average_precision([0.7], [True], 1) == 1.0
    assert average_precision([0.7], [True], 1, "coco101") == 1.0
    recall, precision = pr_curve([0.7, 0.2], [True, False], 1)  # one ground truth: recall is the TP count
    np.testing.assert_allclose(recall, [1.0, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5])


def test_all_point_ap_takes_the_best_precision_at_or_after_each_recall_step():
    # 3 ground truths; ranking TP TP FP TP: precision 1, 1, 2/3, 3/4; recall 1/3, 2/3, 2/3, 1
    # interpolated (max to the right): 1, 1, 3/4, 3/4 -> steps of 1/3 at precision 1, 1, 3/4
    assert ap_from_curve([1 / 3, 2 / 3, 2 / 3, 1], [1, 1, 2 / 3, 3 / 4]) == pytest.approx((1 + 1 + 0.75) / 3)
    assert average_precision([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 3) == pytest.approx(2.75 / 3)


def test_coco101_counts_zero_precision_at_recalls_never_reached():
    # 2 ground truths, ranking TP FP: recall stops at 0.5; the 51 points 0.00..0.50 get precision 1, the
    # 50 points 0.51..1.00 get 0
    assert average_precision([0.9, 0.8], [True, False], 2, "coco101") == pytest.approx(51 / 101)
    assert ap_from_curve([0.5, 0.5], [1.0, 0.5], "coco101") == pytest.approx(51 / 101)


def test_binned_recall_with_a_single_ground_truth():
    num_pred, num_tp = np.zeros(SCORE_BINS, np.int64), np.zeros(SCORE_BINS, np.int64)
    num_pred[[8000, 2000]] = [1, 1]
    num_tp[8000] = 1
    recall, precision = binned_pr_curve(num_pred, num_tp, 1)
    np.testing.assert_allclose(recall, [1.0, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5])


def test_a_prediction_exactly_on_the_radius_matches():
    # a 3-4-5 triangle: the prediction is 5 px from the ground truth, the radius is 5 px ("within": <=)
    m, d = match_greedy([[3.0, 4.0]], [0.9], [1], [[0.0, 0.0]], [1], [5.0])
    assert m.tolist() == [0] and d.tolist() == [5.0]
    m, _ = match_greedy([[3.0, 4.0]], [0.9], [1], [[0.0, 0.0]], [1], [4.999])
    assert m.tolist() == [-1]


def test_adaptive_radius_of_thin_and_degenerate_boxes():
    tol = Tolerance("adaptive")  # max(4, 0.5 * sqrt(w * h))
    # 0.25 x 1024 (and transposed): area 256 -> 0.5 * 16 = 8 px; a sub-pixel side is not rounded up
    np.testing.assert_allclose(tol.radii([[0, 0, 0.25, 1024], [0, 0, 1024, 0.25]]), [8.0, 8.0])
    # a box with a negative width or height has area 0: the minimum radius, not NaN
    np.testing.assert_allclose(tol.radii([[10, 0, 0, 400], [0, 400, 400, 0]]), [4.0, 4.0])
    # width from the x coordinates, height from the y ones: a 10 x 20 box far from the origin
    np.testing.assert_allclose(tol.radii([[100, 20, 110, 40]]), [0.5 * math.sqrt(200)])


def test_default_oks_sigma_is_the_adaptive_rule_at_oks_one_half():
    # OKS = exp(-d^2 / (2 area (2 sigma)^2)) = 0.5 exactly at d = 0.5 sqrt(area) for the defaults
    sigma = oks_sigma_for()
    assert sigma == pytest.approx(0.5 / (2 * math.sqrt(2 * math.log(2))))
    assert math.exp(-(0.5**2) / (2 * (2 * sigma) ** 2)) == pytest.approx(0.5)


def test_score_bins_are_int64_and_clip_scores_just_outside_the_unit_interval():
    b = score_bins([-1e-9, 0.25, 1.0 + 1e-9])
    assert b.dtype == np.int64 and b.tolist() == [0, 2500, SCORE_BINS - 1]
