"""Tracking metrics (keras_lmk.evaluation.tracking_metrics) on a hand-counted sequence."""

import dataclasses

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
    msg = "^tracking metrics need a landmark id for every ground-truth landmark$"
    with pytest.raises(ValueError, match=msg):
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


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_every_summary_number_on_a_hand_counted_sequence():
    # tolerance 5 px. Landmark ids 0 (class 2, 4 frames), 1 (class 1, 2 frames), 2 (class 1, 1 frame, never
    # matched). Ignore box B = [300, 320, 310, 330]: reports on its corners are inside (not counted), one at
    # (320, 325) is outside (x > 310 although x <= 330).
    ev = TrackingEvaluator(tolerance_px=5.0)
    b = [[300, 320, 310, 330]]
    frames = [
        # landmark 0 by track 7 (3 px), 1 by track 8 (0 px); a false report; one on B's lower corner
        ([[10, 10], [50, 50]], [2, 1], [0, 1], [[10, 13], [50, 50], [200, 200], [300, 320]], [2, 1, 1, 1],
         [7, 8, 3, 4], b),
        # landmark 0 by track 9 (a switch, 0 px), 1 by track 8 (1 px); B's upper corner; two false reports
        ([[12, 10], [52, 50]], [2, 1], [0, 1], [[12, 10], [52, 51], [310, 330], [400, 400], [320, 325]],
         [2, 1, 1, 1, 1], [9, 8, 5, 6, 10], b),
        # landmark 0 back to track 7 (a second switch, 0 px); landmark 2 missed
        ([[14, 10], [80, 80]], [2, 1], [0, 2], [[14, 10]], [2], [7], ()),
        # landmark 0 missed; the only report lies in an ignore box
        ([[16, 10]], [2], [0], [[500, 500]], [2], [11], [[490, 490, 510, 510]]),
    ]  # fmt: skip
    counts = [ev.add_frame(*f[:6], ignore_boxes=f[6]) for f in frames]
    assert counts == [
        {"gt": 2, "matched": 2, "false": 1, "id_switches": 0},
        {"gt": 2, "matched": 2, "false": 2, "id_switches": 1},
        {"gt": 2, "matched": 1, "false": 0, "id_switches": 1},
        {"gt": 1, "matched": 0, "false": 0, "id_switches": 0},
    ]
    # 7 landmark-frames, 5 matched, 8 counted reports, 3 false, 2 switches; errors [3, 0, 0, 1, 0]
    s = ev.summary()
    assert s.pop("point_error_px") == pytest.approx({"median": 0.0, "p90": 2.2})  # numpy's linear p90
    assert s == pytest.approx(
        {
            "tolerance_px": 5.0,
            "frames": 4,
            "gt_landmark_frames": 7,
            "landmarks": 3,
            "recall": 5 / 7,
            "precision": 5 / 8,
            "false_per_frame": 3 / 4,
            "id_switches": 2,
            "id_switches_per_100_matches": 40.0,
            "mota": 1 - (2 + 3 + 2) / 7,
            "track_recall": 2 / 3,  # 3 of 4, 2 of 2, 0 of 1 frames
            "mostly_tracked": 1 / 3,  # best tracks 2 of 4, 2 of 2, 0 of 1
            "tracks_per_landmark": 1.5,  # landmark 0: tracks 7 and 9; landmark 1: track 8
        }
    )


def test_an_empty_evaluation_has_no_ratios():
    s = TrackingEvaluator().summary()
    assert s == {
        "tolerance_px": 8.0,
        "frames": 0,
        "gt_landmark_frames": 0,
        "landmarks": 0,
        "recall": None,
        "precision": None,
        "false_per_frame": None,
        "id_switches": 0,
        "id_switches_per_100_matches": None,
        "mota": None,
        "track_recall": None,
        "mostly_tracked": None,
        "tracks_per_landmark": None,
        "point_error_px": {"median": None, "p90": None},
    }
    ev = TrackingEvaluator()
    ev.add_frame([[0, 0]], [1], [0], [[8.5, 0]], [1], [1])  # 8.5 px: beyond the default 8 px
    s = ev.summary()
    assert s["recall"] == 0.0 and s["mostly_tracked"] == 0.0 and s["track_recall"] == 0.0
    assert s["tracks_per_landmark"] is None and s["id_switches_per_100_matches"] is None


def test_two_switches_in_one_frame_count_twice():
    ev = TrackingEvaluator(tolerance_px=5.0)
    ev.add_frame([[0, 0], [100, 0]], [1, 1], [0, 1], [[0, 0], [100, 0]], [1, 1], [1, 2])
    assert (
        ev.add_frame([[0, 0], [100, 0]], [1, 1], [0, 1], [[0, 0], [100, 0]], [1, 1], [2, 1])["id_switches"]
        == 2
    )
    assert ev.summary()["id_switches"] == 2


def test_matching_edges():
    g, p = match_points([[0, 0]], [1], [[3, 4]], [1], 5.0)  # exactly at the tolerance
    assert (g.tolist(), p.tolist()) == ([0], [0])
    for args in (([], [], [[0, 0]], [1]), ([[0, 0]], [1], [], [])):
        g, p = match_points(*args, 5.0)
        assert len(g) == len(p) == 0 and g.dtype == np.int64


def test_sequence_tracking_scores_tracks_and_raw_detections():
    from keras_lmk.data.records import ImageRecord
    from keras_lmk.detector.decode import Detections
    from keras_lmk.evaluation.tracking_metrics import SequenceTracking
    from keras_lmk.inference.tracking import TrackerConfig

    cfg = TrackerConfig(min_hits=1)  # not the default config (min_hits 2)
    assert SequenceTracking(cfg).tracks.tolerance_px == 8.0
    seq = SequenceTracking(cfg, tolerance_px=4.0)
    for t in range(3):
        x = 100.0 + 4 * t
        rec = ImageRecord("f.png", 640, 480, [[x - 5, 95, x + 5, 105]], [[x, 100]], [1], landmark_ids=[0],
                          ignore_boxes=[[500, 0, 600, 50]], ignore_classes=[1])  # fmt: skip
        pts = [[x, 100]] + ([[400, 400]] if t == 0 else []) + ([[550, 20]] if t == 2 else [])
        # a one-frame false detection in frame 0; one in the ignore region in frame 2 (not counted)
        dets = Detections(np.ones(len(pts), np.int32), np.float32(pts), np.full(len(pts), 0.9, np.float32))
        seq.add_frame(rec, dets, 640)
    s = seq.summary()
    assert s["tracker"] == dataclasses.asdict(cfg) and s["tracks_started"] == 3
    # tracks: every detection reported from its first frame (min_hits 1): the false one in frame 0 counts,
    # the one in the ignore region does not
    assert s["tracks"]["recall"] == 1.0 and s["tracks"]["precision"] == 0.75
    assert s["tracks"]["id_switches"] == 0 and s["tracks"]["mostly_tracked"] == 1.0
    assert s["detections"] == {
        "tolerance_px": 4.0,
        "recall": 1.0,
        "precision": 0.75,
        "false_per_frame": pytest.approx(1 / 3),
        "point_error_px": {"median": 0.0, "p90": 0.0},
    }
    bad = ImageRecord("nolabel.png", 640, 480, [[0, 0, 4, 4]], [[2, 2]], [1], landmark_ids=[-1])
    with pytest.raises(
        ValueError, match=r"^nolabel.png: --track needs .* a COCO file whose annotations carry landmark_id\)$"
    ):
        seq.add_frame(bad, Detections.empty(), 640)


def test_track_recall_counts_a_landmark_matched_in_exactly_half_its_frames():
    ev = TrackingEvaluator(tolerance_px=5.0)
    for t in range(4):  # landmark 0: matched in frames 0 and 1 of 4 (half); landmark 1: in frame 0 of 4
        ev.add_frame([[0, 0], [50, 0]], [1, 1], [0, 1], [[0, 0]] * (t < 2) + [[50, 0]] * (t == 0),
                     [1] * ((t < 2) + (t == 0)), [7] * (t < 2) + [8] * (t == 0))  # fmt: skip
    assert ev.summary()["track_recall"] == 0.5


def test_matching_minimises_the_total_distance():
    # ground truth at x = 0 and x = 10, predictions listed at x = 9 and x = 1: 0 -> 1, 10 -> 9
    g, p = match_points([[0, 0], [10, 0]], [1, 1], [[9, 0], [1, 0]], [1, 1], 20.0)
    assert sorted(zip(g.tolist(), p.tolist(), strict=True)) == [(0, 1), (1, 0)]
