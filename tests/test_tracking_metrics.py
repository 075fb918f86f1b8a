"""Tracking metrics (keras_lmk.evaluation.tracking_metrics) on a hand-counted sequence."""

import numpy as np
import pytest

from keras_lmk.evaluation.tracking_metrics import TrackingEvaluator, match_points


def test_hand_counted_sequence():
    ev = TrackingEvaluator(tolerance_px=5.0)
    # landmark 1 (class 2) is visible in 4 frames; track 7 follows it twice, it is missed once, then track 9
    # takes it over (one ID switch). Landmark 2 (class 1) is visible in 2 frames, tracked by 8 both times.
    # A false report at (500, 500) in frame 0, and one inside an ignore box in frame 1 (not counted).
    ev.add_frame([[10, 10], [50, 50]], [2, 1], [1, 2], [[11, 10], [50, 52], [500, 500]], [2, 1, 1], [7, 8, 4])
    ev.add_frame(
        [[12, 10], [52, 50]], [2, 1], [1, 2], [[12, 13], [52, 50], [300, 300]], [2, 1, 3], [7, 8, 5],
        ignore_boxes=[[290, 290, 310, 310]],
    )  # fmt: skip
    ev.add_frame([[14, 10]], [2], [1], [], [], [])
    ev.add_frame([[16, 10]], [2], [1], [[16, 10]], [2], [9])
    s = ev.summary()
    assert (s["gt_landmark_frames"], s["landmarks"], s["frames"]) == (6, 2, 4)
    assert s["recall"] == pytest.approx(5 / 6)
    assert s["precision"] == pytest.approx(5 / 6)  # 6 counted reports, 5 matched
    assert s["false_per_frame"] == pytest.approx(1 / 4)
    assert s["id_switches"] == 1
    assert s["mota"] == pytest.approx(1 - (1 + 1 + 1) / 6)
    assert s["track_recall"] == pytest.approx(1.0)  # 3 of 4 and 2 of 2 frames matched
    assert s["mostly_tracked"] == pytest.approx(0.5)  # landmark 1's best track covers 2 of 4 frames
    assert s["tracks_per_landmark"] == pytest.approx(1.5)
    errors = [1, 2, 3, 0, 0]
    assert s["point_error_px"]["median"] == pytest.approx(np.median(errors))


def test_matching_is_one_to_one_same_class_within_tolerance():
    g, p = match_points([[0, 0], [10, 0]], [1, 1], [[5.5, 0], [16, 0], [10, 0]], [1, 1, 2], 8.0)
    assert sorted(zip(g.tolist(), p.tolist(), strict=True)) == [(0, 0), (1, 1)]  # (10, 0) is another class


def test_ground_truth_without_ids_is_an_error():
    with pytest.raises(ValueError, match="landmark id"):
        TrackingEvaluator().add_frame([[0, 0]], [1], [-1], [], [], [])


def test_mostly_tracked_needs_one_track_for_80_percent_of_the_frames():
    # landmark 1 is matched in all 5 of its frames, but by track 7 three times and track 8 twice: its best
    # single track covers 3/5 = 60 % < 80 %, so it is not mostly tracked (although covered 100 % by "any
    # track"). Landmark 2 is matched by track 9 in 4 of its 5 frames: exactly 80 %, mostly tracked.
    ev = TrackingEvaluator(tolerance_px=5.0)
    for t in range(5):
        tracks = [[10, 10]] + ([[50, 50]] if t < 4 else [])
        ids = [7 if t < 3 else 8] + ([9] if t < 4 else [])
        ev.add_frame([[10, 10], [50, 50]], [1, 1], [1, 2], tracks, [1] * len(ids), ids)
    s = ev.summary()
    assert s["track_recall"] == pytest.approx(1.0)
    assert s["mostly_tracked"] == pytest.approx(0.5)
