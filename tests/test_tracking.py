"""Landmark tracker (keras_lmk.inference.tracking) on hand-made detection sequences."""

import numpy as np
import pytest

from keras_lmk.inference.tracking import LandmarkTracker, TrackerConfig

W = 640  # image width: the default gate is 0.05 * 640 = 32 px


def run(tracker, frames):
    return [tracker.update(p, c, s, W) for p, c, s in frames]


def det(points, classes, scores=None):
    points = np.asarray(points, float).reshape(-1, 2)
    return points, np.asarray(classes), np.full(len(points), 0.9) if scores is None else np.asarray(scores)


def test_constant_velocity_landmarks_keep_their_ids_and_exact_points():
    # two signs moving right / down at constant speed; the second detection sets the velocity, so from
    # then on the prediction is exact and the filtered point equals the detection
    a = [(100 + 5 * t, 50.0) for t in range(6)]
    b = [(300.0, 200 + 8 * t) for t in range(6)]
    out = run(LandmarkTracker(), [det([a[t], b[t]], [1, 2]) for t in range(6)])
    assert len(out[0]) == 0  # min_hits = 2: nothing before a landmark's second detection
    for t in range(1, 6):
        assert out[t].track_ids.tolist() == [0, 1]
        assert out[t].classes.tolist() == [1, 2]
        np.testing.assert_allclose(out[t].points, [a[t], b[t]], atol=1e-4)
        np.testing.assert_allclose(out[t].raw_points, [a[t], b[t]], atol=1e-4)
        np.testing.assert_allclose(out[t].scores, [0.9, 0.9], atol=1e-6)


def test_a_detection_of_another_class_starts_another_track():
    tr = LandmarkTracker(TrackerConfig(min_hits=1))
    out = run(tr, [det([(100, 100)], [1]), det([(101, 100)], [2]), det([(102, 100)], [1])])
    assert [o.track_ids.tolist() for o in out] == [[0], [1], [0]]
    assert tr.tracks_started == 2


def test_a_missed_landmark_coasts_then_ends_after_max_age():
    tr = LandmarkTracker(TrackerConfig(min_hits=1, max_age=2))
    seq = [det([(10.0 * t, 100)], [1]) for t in range(3)]  # moving 10 px/frame
    seq += [det([], [])] * 2  # two missed frames: coasts to x = 40
    seq += [det([(50.0, 100)], [1])]  # back where the velocity predicts it: same track
    seq += [det([], [])] * 3  # three missed frames > max_age: ends
    seq += [det([(90.0, 100)], [1])]
    out = run(tr, seq)
    assert [o.track_ids.tolist() for o in out] == [[0], [0], [0], [], [], [0], [], [], [], [1]]


def test_association_minimises_total_distance_not_greedy():
    # tracks standing at x = 0 and x = 10 (zero velocity); detections at 5.5 and 16 with an 8 px gate.
    # Greedy nearest-first gives 5.5 to the track at 10 (4.5 px) and leaves the other unmatched (16 px >
    # gate); the optimal assignment is 0 -> 5.5, 10 -> 16.
    tr = LandmarkTracker(TrackerConfig(gate_frac=8 / W, duplicate_frac=0, min_hits=1, alpha=1.0, beta=0.0))
    tr.update(*det([(0, 0), (10, 0)], [1, 1]), W)
    tr._vel[:] = 0.0
    out = tr.update(*det([(5.5, 0), (16, 0)], [1, 1]), W)
    assert dict(zip(out.track_ids.tolist(), out.raw_points[:, 0].tolist(), strict=True)) == {0: 5.5, 1: 16.0}


def test_filtering_reduces_the_point_noise_of_a_steady_track():
    rng = np.random.default_rng(0)
    truth = np.column_stack([200 + 3.0 * np.arange(60), np.full(60, 120.0)])
    noisy = truth + rng.normal(scale=2.0, size=truth.shape)
    out = run(LandmarkTracker(TrackerConfig(alpha=0.5, beta=0.2)), [det([p], [3]) for p in noisy])
    assert all(o.track_ids.tolist() == [0] for o in out[1:])
    filtered = np.array([o.points[0] for o in out[10:]])
    raw_err = np.linalg.norm(noisy[10:] - truth[10:], axis=1)
    filt_err = np.linalg.norm(filtered - truth[10:], axis=1)
    assert filt_err.mean() < 0.85 * raw_err.mean()


def test_default_reports_the_detections_own_points():
    pts = [(10.0, 10.0), (13.0, 11.0), (19.0, 12.5)]
    out = run(LandmarkTracker(), [det([p], [1]) for p in pts])
    np.testing.assert_allclose([o.points[0] for o in out[1:]], pts[1:])


def test_bad_config_and_inputs_are_errors():
    with pytest.raises(ValueError, match="alpha=0"):
        TrackerConfig(alpha=0)
    with pytest.raises(ValueError, match="min_hits=0"):
        TrackerConfig(min_hits=0)
    with pytest.raises(ValueError, match="2 points, 1 classes"):
        LandmarkTracker().update(np.zeros((2, 2)), [1], [0.5, 0.5], W)


def test_a_duplicate_vote_starts_no_track():
    # a second vote 6 px from a tracked landmark (under duplicate_frac 0.02 x 640 = 12.8 px) starts no track
    tr = LandmarkTracker(TrackerConfig(min_hits=1))
    out = run(tr, [det([(100, 100)], [1]), det([(110, 100), (116, 100)], [1, 1])])
    assert [o.track_ids.tolist() for o in out] == [[0], [0]] and tr.tracks_started == 1


def test_two_tracks_that_meet_on_one_landmark_become_one():
    # two tracks born 30 px apart converge to 6 px: as many detections each, so the younger (id 1) ends and
    # is not reported; the surviving track keeps following
    tr = LandmarkTracker(TrackerConfig(min_hits=1))
    out = run(tr, [det([(100, 100), (130, 100)], [1, 1]), det([(112, 100), (118, 100)], [1, 1])])
    out += run(tr, [det([(124, 100)], [1])])
    assert [o.track_ids.tolist() for o in out] == [[0, 1], [0], [0]]
    assert tr.num_tracks == 1


def test_a_coasting_track_widens_its_gate_with_each_missed_frame():
    # a standing landmark (velocity 0) at x = 100 is missed twice, then seen 50 px from its prediction. The
    # gate of a track with m misses is 0.05 x 640 x (1 + m) = 32 px x 3 = 96 px after 2 misses: 50 px is
    # inside it and the landmark keeps id 0 (a fixed 32 px gate would start track 1)
    tr = LandmarkTracker(TrackerConfig(min_hits=1, max_age=3))
    seq = [det([(100.0, 100)], [1])] * 2 + [det([], [])] * 2 + [det([(150.0, 100)], [1])]
    out = run(tr, seq)
    assert [o.track_ids.tolist() for o in out] == [[0], [0], [], [], [0]]
    assert tr.tracks_started == 1


def test_of_two_tracks_that_meet_the_one_with_more_detections_survives():
    # track 0 (older) starts at x = 100 and is missed in frames 1-2; track 1 starts at x = 140 (40 px: outside
    # track 0's 32 px gate) and is seen in frames 1-3. Before they meet, track 0 has 2 detections and track 1
    # has 3; in frame 4 they converge to 6 px apart (under duplicate_frac 0.02 x 640 = 12.8 px): track 1,
    # the younger one with more detections, survives; the older one ends
    tr = LandmarkTracker(TrackerConfig(min_hits=1))
    seq = [
        det([(100.0, 100)], [1]),
        det([(140.0, 100)], [1]),  # track 0 misses (40 px > 32 px): track 1 starts
        det([(140.0, 100)], [1]),  # track 1's second detection; track 0 misses again
        det([(100.0, 100), (140.0, 100)], [1, 1]),  # track 0: 2 detections, track 1: 3
        det([(117.0, 100), (123.0, 100)], [1, 1]),  # they meet
    ]
    out = run(tr, seq)
    assert [o.track_ids.tolist() for o in out[:4]] == [[0], [1], [1], [0, 1]]
    assert out[4].track_ids.tolist() == [1]
    assert tr.num_tracks == 1 and tr._ids.tolist() == [1]


def test_association_pairs_each_track_with_the_detection_that_minimises_total_distance():
    # tracks standing at x = 0 and x = 10; detections listed as x = 9, then x = 1 (both inside both 32 px
    # gates). The minimum-total-distance pairing is 0 -> 1 and 10 -> 9 (total 2 px; the crossed one is 18)
    tr = LandmarkTracker(TrackerConfig(duplicate_frac=0, min_hits=1))
    tr.update(*det([(0, 0), (10, 0)], [1, 1]), W)
    out = tr.update(*det([(9, 0), (1, 0)], [1, 1]), W)
    assert dict(zip(out.track_ids.tolist(), out.raw_points[:, 0].tolist(), strict=True)) == {0: 1.0, 1: 9.0}


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_reported_tracks_have_the_documented_dtypes_on_both_report_paths():
    # min_hits 1: a new track is reported in its first frame (its own path); then as a matched track
    for min_hits, frame in ((1, 0), (1, 1), (2, 1)):
        tr = LandmarkTracker(TrackerConfig(min_hits=min_hits))
        outs = [tr.update([[10.0, 20.0]], [3], np.array([0.75]), W) for _ in range(2)]  # float64 scores in
        out = outs[frame]
        assert out.track_ids.tolist() == [0] and out.classes.tolist() == [3] and out.scores.tolist() == [0.75]
        np.testing.assert_allclose(out.points, [[10, 20]])
        np.testing.assert_allclose(out.raw_points, [[10, 20]])
        assert (out.track_ids.dtype, out.classes.dtype, out.scores.dtype) == (np.int64, np.int32, np.float32)
        assert out.points.dtype == np.float32 and out.raw_points.dtype == np.float32


def test_the_second_detection_sets_the_velocity_exactly_also_with_smoothing():
    # alpha = beta = 0.5: the second detection sets position and velocity from the two detections (no
    # filtering yet), so on a constant-velocity landmark every prediction is exact and the filtered point is
    # the detection itself from the second frame on
    pts = [(100.0 + 7 * t, 50.0 - 3 * t) for t in range(5)]
    out = run(LandmarkTracker(TrackerConfig(alpha=0.5, beta=0.5, min_hits=1)), [det([p], [1]) for p in pts])
    np.testing.assert_allclose([o.points[0] for o in out], pts, atol=1e-4)


def test_a_track_is_reported_from_its_min_hits_th_detection():
    out = run(LandmarkTracker(TrackerConfig(min_hits=3)), [det([(10.0 * t, 10)], [1]) for t in range(4)])
    assert [o.track_ids.tolist() for o in out] == [[], [], [0], [0]]


def test_the_gate_grows_with_half_the_speed_and_includes_its_edge():
    # a landmark moving 30 px/frame: gate 32 + 0.5 x 30 = 47 px around the prediction. A detection 40 px off
    # keeps the id; one 55 px off starts a new track. At rest, a detection exactly 32 px off is inside.
    for off, ids in ((40.0, [0]), (55.0, [1])):
        tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=0))
        out = run(tr, [det([(100.0, 100)], [1]), det([(130.0, 100)], [1]), det([(160.0, 100 + off)], [1])])
        assert out[2].track_ids.tolist() == ids
    tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=0))
    out = run(tr, [det([(100.0, 100)], [1]), det([(100.0, 100)], [1]), det([(132.0, 100)], [1])])
    assert out[2].track_ids.tolist() == [0]


def test_duplicate_frac_0_never_merges_or_suppresses_tracks():
    # two votes on exactly one point start two tracks, and both live on
    tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=0))
    out = run(tr, [det([(50, 50), (50, 50)], [1, 1]), det([(50, 50), (50, 50)], [1, 1])])
    assert [o.track_ids.tolist() for o in out] == [[0, 1], [0, 1]] and tr.num_tracks == 2
    # a vote exactly on a matched track's point, unmatched itself, still starts a track
    tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=0))
    out = run(tr, [det([(50, 50)], [1]), det([(50, 50), (50, 50)], [1, 1])])
    assert tr.tracks_started == 2 and out[1].track_ids.tolist() == [0, 1]


def test_duplicates_are_judged_pair_by_pair():
    # duplicate_frac 1/64: 10 px at width 640. Frame 1: a vote exactly 10 px from track 0 starts no track,
    # while a far one (x = 400) does. Then two separate pairs of tracks meet at once: each pair keeps one.
    cfg = TrackerConfig(min_hits=1, duplicate_frac=1 / 64)
    tr = LandmarkTracker(cfg)
    out = run(tr, [det([(100, 100)], [1]), det([(100, 100), (110, 100), (400, 100)], [1, 1, 1])])
    assert out[1].track_ids.tolist() == [0, 1] and tr.tracks_started == 2
    tr = LandmarkTracker(cfg)
    seq = [
        det([(100, 100), (140, 100), (300, 100), (340, 100), (500, 300)], [1] * 5),
        det([(115, 100), (120, 100), (315, 100), (320, 100), (500, 300)], [1] * 5),
    ]
    out = run(tr, seq)
    assert out[1].track_ids.tolist() == [0, 2, 4] and tr.num_tracks == 3


def test_tracker_config_bounds_message_and_replace():
    TrackerConfig(gate_frac=1.0, duplicate_frac=1.0, alpha=1.0, beta=1.0, max_age=0)
    TrackerConfig(duplicate_frac=0.0, beta=0.0)
    for bad in ("gate_frac=0", "gate_frac=1.5", "duplicate_frac=1.5", "alpha=1.5", "beta=1.5", "max_age=-1"):
        key, value = bad.split("=")
        tail = r" \(gate_frac and alpha in \(0, 1\], beta in \[0, 1\], min_hits >= 1, max_age >= 0\)$"
        with pytest.raises(ValueError, match=rf"^tracker: out of range: {bad}" + tail):
            TrackerConfig(**{key: float(value) if "." in value else int(value)})
    with pytest.raises(ValueError, match="out of range: alpha=2, beta=-1 "):
        TrackerConfig(alpha=2, beta=-1)
    cfg = TrackerConfig(min_hits=3)
    assert cfg.replace(alpha=0.5) == TrackerConfig(min_hits=3, alpha=0.5) and cfg.alpha == 1.0


def test_each_track_s_gate_grows_with_its_own_speed_only():
    # track 0 moves 30 px/frame, track 1 (x = 400) stands still: track 1's gate stays 32 px, so a detection 40
    # px from it starts a new track (a gate from both tracks' speeds would be 32 + 15 = 47 px)
    tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=0))
    out = run(tr, [det([(100.0, 100), (400, 300)], [1, 1]), det([(130.0, 100), (400, 300)], [1, 1]),
                   det([(160.0, 100), (440, 300)], [1, 1])])  # fmt: skip
    assert out[2].track_ids.tolist() == [0, 2]


def test_two_tracks_exactly_duplicate_frac_apart_are_one():
    # duplicate_frac 1/64 x 640 = 10 px: two tracks moving to exactly 10 px apart follow one landmark
    tr = LandmarkTracker(TrackerConfig(min_hits=1, duplicate_frac=1 / 64))
    out = run(tr, [det([(100, 100), (130, 100)], [1, 1]), det([(110, 100), (120, 100)], [1, 1])])
    assert out[1].track_ids.tolist() == [0] and tr.num_tracks == 1
