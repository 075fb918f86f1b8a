import contextlib
import io

import numpy as np
import pytest

from keras_lmk.data.taxonomy import parse_taxonomy
from keras_lmk.evaluation.matching import Tolerance, average_precision, match_greedy, oks_sigma_for
from keras_lmk.evaluation.metrics import PointEvaluator

TAX = parse_taxonomy(
    {
        "name": "t",
        "classes": [
            {"id": 0, "name": "background", "point_rule": None},
            {"id": 1, "name": "sign", "point_rule": "bbox_center"},
            {"id": 2, "name": "signal", "point_rule": "bbox_center"},
            {"id": 3, "name": "road_marking", "point_rule": "bbox_bottom_right"},
        ],
    }
)


def box_at(x, y, size):
    return [x - size / 2, y - size / 2, x + size / 2, y + size / 2]


def test_evaluator_unlabelled_classes_and_confusion():
    ev = PointEvaluator(TAX, (Tolerance("adaptive"), Tolerance("4px", 4.0)), operating_threshold=0.5)
    # frame 1: sign GT matched (error 3 px), a signal prediction elsewhere (no signal GT anywhere),
    # a road_marking GT with a sign prediction on it (confusion)
    ev.add_frame(
        gt_points=[[20, 20], [60, 60]],
        gt_classes=[1, 3],
        gt_boxes=[box_at(20, 20, 20), box_at(55, 55, 10)],
        pred_points=[[23, 20], [80, 10], [61, 60], [5, 5]],
        pred_classes=[1, 2, 1, 1],
        pred_scores=[0.9, 0.8, 0.7, 0.2],
    )
    # frame 2: a missed sign, a background sign prediction
    row = ev.add_frame(
        gt_points=[[30, 30]],
        gt_classes=[1],
        gt_boxes=[box_at(30, 30, 8)],
        pred_points=[[90, 90]],
        pred_classes=[1],
        pred_scores=[0.6],
    )
    assert row == {
        "num_gt": 1,
        "num_pred": 1,
        "tp": 0,
        "fp": 1,
        "fn": 1,
        "median_point_error_px": row["median_point_error_px"],
    } and np.isnan(row["median_point_error_px"])
    s = ev.summary()
    assert s["unlabelled_classes"] == ["signal"] and s["unlabelled_predictions"] == {"signal": 1}
    a = s["tolerances"]["adaptive"]
    assert set(a["per_class"]) == {"sign", "road_marking"}
    sign = a["per_class"]["sign"]
    # sign at 0.5: 3 predictions (0.9 TP, 0.7 FP on the marking, 0.6 FP), 2 GT
    assert (sign["tp"], sign["fp"], sign["fn"]) == (1, 2, 1)
    assert sign["precision"] == pytest.approx(1 / 3) and sign["recall"] == pytest.approx(0.5)
    # AP over all scores: TP(0.9) FP(0.7) FP(0.6) FP(0.2) -> 1 * 1/2
    assert sign["AP"] == pytest.approx(0.5)
    assert a["per_class"]["road_marking"]["AP"] == 0.0
    assert a["mAP"] == pytest.approx(0.25)
    # pooled over labelled classes: the signal prediction is not a false positive
    assert (a["precision"], a["recall"]) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    # 4 px tolerance: the 3 px error still matches
    assert s["tolerances"]["4px"]["per_class"]["sign"]["tp"] == 1
    assert s["point_error_px"]["median"] == pytest.approx(3.0)
    cm = np.array(s["confusion"]["matrix"])
    expected = np.zeros((4, 4), int)
    expected[1, 1] = 1  # sign found
    expected[3, 1] = 1  # road marking predicted as sign
    expected[0, 1] = 1  # background sign prediction (frame 2)
    expected[1, 0] = 1  # sign missed (frame 2)
    # the signal prediction (unlabelled) is removed from row 0
    np.testing.assert_array_equal(cm, expected)


def test_separate_operating_detections():
    ev = PointEvaluator(TAX, (Tolerance("adaptive"),), operating_threshold=0.5)
    ev.add_frame(
        [[20, 20]],
        [1],
        [box_at(20, 20, 20)],
        [[21, 20], [50, 50]],
        [1, 1],
        [0.6, 0.1],
        op_points=[[22, 20]],
        op_classes=[1],
        op_scores=[0.6],
    )
    s = ev.summary()
    assert s["point_error_px"]["median"] == pytest.approx(2.0)
    assert s["tolerances"]["adaptive"]["per_class"]["sign"]["num_pred"] == 1


def _pycocotools_ap(gt, preds, cat, sigma):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(preds)
        e = COCOeval(coco_gt, coco_dt, "keypoints")
        e.params.kpt_oks_sigmas = np.array([sigma])
        e.params.iouThrs = np.array([0.5])
        e.params.catIds = [cat]
        e.params.maxDets = [100]
        e.params.areaRng = [[0, 1e10]]
        e.params.areaRngLbl = ["all"]
        e.evaluate()
        e.accumulate()
    p = e.eval["precision"][0, :, 0, 0, 0]
    return float(p[p > -1].mean())


def test_matches_pycocotools_keypoint_ap_with_oks_sigma():
    """OKS >= 0.5 with sigma = oks_sigma_for(0.5) is the same rule as d <= 0.5 sqrt(area) (boxes >= 8 px so
    the 4 px floor is inactive); then our 101-point AP equals pycocotools' keypoint AP, as long as both
    matchings pick the same ground truths (they do on this data; see
    test_where_nearest_pixel_matching_differs_from_pycocotools_oks for where they do not)."""
    rng = np.random.default_rng(3)
    images, anns, preds = [], [], []
    ev = PointEvaluator(TAX, (Tolerance("adaptive"),), operating_threshold=0.5)
    aid = 0
    for img_id in range(1, 6):
        images.append({"id": img_id, "width": 200, "height": 200, "file_name": f"{img_id}.jpg"})
        n = int(rng.integers(1, 4))
        centers = rng.uniform(30, 170, (n, 2))
        sizes = rng.uniform(10, 40, n)
        gts = []
        for (x, y), s in zip(centers, sizes, strict=True):
            aid += 1
            b = box_at(x, y, s)
            anns.append(
                {
                    "id": aid,
                    "image_id": img_id,
                    "category_id": 1,
                    "bbox": [b[0], b[1], s, s],
                    "area": float(s * s),
                    "iscrowd": 0,
                    "keypoints": [float(x), float(y), 2],
                    "num_keypoints": 1,
                }
            )
            gts.append(b)
        # predictions: near (inside the radius), far-ish (outside), and random clutter, distinct scores
        pp, sc = [], []
        for (x, y), s in zip(centers, sizes, strict=True):
            r = 0.5 * s
            off = rng.choice([0.3, 0.8, 1.5]) * r
            ang = rng.uniform(0, 2 * np.pi)
            pp.append([x + off * np.cos(ang), y + off * np.sin(ang)])
            sc.append(rng.uniform(0.05, 1))
        pp.append(rng.uniform(0, 200, 2).tolist())
        sc.append(rng.uniform(0.05, 1))
        for p, s in zip(pp, sc, strict=True):
            preds.append({"image_id": img_id, "category_id": 1, "keypoints": [p[0], p[1], 1], "score": s})
        ev.add_frame(centers, np.ones(n), gts, pp, np.ones(len(pp)), sc)
    gt = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "sign", "keypoints": ["reference_point"], "skeleton": []}],
    }
    ours = ev.summary()["tolerances"]["adaptive"]["per_class"]["sign"]["AP_coco101"]
    theirs = _pycocotools_ap(gt, preds, 1, oks_sigma_for(0.5, 0.5))
    assert 0 < ours < 1
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_binned_ap_equals_per_prediction_ap_when_scores_are_distinct():
    """Scores on a 1e-3 grid never share a 1e-4 bin: the evaluator's streaming AP must equal the exact AP
    of the same predictions computed from their (score, hit) list."""
    rng = np.random.default_rng(7)
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    scores_all, hits_all, num_gt = [], [], 0
    grid = rng.permutation(np.arange(50, 1000)) / 1000.0
    used = 0
    for _ in range(20):
        gts = rng.uniform(20, 180, (3, 2))
        n = 4
        preds = np.concatenate([gts + rng.normal(0, 6, gts.shape), rng.uniform(0, 200, (1, 2))])
        scores = grid[used : used + n]
        used += n
        boxes = [box_at(x, y, 10) for x, y in gts]
        match, _ = match_greedy(preds, scores, np.ones(n), gts, np.ones(3), np.full(3, 8.0))
        scores_all += scores.tolist()
        hits_all += (match >= 0).tolist()
        num_gt += 3
        ev.add_frame(gts, np.ones(3), boxes, preds, np.ones(n), scores)
    got = ev.summary()["tolerances"]["8px"]["per_class"]["sign"]
    assert 0 < got["AP"] < 1
    assert got["AP"] == pytest.approx(average_precision(scores_all, hits_all, num_gt), abs=1e-12)
    assert got["AP_coco101"] == pytest.approx(
        average_precision(scores_all, hits_all, num_gt, "coco101"), abs=1e-12
    )


def test_scores_within_one_bin_count_as_tied():
    # 1 ground truth; a miss at 0.50002 and a hit at 0.50004 share bin 5000. Exactly ranked the hit would
    # come first (AP 1); tied, the bin's precision is 1/2 at recall 1, so AP = 0.5.
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.9)
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[150, 150], [51, 50]], [1, 1], [0.50002, 0.50004])
    assert ev.summary()["tolerances"]["8px"]["per_class"]["sign"]["AP"] == pytest.approx(0.5)


def test_evaluator_memory_does_not_grow_with_frames():
    """40 predictions a frame, none matched (so no point errors are kept): 1,000 frames must add no
    per-prediction state (a per-prediction store would need >= 40,000 entries, >= 160 KB even as float32;
    tracemalloc makes every frame slow, so no more frames than that)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    ev = PointEvaluator(TAX, operating_threshold=0.5)
    gts, gcls, gboxes = np.array([[10.0, 10.0]]), np.array([1]), [box_at(10, 10, 8)]
    preds = rng.uniform(100, 200, (40, 2))
    classes = rng.integers(1, 4, 40)
    for _ in range(50):  # warm up: numpy caches, first-call allocations
        ev.add_frame(gts, gcls, gboxes, preds, classes, rng.uniform(0, 1, 40))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            ev.add_frame(gts, gcls, gboxes, preds, classes, rng.uniform(0, 1, 40))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, grown
    assert ev.summary()["frames"] == 1050


def test_best_f1_operating_point_by_hand():
    """2 signs; ranked TP(0.9) FP(0.8) TP(0.6) FP(0.4). F1 at >= 0.9: 2/3; >= 0.8: 1/2; >= 0.6: P 2/3,
    R 1 -> 0.8; >= 0.4: 2/3. Best: 0.6. A road-marking prediction without any road-marking ground truth
    (unlabelled class) must not count as a false positive."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[50, 51], [150, 150]], [1, 1], [0.9, 0.8])
    ev.add_frame(
        [[20, 20]], [1], [box_at(20, 20, 10)], [[21, 20], [90, 90], [10, 90]], [1, 1, 3], [0.6, 0.4, 0.95]
    )
    best = ev.summary()["best_f1"]
    assert best["threshold"] == pytest.approx(0.6)
    assert best["f1"] == pytest.approx(0.8)
    assert best["precision"] == pytest.approx(2 / 3) and best["recall"] == pytest.approx(1.0)
    assert PointEvaluator(TAX).best_f1_point() is None  # nothing seen yet


def test_all_point_ap_uses_the_precision_envelope():
    """Rankings where precision rises after a false positive: only the envelope (running max from the right)
    gives the right area. Hand computed; the curve values are written out, not taken from pr_curve."""
    # 2 GT; FP, TP, TP: precision 0, 1/2, 2/3 at recall 0, 1/2, 1. Envelope 2/3, 2/3, 2/3 -> AP = 2/3
    # (without the envelope: 1/2 * 1/2 + 1/2 * 2/3 = 0.583)
    assert average_precision([0.9, 0.8, 0.7], [False, True, True], 2) == pytest.approx(2 / 3)
    # 3 GT; TP, FP, TP, TP: precision 1, 1/2, 2/3, 3/4; recall 1/3, 1/3, 2/3, 1; envelope 1, 3/4, 3/4, 3/4
    # -> AP = 1/3 * (1 + 3/4 + 3/4) = 5/6 (without the envelope: 1/3 * (1 + 2/3 + 3/4) = 0.806)
    tp = [True, False, True, True]
    assert average_precision([0.9, 0.8, 0.7, 0.6], tp, 3) == pytest.approx(5 / 6)
    # COCO 101 points on the same curve: recall 0..0.33 (34 points) -> 1, 0.34..1 (67 points) -> 3/4
    assert average_precision([0.9, 0.8, 0.7, 0.6], tp, 3, "coco101") == pytest.approx((34 + 67 * 0.75) / 101)
    # the scores are passed unsorted: the ranking is by score, not by list order
    assert average_precision([0.7, 0.9, 0.8], [True, False, True], 2) == pytest.approx(2 / 3)


def test_streaming_evaluator_ap_uses_the_precision_envelope():
    """The same FP, TP, TP ranking through PointEvaluator (score histograms): AP 2/3 by hand."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    # frame 1: one sign, a far-off prediction at 0.9 (FP) and a hit at 0.8; frame 2: a hit at 0.7
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[150, 150], [51, 50]], [1, 1], [0.9, 0.8])
    ev.add_frame([[20, 20]], [1], [box_at(20, 20, 10)], [[20, 22]], [1], [0.7])
    sign = ev.summary()["tolerances"]["8px"]["per_class"]["sign"]
    assert sign["AP"] == pytest.approx(2 / 3)
    # 101 points: every recall level is reached at precision 2/3 or better -> envelope 2/3 throughout
    assert sign["AP_coco101"] == pytest.approx(2 / 3)


def test_prediction_takes_the_nearest_free_ground_truth_not_the_first_listed():
    """Two signs both inside one prediction's radius, the farther one listed first: the prediction must
    match the nearer one (distances by hand: 10 px and 1 px)."""
    gt = np.array([[10.0, 0.0], [1.0, 0.0]])  # farther first
    m, d = match_greedy([[0.0, 0.0]], [0.9], [1], gt, [1, 1], [12.0, 12.0])
    assert m.tolist() == [1] and d.tolist() == [1.0]
    # a second, weaker prediction at (11, 0) then takes the farther sign (1 px); matched to the first
    # listed sign instead, the strong prediction would leave only the near one, 10 px from it
    m, d = match_greedy([[0.0, 0.0], [11.0, 0.0]], [0.9, 0.5], [1, 1], gt, [1, 1], [12.0, 12.0])
    assert m.tolist() == [1, 0] and d.tolist() == [1.0, 1.0]
    # through the evaluator: the operating-point error is the nearest distance, 1 px
    ev = PointEvaluator(TAX, (Tolerance("12px", 12.0),), operating_threshold=0.5)
    ev.add_frame(gt, [1, 1], [box_at(10, 0, 4), box_at(1, 0, 4)], [[0.0, 0.0]], [1], [0.9])
    assert ev.point_errors()[0].tolist() == [1.0]


def test_where_nearest_pixel_matching_differs_from_pycocotools_oks():
    """pycocotools matches each detection to the ground truth of highest OKS, i.e. smallest d / sqrt(area);
    we take the nearest in pixels. Here they disagree: a small sign A (10 px, radius 5) and a large sign
    B (40 px, radius 20); a prediction 4.5 px from A and 15.5 px from B is nearer A in pixels but nearer
    B relative to size (15.5 / 40 < 4.5 / 10). A second, weaker prediction 4 px from A is 24 px from B.
    Ours: P1 -> A, P2 finds nothing: TP, FP over 2 GT -> AP 1/2 (coco101: recall 0..0.5 -> 51/101).
    pycocotools: P1 -> B, P2 -> A: two TPs -> AP 1."""
    a, b = (100.0, 100.0), (120.0, 100.0)
    preds = [[104.5, 100.0], [96.0, 100.0]]
    scores = [0.9, 0.8]
    ev = PointEvaluator(TAX, (Tolerance("adaptive"),), operating_threshold=0.5)
    ev.add_frame([a, b], [1, 1], [box_at(*a, 10), box_at(*b, 40)], preds, [1, 1], scores)
    ours = ev.summary()["tolerances"]["adaptive"]["per_class"]["sign"]
    assert ours["AP"] == pytest.approx(0.5)
    assert ours["AP_coco101"] == pytest.approx(51 / 101)
    anns = [
        {
            "id": k + 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [x - s / 2, y - s / 2, s, s],
            "area": s * s,
            "iscrowd": 0,
            "keypoints": [x, y, 2],
            "num_keypoints": 1,
        }
        for k, ((x, y), s) in enumerate([(a, 10.0), (b, 40.0)])
    ]
    gt = {
        "images": [{"id": 1, "width": 200, "height": 200, "file_name": "1.jpg"}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "sign", "keypoints": ["reference_point"], "skeleton": []}],
    }
    dets = [
        {"image_id": 1, "category_id": 1, "keypoints": [p[0], p[1], 1], "score": s}
        for p, s in zip(preds, scores, strict=True)
    ]
    assert _pycocotools_ap(gt, dets, 1, oks_sigma_for(0.5, 0.5)) == pytest.approx(1.0)


def test_detections_on_ignore_regions_are_neither_tp_nor_fp():
    # one sign GT at (20, 20) (box 20 px: adaptive radius 10); an ignore region [60, 60, 100, 100].
    # Predictions: (22, 20) matches the GT; (80, 80) lies in the ignore region -> left out;
    # (150, 20) is a plain false positive. Without the ignore region: 1 TP, 2 FP.
    def run(ignore):
        ev = PointEvaluator(TAX, (Tolerance("adaptive"),), operating_threshold=0.5)
        ev.add_frame(
            [[20, 20]], [1], [box_at(20, 20, 20)],
            [[22, 20], [80, 80], [150, 20]], [1, 1, 1], [0.9, 0.8, 0.7],
            ignore_boxes=ignore,
        )  # fmt: skip
        per = ev.summary()["tolerances"]["adaptive"]["per_class"]
        return per["sign"]["tp"], per["sign"]["fp"]

    assert run([[60, 60, 100, 100]]) == (1, 1)
    assert run(None) == (1, 2)
    # an ignore region over the GT itself does not hide the true positive
    assert run([[0, 0, 40, 40]]) == (1, 2)


def test_each_class_has_its_own_best_f1_threshold_by_hand():
    """Signs ranked TP(0.9) FP(0.8) TP(0.6) FP(0.4), 2 GT: best >= 0.6, F1 0.8 (as above). Road markings
    ranked TP(0.7) TP(0.5) FP(0.3), 3 GT: F1 at >= 0.7: P 1, R 1/3 -> 0.5; >= 0.5: P 1, R 2/3 -> 0.8;
    >= 0.3: P 2/3, R 2/3 -> 2/3. Best: 0.5. The pooled best of all seven is a single number in between."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    gt_boxes = [box_at(50, 50, 10)] + [box_at(0, 0, 4)] * 3
    ev.add_frame(
        [[50, 50], [200, 200], [300, 300], [400, 400]], [1, 3, 3, 3], gt_boxes,
        [[50, 51], [150, 150], [200, 201], [300, 302], [10, 500]], [1, 1, 3, 3, 3], [0.9, 0.8, 0.7, 0.5, 0.3],
    )  # fmt: skip
    ev.add_frame([[20, 20]], [1], [box_at(20, 20, 10)], [[21, 20], [90, 90]], [1, 1], [0.6, 0.4])
    per = ev.summary()["best_f1_per_class"]
    assert set(per) == {"sign", "road_marking"}  # no signal ground truth: no threshold of its own
    assert per["sign"]["threshold"] == pytest.approx(0.6) and per["sign"]["f1"] == pytest.approx(0.8)
    assert per["road_marking"]["threshold"] == pytest.approx(0.5)
    assert per["road_marking"]["f1"] == pytest.approx(0.8)
    assert per["road_marking"]["precision"] == pytest.approx(1.0)


def test_per_class_operating_thresholds_pick_the_operating_detections():
    # sign threshold 0.85, road marking 0.4: the sign at 0.8 is under its threshold (a miss, not a TP), the
    # marking at 0.5 is over its own
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=[1.0, 0.85, 0.5, 0.4])
    ev.add_frame(
        [[50, 50], [200, 200]], [1, 3], [box_at(50, 50, 10), box_at(0, 0, 4)],
        [[50, 51], [200, 201]], [1, 3], [0.8, 0.5],
    )  # fmt: skip
    s = ev.summary()
    per = s["tolerances"]["8px"]["per_class"]
    assert (per["sign"]["tp"], per["sign"]["fn"]) == (0, 1)
    assert (per["road_marking"]["tp"], per["road_marking"]["fn"]) == (1, 0)
    assert s["operating_threshold"] == {"sign": 0.85, "signal": 0.5, "road_marking": 0.4}
    assert PointEvaluator(TAX, operating_threshold=0.5).summary()["operating_threshold"] == 0.5


def test_predictions_of_classes_a_frame_does_not_label_are_left_out_of_that_frame():
    """Pooled splits: a GTSDB frame labels no road markings, a marking frame no signs. A road-marking
    prediction on the sign frame is neither FP nor in the curves; the same prediction on a frame that
    labels markings is an FP."""

    def run(unlabelled):
        ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
        ev.add_frame([[200, 200]], [3], [box_at(0, 0, 4)], [[201, 200]], [3], [0.9])  # a marking frame
        ev.add_frame(
            [[50, 50]], [1], [box_at(50, 50, 10)], [[50, 51], [120, 120]], [1, 3], [0.9, 0.95],
            unlabelled=unlabelled,
        )  # fmt: skip
        s = ev.summary()
        return s["tolerances"]["8px"]["per_class"]["road_marking"]["fp"], s["unlabelled_predictions"]

    assert run((2, 3)) == (0, {"signal": 0, "road_marking": 1})
    assert run(()) == (1, {"signal": 0})


def test_best_f1_tie_goes_to_the_lower_threshold():
    """2 signs; ranked TP(0.9) FP(0.7) FP(0.6) TP(0.5). F1 at >= 0.9: P 1, R 1/2 -> 2/3; >= 0.7: 1/2;
    >= 0.6: P 1/3, R 1/2 -> 0.4; >= 0.5: P 1/2, R 1 -> 2/3. 0.9 and 0.5 tie at 2/3: the lower threshold
    wins (more recall for the same F1)."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    ev.add_frame(
        [[50, 50], [20, 20]], [1, 1], [box_at(50, 50, 10), box_at(20, 20, 10)],
        [[50, 51], [150, 150], [90, 90], [21, 20]], [1, 1, 1, 1], [0.9, 0.7, 0.6, 0.5],
    )  # fmt: skip
    best = ev.summary()["best_f1"]
    assert best["threshold"] == pytest.approx(0.5)
    assert best["f1"] == pytest.approx(2 / 3)
    assert best["precision"] == pytest.approx(0.5) and best["recall"] == pytest.approx(1.0)
    assert ev.summary()["best_f1_per_class"]["sign"]["threshold"] == pytest.approx(0.5)


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_on_ignore_region_includes_the_box_edges_and_excludes_points_near_ground_truth():
    from keras_lmk.evaluation.metrics import on_ignore_region

    box = np.array([[10.0, 20.0, 30.0, 50.0]])  # x 10..30, y 20..50
    pts = np.array([[10, 35], [30, 35], [20, 20], [20, 50], [40, 35], [20, 60], [35, 25]], float)
    got = on_ignore_region(pts, box, np.zeros((0, 2)), np.zeros(0))
    assert got.tolist() == [True, True, True, True, False, False, False]  # (35, 25): x beyond 30, under 50
    # a point within a ground truth's radius (inclusive) is not on the ignore region; one beyond it is
    gt = np.array([[20.0, 30.0], [100.0, 100.0]])
    near = np.array([[20.0, 34.0], [20.0, 34.5], [12.0, 45.0]])
    assert on_ignore_region(near, box, gt, np.array([4.0, 4.0])).tolist() == [False, True, True]


def test_f1_and_threshold_formatting():
    from keras_lmk.evaluation.metrics import _f1, format_threshold

    assert _f1(0.5, 1.0) == pytest.approx(2 / 3) and _f1(0.0, 0.0) == 0.0
    assert format_threshold(0.8) == "0.8"
    assert format_threshold({"warning": 0.95, "signal": 0.825}) == "warning 0.95, signal 0.825"


def test_best_f1_is_none_with_ground_truth_but_no_prediction():
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),))
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], np.zeros((0, 2)), [], [])
    assert ev.best_f1_point() is None and ev.best_f1_per_class() == {}


def test_best_f1_of_one_ground_truth_found_in_the_lowest_score_bin():
    # one sign, one prediction on it at score 0.00005 (bin 0): threshold 0, P = R = F1 = 1
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),))
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[50, 51]], [1], [0.00005])
    assert ev.best_f1_point() == {"threshold": 0.0, "f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_best_f1_by_hand_when_precision_plus_recall_stays_under_one():
    """4 signs; ranked FP(0.9) TP(0.8). At >= 0.9: P 0, R 0 -> F1 0; at >= 0.8: P 1/2, R 1/4 -> F1 1/3."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),))
    gts = [[20, 20], [50, 50], [80, 80], [110, 110]]
    ev.add_frame(gts, [1] * 4, [box_at(x, y, 10) for x, y in gts], [[200, 20], [50, 51]], [1, 1], [0.9, 0.8])
    best = ev.best_f1_point()
    assert best["threshold"] == pytest.approx(0.8) and best["f1"] == pytest.approx(1 / 3)
    assert best["precision"] == pytest.approx(0.5) and best["recall"] == pytest.approx(0.25)


def test_each_tolerance_has_its_own_curve_and_ap_and_the_default_is_the_primary():
    # one sign found 3 px off: a hit within 8 px, a miss within 2 px
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0), Tolerance("2px", 2.0)), operating_threshold=0.5)
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[53, 50]], [1], [0.9])
    np.testing.assert_allclose(ev.pr_curves()["sign"], [[1.0], [1.0]])  # the primary, 8 px
    np.testing.assert_allclose(ev.pr_curves("2px")["sign"], [[0.0], [0.0]])
    tols = ev.summary()["tolerances"]
    assert tols["8px"]["mAP"] == 1.0 and tols["2px"]["mAP"] == 0.0
    assert (tols["8px"]["recall"], tols["2px"]["recall"]) == (1.0, 0.0)


def test_the_first_class_can_be_unlabelled_too():
    # only signals are labelled; a sign prediction far from everything is an unlabelled prediction, not a
    # background false positive
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    ev.add_frame([[50, 50]], [2], [box_at(50, 50, 10)], [[50, 51], [150, 150]], [2, 1], [0.9, 0.8])
    cm, removed = ev.confusion_matrix()
    assert removed.tolist() == [0, 1, 0, 0] and cm[0].tolist() == [0, 0, 0, 0]
    s = ev.summary()
    assert s["unlabelled_classes"] == ["sign", "road_marking"]
    assert s["unlabelled_predictions"] == {"sign": 1, "road_marking": 0}
    assert s["ap_score_resolution"] == 1e-4


def test_per_class_thresholds_that_differ_only_in_the_first_class():
    ev = PointEvaluator(TAX, operating_threshold=[0.0, 0.9, 0.5, 0.5])
    assert ev.operating_threshold() == {"sign": 0.9, "signal": 0.5, "road_marking": 0.5}
    assert ev.threshold == 0.5  # the lowest


def _assert_close(got, want, where="summary"):
    """Nested dicts and lists equal, floats to 1e-9 relative."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, sorted(got), sorted(want))
        for k in want:
            _assert_close(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9), (where, got, want)
    else:
        assert got == want, (where, got, want)


def test_the_whole_summary_by_hand():
    """Frame 1: a sign found 5 px off (0.9), a signal found 1 px off (0.8), a sign far from everything (0.6),
    a signal below the operating threshold (0.3). Frame 2: a sign nobody finds. No road marking anywhere."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0), Tolerance("adaptive")), operating_threshold=0.5)
    ev.add_frame(
        [[50, 50], [100, 100]], [1, 2], [box_at(50, 50, 10), box_at(100, 100, 10)],
        [[53, 54], [100, 101], [200, 200], [300, 300]], [1, 2, 1, 2], [0.9, 0.8, 0.6, 0.3],
    )  # fmt: skip
    ev.add_frame([[20, 20]], [1], [box_at(20, 20, 10)], np.zeros((0, 2)), [], [])
    # at >= 0.5, both tolerances (8 px; adaptive: max(4, 0.5 * 10) = 5 px, the sign exactly on it):
    # sign TP FP of 2 -> P 1/2, R 1/2; signal TP of 1 -> P 1, R 1; pooled 2 of 3 predictions, 2 of 3 found.
    # AP over all scores: sign (0.9 TP, 0.6 FP; 2 GT) 1/2, COCO-101 51/101; signal (0.8 TP, 0.3 FP; 1 GT) 1.
    per_class = {
        "sign": {"AP": 0.5, "AP_coco101": 51 / 101, "num_gt": 2, "num_pred": 2, "tp": 1, "fp": 1, "fn": 1,
                 "precision": 0.5, "recall": 0.5, "f1": 0.5},
        "signal": {"AP": 1.0, "AP_coco101": 1.0, "num_gt": 1, "num_pred": 1, "tp": 1, "fp": 0, "fn": 0,
                   "precision": 1.0, "recall": 1.0, "f1": 1.0},
    }  # fmt: skip
    pooled = {"mAP": 0.75, "mAP_coco101": (51 / 101 + 1) / 2, "precision": 2 / 3, "recall": 2 / 3,
              "f1": 2 / 3, "per_class": per_class}  # fmt: skip
    want = {
        "operating_threshold": 0.5,
        "ap_score_resolution": 1e-4,
        "frames": 2,
        "primary_tolerance": "8px",
        "num_gt": {"sign": 2, "signal": 1, "road_marking": 0},
        "unlabelled_classes": ["road_marking"],
        "tolerances": {
            "8px": {"rule": "fixed", "radius_px": 8.0, **pooled},
            "adaptive": {"rule": "adaptive", "radius_px": "max(4.0, 0.5 * sqrt(bbox area))", **pooled},
        },
        # pooled over the scores 0.9, 0.8, 0.6, 0.3 (hits: T T F F of 3): F1 1/2, 4/5, 2/3, 4/7
        "best_f1": {"threshold": 0.8, "f1": 0.8, "precision": 1.0, "recall": 2 / 3},
        "best_f1_per_class": {
            "sign": {"threshold": 0.9, "f1": 2 / 3, "precision": 1.0, "recall": 0.5},
            "signal": {"threshold": 0.8, "f1": 1.0, "precision": 1.0, "recall": 1.0},
        },
        # errors 5 and 1 px: median 3, p90 1 + 0.9 * 4 (linear interpolation)
        "point_error_px": {
            "count": 2,
            "median": 3.0,
            "p90": 4.6,
            "per_class": {
                "sign": {"count": 1, "median": 5.0, "p90": 5.0},
                "signal": {"count": 1, "median": 1.0, "p90": 1.0},
            },
        },  # fmt: skip
        "confusion": {
            "labels": ["background", "sign", "signal", "road_marking"],
            "rows": "ground truth (background = no landmark)",
            "cols": "prediction (background = missed)",
            # the far sign is a background FP (row 0); the frame-2 sign is missed (column 0)
            "matrix": [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
        },
        "unlabelled_predictions": {"road_marking": 0},
    }
    _assert_close(ev.summary(), want)


def test_no_prediction_means_precision_zero_and_an_empty_summary_has_nan_without_warnings():
    import warnings

    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),))
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], np.zeros((0, 2)), [], [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tol = ev.summary()["tolerances"]["8px"]
        empty = PointEvaluator(TAX, (Tolerance("8px", 8.0),)).summary()
    assert tol["per_class"]["sign"]["precision"] == 0.0 and (tol["precision"], tol["recall"]) == (0.0, 0.0)
    assert (empty["tolerances"]["8px"]["precision"], empty["tolerances"]["8px"]["recall"]) == (0.0, 0.0)
    assert np.isnan(empty["tolerances"]["8px"]["mAP"]) and np.isnan(empty["tolerances"]["8px"]["mAP_coco101"])
    assert empty["point_error_px"]["count"] == 0 and np.isnan(empty["point_error_px"]["median"])
    assert np.isnan(empty["point_error_px"]["p90"]) and empty["point_error_px"]["per_class"] == {}


def test_point_error_counts_per_class():
    # two signs found 3 and 4 px off, one signal 2 px off
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    gts = [[50, 50], [100, 50], [150, 50]]
    ev.add_frame(gts, [1, 1, 2], [box_at(x, y, 10) for x, y in gts], [[53, 50], [100, 54], [150, 52]],
                 [1, 1, 2], [0.9, 0.8, 0.7])  # fmt: skip
    per_class = ev.summary()["point_error_px"]["per_class"]
    want = {
        "sign": {"count": 2, "median": 3.5, "p90": 3.9},
        "signal": {"count": 1, "median": 2.0, "p90": 2.0},
    }
    _assert_close(per_class, want)


def test_the_frame_row_that_add_frame_returns():
    import warnings

    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    # 2 signs; at >= 0.5: one found 3 px off, two far away; the 0.4 prediction is below the threshold
    row = ev.add_frame(
        [[50, 50], [100, 50]], [1, 1], [box_at(50, 50, 10), box_at(100, 50, 10)],
        [[53, 50], [200, 200], [300, 300], [100, 50]], [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.4],
    )  # fmt: skip
    assert row == {"num_gt": 2, "num_pred": 3, "tp": 1, "fp": 2, "fn": 1, "median_point_error_px": 3.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" on a frame without a hit
        row = ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[200, 200]], [1], [0.9])
    assert np.isnan(row.pop("median_point_error_px"))
    assert row == {"num_gt": 1, "num_pred": 1, "tp": 0, "fp": 1, "fn": 1}


def test_a_score_exactly_at_the_operating_threshold_is_an_operating_detection():
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    row = ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[51, 50]], [1], [0.5])
    assert (row["num_pred"], row["tp"]) == (1, 1)


def test_several_separate_operating_detections_each_with_its_score():
    # op detections given apart from the all-threshold ones: two, the higher-scored one takes the sign
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    row = ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[50, 50]], [1], [0.9],
                       op_points=[[54, 50], [51, 50]], op_classes=[1, 1], op_scores=[0.6, 0.7])  # fmt: skip
    assert (row["num_pred"], row["tp"], row["fp"], row["median_point_error_px"]) == (2, 1, 1, 1.0)


def test_unlabelled_and_ignored_predictions_are_left_out_of_the_curves_too():
    """The AP (all-threshold) path, not only the operating one: a high-scored prediction that is left out
    must not become the top-ranked false positive."""
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    ev.add_frame([[50, 50]], [2], [box_at(50, 50, 10)], [[50, 51]], [2], [0.8])  # a signal found
    # a frame that labels no signals: its signal prediction (0.95) is left out
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[50, 51], [150, 150]], [1, 2], [0.8, 0.95],
                 unlabelled=(2, 3))  # fmt: skip
    # a sign prediction (0.9) on one of two ignore regions, far from the sign
    ev.add_frame([[50, 50]], [1], [box_at(50, 50, 10)], [[50, 51], [200, 200]], [1, 1], [0.8, 0.9],
                 ignore_boxes=[[0, 100, 10, 110], [190, 190, 210, 210]])  # fmt: skip
    per = ev.summary()["tolerances"]["8px"]["per_class"]
    assert (per["signal"]["AP"], per["sign"]["AP"]) == (1.0, 1.0)
    assert (per["signal"]["fp"], per["sign"]["fp"]) == (0, 0)


def test_the_point_error_column_compacts_without_losing_values():
    from keras_lmk.evaluation.metrics import _Column

    col = _Column(np.float32, compact_every=2)
    for values in ([1.0], [], [2.0, 3.0], [4.0], [5.0]):
        col.append(values)
    np.testing.assert_array_equal(col.array(), [1, 2, 3, 4, 5])
    assert col.array().dtype == np.float32


def test_confusion_with_the_first_listed_ground_truth_and_with_an_already_matched_one():
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    # a sign prediction on the road marking listed first (index 0): a confusion, not a background FP and not
    # a miss; one more sign prediction far from everything: one background FP
    ev.add_frame([[60, 60], [200, 200]], [3, 1], [box_at(60, 60, 10), box_at(200, 200, 10)],
                 [[200, 201], [61, 60], [400, 400]], [1, 1, 1], [0.9, 0.8, 0.7])  # fmt: skip
    assert ev.confusion.tolist() == [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]
    ev = PointEvaluator(TAX, (Tolerance("8px", 8.0),), operating_threshold=0.5)
    # a signal prediction beside a sign that a sign prediction already took: a background FP, not a confusion
    ev.add_frame([[50, 50], [300, 300]], [1, 2], [box_at(50, 50, 10), box_at(300, 300, 10)],
                 [[50, 51], [52, 50]], [1, 2], [0.9, 0.8])  # fmt: skip
    assert ev.confusion.tolist() == [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    matrix = ev.summary()["confusion"]["matrix"]
    assert all(type(v) is int for row in matrix for v in row)  # counts, written to JSON as integers


def test_default_operating_threshold_and_the_lowest_per_class_one():
    assert PointEvaluator(TAX).operating_threshold() == 0.3
    assert PointEvaluator(TAX, operating_threshold=[0.0, 0.2, 0.5, 0.7]).threshold == 0.2
