import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from keras_lmk.detector.decode import (
    DecoderConfig,
    Detections,
    decode,
    dequantize,
    dequantize_output,
    merge_votes,
    suppress_near,
)
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox

SPEC = GridSpec(input_height=64, input_width=64, stride=8, anchors=((0.5, 0.5), (0.25, 0.25)), num_classes=3)
IDENTITY = Letterbox(1.0, 0, 0)


def quiet_tensors(spec=SPEC):
    """Every anchor is confidently background; points sit on their anchors."""
    logits = np.zeros((spec.num_cells, spec.num_anchors, spec.num_classes), np.float32)
    logits[..., 0] = 10.0
    points = np.broadcast_to(spec.anchor_array(), (spec.num_cells, spec.num_anchors, 2)).copy()
    return logits, points


def set_vote(logits, points, cell, anchor, cls, conf, point_px, spec=SPEC):
    """Make anchor (cell, anchor) vote for class `cls` with confidence `conf` at `point_px` (input pixels)."""
    # logits [bg, ..., cls, ...] = [0, -inf.., log(conf/(1-conf)), -inf..] -> P(bg) = 1 - conf exactly
    logits[cell, anchor] = -50.0
    logits[cell, anchor, 0] = 0.0
    logits[cell, anchor, cls] = np.log(conf / (1 - conf))
    points[cell, anchor] = spec.to_cell_units(np.array([point_px]), [cell])[0]


def test_two_cells_vote_for_one_sign_gives_one_weighted_landmark():
    logits, points = quiet_tensors()
    # cells (row 2, col 2) = 18 and (row 2, col 3) = 19, a sign whose centre is near x=24, y=20
    set_vote(logits, points, 18, 0, cls=2, conf=0.9, point_px=(24.0, 20.0))
    set_vote(logits, points, 19, 0, cls=2, conf=0.6, point_px=(26.0, 22.0))
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig(score_threshold=0.3, merge_radius_px=8))
    assert len(dets) == 1
    assert dets.classes.tolist() == [2]
    # hand computed: x = (0.9*24 + 0.6*26) / 1.5 = 24.8; y = (0.9*20 + 0.6*22) / 1.5 = 20.8; score = max = 0.9
    np.testing.assert_allclose(dets.points, [[24.8, 20.8]], atol=1e-4)
    np.testing.assert_allclose(dets.scores, [0.9], atol=1e-5)


def test_other_class_or_far_votes_stay_separate_and_sorted():
    logits, points = quiet_tensors()
    set_vote(logits, points, 18, 0, cls=2, conf=0.6, point_px=(24.0, 20.0))
    set_vote(logits, points, 19, 0, cls=1, conf=0.8, point_px=(25.0, 20.0))  # same place, other class
    set_vote(logits, points, 40, 0, cls=2, conf=0.7, point_px=(60.0, 60.0))  # same class, far
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig(merge_radius_px=8))
    assert dets.classes.tolist() == [1, 2, 2]
    np.testing.assert_allclose(dets.scores, [0.8, 0.7, 0.6], atol=1e-5)
    assert dets.points.dtype == np.float32 and dets.classes.dtype == np.int32


def test_threshold_top_k_and_max_detections():
    logits, points = quiet_tensors()
    # three anchors of one cell: the third best is dropped by top_k_per_cell=2 although above threshold
    spec = GridSpec(64, 64, 8, ((0.5, 0.5), (0.25, 0.25), (0.75, 0.75)), 3)
    logits, points = quiet_tensors(spec)
    set_vote(logits, points, 0, 0, 1, 0.9, (2.0, 2.0), spec)
    set_vote(logits, points, 0, 1, 1, 0.8, (40.0, 40.0), spec)
    set_vote(logits, points, 0, 2, 1, 0.7, (60.0, 10.0), spec)
    set_vote(logits, points, 9, 0, 1, 0.2, (30.0, 30.0), spec)  # under the threshold
    dets = decode(logits, points, spec, IDENTITY, DecoderConfig(top_k_per_cell=2, merge_radius_px=4))
    np.testing.assert_allclose(dets.scores, [0.9, 0.8], atol=1e-5)
    dets = decode(logits, points, spec, IDENTITY, DecoderConfig(top_k_per_cell=3, merge_radius_px=4))
    assert len(dets) == 3
    dets = decode(logits, points, spec, IDENTITY, DecoderConfig(top_k_per_cell=3, max_detections=1))
    assert len(dets) == 1 and dets.scores[0] == pytest.approx(0.9, abs=1e-5)


def test_each_class_is_cut_at_its_own_threshold_when_the_card_gives_one():
    logits, points = quiet_tensors()
    set_vote(logits, points, 18, 0, cls=1, conf=0.8, point_px=(24.0, 20.0))
    set_vote(logits, points, 40, 0, cls=2, conf=0.8, point_px=(60.0, 60.0))
    set_vote(logits, points, 5, 0, cls=2, conf=0.65, point_px=(44.0, 4.0))
    # class 1 needs 0.9 (its 0.8 vote goes), class 2 keeps score_threshold 0.6 (None): 0.8 and 0.65 stay
    cfg = DecoderConfig(score_threshold=0.6, class_score_thresholds=(None, 0.9, None))
    dets = decode(logits, points, SPEC, IDENTITY, cfg)
    assert dets.classes.tolist() == [2, 2]
    np.testing.assert_allclose(dets.scores, [0.8, 0.65], atol=1e-5)
    # a class threshold under the global one lets that class through (the pre-filter uses the lowest)
    cfg = DecoderConfig(score_threshold=0.95, class_score_thresholds=(None, 0.7, None))
    dets = decode(logits, points, SPEC, IDENTITY, cfg)
    assert dets.classes.tolist() == [1]
    np.testing.assert_allclose(dets.points, [[24.0, 20.0]], atol=1e-4)
    with pytest.raises(ValueError, match="has 2 entries, the model has 3 classes"):
        decode(logits, points, SPEC, IDENTITY, DecoderConfig(class_score_thresholds=(None, 0.5)))


def test_with_a_vote_threshold_low_votes_join_the_merge_and_the_class_threshold_cuts_detections():
    logits, points = quiet_tensors()
    set_vote(logits, points, 18, 0, cls=2, conf=0.9, point_px=(24.0, 20.0))
    set_vote(logits, points, 19, 0, cls=2, conf=0.4, point_px=(28.0, 24.0))  # under 0.8, inside the radius
    set_vote(logits, points, 40, 0, cls=2, conf=0.5, point_px=(60.0, 60.0))  # a lone weak vote
    set_vote(logits, points, 5, 0, cls=1, conf=0.35, point_px=(44.0, 4.0))  # class 1 cut at 0.3
    old = DecoderConfig(
        score_threshold=0.8, merge_radius_px=8, class_score_thresholds=(None, 0.3, None), vote_threshold=None
    )
    dets = decode(logits, points, SPEC, IDENTITY, old)
    # gated before the merge: the 0.4 vote never joins, the point is the 0.9 vote's own
    assert dets.classes.tolist() == [2, 1]
    np.testing.assert_allclose(dets.points, [[24.0, 20.0], [44.0, 4.0]], atol=1e-4)
    new = dataclasses.replace(old, vote_threshold=0.3)
    dets = decode(logits, points, SPEC, IDENTITY, new)
    # hand computed: x = (0.9*24 + 0.4*28) / 1.3 = 25.2308, y = (0.9*20 + 0.4*24) / 1.3 = 21.2308;
    # the lone 0.5 cluster is under class 2's 0.8 and goes; class 1's 0.35 passes its own 0.3
    assert dets.classes.tolist() == [2, 1]
    np.testing.assert_allclose(dets.points, [[25.230769, 21.230769], [44.0, 4.0]], atol=1e-4)
    np.testing.assert_allclose(dets.scores, [0.9, 0.35], atol=1e-5)
    # the same clusters at any display threshold: a decode at the vote threshold, cut afterwards, is exact
    low_cfg = DecoderConfig(score_threshold=0.3, merge_radius_px=8, vote_threshold=None)
    low = decode(logits, points, SPEC, IDENTITY, low_cfg)
    keep = low.scores >= np.array([0.0, 0.3, 0.8])[low.classes]
    np.testing.assert_allclose(low.points[keep], dets.points, atol=1e-5)
    # the gate is the lower of the vote threshold and the lowest class threshold (class 1's 0.3): at a vote
    # threshold of 0.6 the 0.4 vote still joins and class 1's 0.35 is still reachable
    at_06 = decode(logits, points, SPEC, IDENTITY, dataclasses.replace(new, vote_threshold=0.6))
    np.testing.assert_allclose(at_06.points, dets.points, atol=1e-5)
    # ... and with every class at 0.8 the gate is 0.6: the 0.4 vote stays out of the merge
    strict = dataclasses.replace(new, vote_threshold=0.6, class_score_thresholds=())
    at_08 = decode(logits, points, SPEC, IDENTITY, strict)
    assert at_08.classes.tolist() == [2]
    np.testing.assert_allclose(at_08.points, [[24.0, 20.0]], atol=1e-4)


def test_letterbox_is_undone_and_points_clipped():
    # a 128x64 image letterboxed into 64x64: scale 0.5, pad_y 16
    lb = Letterbox.fit(128, 64, 64, 64)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (0.5, 0, 16)
    logits, points = quiet_tensors()
    set_vote(logits, points, 27, 0, 1, 0.9, (30.0, 26.0))
    set_vote(logits, points, 0, 0, 2, 0.9, (-20.0, 70.0))  # regresses outside the image
    dets = decode(logits, points, SPEC, lb, DecoderConfig(), image_size=(128, 64))
    by_class = dict(zip(dets.classes.tolist(), dets.points.tolist(), strict=True))
    np.testing.assert_allclose(by_class[1], [60.0, 20.0], atol=1e-4)  # (30/0.5, (26-16)/0.5)
    np.testing.assert_allclose(by_class[2], [0.0, 64.0], atol=1e-4)


def test_nan_outputs_give_no_nan_detections():
    logits, points = quiet_tensors()
    set_vote(logits, points, 18, 0, 1, 0.9, (24.0, 20.0))
    set_vote(logits, points, 30, 0, 1, 0.9, (50.0, 50.0))
    points[30, 0] = np.nan
    logits[5, 1] = np.nan
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig())
    assert len(dets) == 1 and np.isfinite(dets.points).all() and np.isfinite(dets.scores).all()


def test_empty_and_zero_threshold():
    logits, points = quiet_tensors()
    assert len(decode(logits, points, SPEC, IDENTITY)) == 0
    assert Detections.empty().points.shape == (0, 2)
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig(score_threshold=0.0, max_detections=5))
    assert len(dets) == 5


def random_heads(spec: GridSpec, seed: int):
    """Random raw outputs (logits N(0, 3), points in the cell) and their confidences by a plain softmax."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (spec.num_cells, spec.num_anchors, spec.num_classes)).astype(np.float32)
    points = rng.uniform(0, 1, (spec.num_cells, spec.num_anchors, 2)).astype(np.float32)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return logits, points, 1 - e[..., 0] / e.sum(-1)


def unmerged(threshold: float, top_k: int) -> DecoderConfig:
    """Every vote its own detection (merge radius 0, no cap)."""
    return DecoderConfig(
        score_threshold=threshold, top_k_per_cell=top_k, merge_radius_px=0.0, max_detections=10**6
    )


def test_prefilter_matches_plain_softmax_on_random_logits():
    spec = GridSpec(64, 64, 8, num_classes=7)
    logits, points, conf = random_heads(spec, 1)
    dets = decode(logits, points, spec, IDENTITY, unmerged(0.6, top_k=5))
    assert len(dets) == int((conf >= 0.6).sum())
    np.testing.assert_allclose(np.sort(dets.scores), np.sort(conf[conf >= 0.6]), atol=1e-5)


def test_top_k_per_cell_matches_a_per_cell_sort_on_random_logits():
    spec = GridSpec(64, 64, 8, anchors=tuple((0.2 * i + 0.1, 0.5) for i in range(5)), num_classes=4)
    logits, points, conf = random_heads(spec, 2)
    dets = decode(logits, points, spec, IDENTITY, unmerged(0.5, top_k=2))
    want = [c for row in conf for c in sorted(row, reverse=True)[:2] if c >= 0.5]  # per cell, by hand
    assert len(dets) == len(want)
    np.testing.assert_allclose(np.sort(dets.scores), np.sort(want), atol=1e-5)


def test_merge_votes_direct():
    pts = np.array([[0, 0], [3, 4], [100, 100], [1, 1]], np.float32)
    cls = np.array([1, 1, 1, 2])
    sc = np.array([0.5, 1.0, 0.4, 0.9], np.float32)
    p, c, s = merge_votes(pts, cls, sc, radius=5.0, max_out=10)
    assert c.tolist() == [1, 2, 1] and s.tolist() == pytest.approx([1.0, 0.9, 0.4])
    np.testing.assert_allclose(p[0], [(3 * 1.0 + 0) / 1.5, (4 * 1.0) / 1.5], atol=1e-5)


def test_int8_dequantisation_uses_given_scale_and_zero_point():
    raw = np.array([-128, -3, 0, 127], np.int8)
    np.testing.assert_allclose(dequantize(raw, 0.05, -3), [-6.25, 0.0, 0.15, 6.5], atol=1e-6)
    detail = {
        "name": "StatefulPartitionedCall:0",
        "dtype": np.int8,
        "quantization": (0.05, -3),
        "quantization_parameters": {
            "scales": np.array([0.05]),
            "zero_points": np.array([-3]),
            "quantized_dimension": 0,
        },
    }
    np.testing.assert_allclose(dequantize_output(raw, detail), [-6.25, 0.0, 0.15, 6.5], atol=1e-6)
    # per-channel on the last axis
    per_ch = {
        "name": "p",
        "quantization": (0.0, 0),
        "quantization_parameters": {
            "scales": np.array([1.0, 0.5]),
            "zero_points": np.array([0, 2]),
            "quantized_dimension": 1,
        },
    }
    out = dequantize_output(np.array([[4, 4]], np.int8), per_ch)
    np.testing.assert_allclose(out, [[4.0, 1.0]])
    # float outputs pass through untouched
    f = np.ones((2,), np.float32)
    assert dequantize_output(f, {"name": "x"}) is f
    with pytest.raises(ValueError, match="no quantization"):
        dequantize_output(raw, {"name": "bad", "quantization": (0.0, 0)})


def test_decoder_config_round_trip_and_validation():
    cfg = DecoderConfig(score_threshold=0.5)
    assert DecoderConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown decoder"):
        DecoderConfig.from_json({"treshold": 0.5})
    with pytest.raises(ValueError):
        DecoderConfig(score_threshold=1.5)
    own = DecoderConfig(score_threshold=0.5, class_score_thresholds=(None, 0.9, None))
    # the card's form: a list per class id, background first as null
    assert own.to_json()["class_score_thresholds"] == [None, 0.9, None]
    assert DecoderConfig.from_json(own.to_json()) == own
    assert "class_score_thresholds" not in cfg.to_json()  # one threshold for all: the old card layout
    # a card without a vote threshold (written before it existed) keeps gating votes per class
    assert DecoderConfig.from_json({"class_score_thresholds": None}) == DecoderConfig(vote_threshold=None)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\) or null"):
        DecoderConfig(class_score_thresholds=(None, 1.2))
    floor = DecoderConfig(vote_threshold=0.05)
    assert floor.to_json()["vote_threshold"] == 0.05 and DecoderConfig.from_json(floor.to_json()) == floor
    legacy = DecoderConfig(vote_threshold=None)
    assert legacy.to_json()["vote_threshold"] is None and DecoderConfig.from_json(legacy.to_json()) == legacy
    with pytest.raises(ValueError, match="vote_threshold"):
        DecoderConfig(vote_threshold=1.0)


def test_inference_modules_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "import keras_lmk.detector.decode, keras_lmk.inference.runtime, keras_lmk.data.frames\n"
        "import keras_lmk.evaluation.metrics, keras_lmk.inference.render\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


WIDE = GridSpec(input_height=64, input_width=128, stride=8, anchors=((0.5, 0.5), (0.25, 0.25)), num_classes=3)


def test_max_candidates_keeps_the_most_confident_votes():
    """A 64x128 input (8 x 16 cells) with three far-apart votes: max_candidates bounds the votes entering the
    merge, most confident first."""
    logits, points = quiet_tensors(WIDE)
    set_vote(logits, points, 1 * 16 + 1, 0, 1, 0.6, (12.0, 12.0), WIDE)
    set_vote(logits, points, 4 * 16 + 8, 0, 2, 0.9, (68.0, 36.0), WIDE)
    set_vote(logits, points, 6 * 16 + 14, 1, 1, 0.75, (116.0, 52.0), WIDE)
    dets = decode(logits, points, WIDE, IDENTITY, DecoderConfig(max_candidates=1))
    assert dets.classes.tolist() == [2]
    np.testing.assert_allclose(dets.points, [[68.0, 36.0]], atol=1e-4)
    np.testing.assert_allclose(dets.scores, [0.9], atol=1e-5)
    dets = decode(logits, points, WIDE, IDENTITY, DecoderConfig(max_candidates=2))
    np.testing.assert_allclose(dets.scores, [0.9, 0.75], atol=1e-5)
    np.testing.assert_allclose(dets.points, [[68.0, 36.0], [116.0, 52.0]], atol=1e-4)
    assert len(decode(logits, points, WIDE, IDENTITY, DecoderConfig(max_candidates=3))) == 3


def test_default_clip_is_the_original_image_on_a_wide_input():
    """decode() without image_size clips to the original image the letterbox implies. A 256x64 image into the
    128x64 input: scale 0.5, pad (0, 16), so original = ((x - 0) / 0.5, (y - 16) / 0.5), inside 256 x 64."""
    lb = Letterbox.fit(256, 64, 128, 64)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (0.5, 0, 16)
    logits, points = quiet_tensors(WIDE)
    set_vote(logits, points, 3 * 16 + 14, 0, 1, 0.9, (120.0, 30.0), WIDE)  # -> (240, 28), inside
    set_vote(logits, points, 3 * 16 + 15, 1, 2, 0.8, (140.0, 30.0), WIDE)  # -> (280, 28): x clipped to 256
    set_vote(logits, points, 7 * 16 + 1, 0, 2, 0.7, (10.0, 60.0), WIDE)  # -> (20, 88): y clipped to 64
    dets = decode(logits, points, WIDE, lb, DecoderConfig(merge_radius_px=4))
    np.testing.assert_allclose(dets.scores, [0.9, 0.8, 0.7], atol=1e-5)
    np.testing.assert_allclose(dets.points, [[240.0, 28.0], [256.0, 28.0], [20.0, 64.0]], atol=1e-4)


def test_side_balanced_merge_averages_the_sides_of_the_seed_not_the_votes():
    # one cluster (radius 10 around the seed (10, 10)): two votes from anchors up-left of the seed, one from
    # an anchor down-right. By hand, x: left (10*.95 + 12*.9) / 1.85 = 10.97297, right 16 -> 13.486486;
    # y: above (10*.95 + 10*.9) / 1.85 = 10, below 12 -> 11. Plain weighted mean: (12.204082, 10.489796).
    pts = np.array([[10, 10], [12, 10], [16, 12]], np.float32)
    anchors = np.array([[4, 6], [6, 6], [20, 14]], np.float32)
    sc = np.array([0.95, 0.9, 0.6], np.float32)
    for cls, want in (
        (np.array([6, 6, 6]), [13.486486, 11.0]),
        (np.array([2, 2, 2]), [12.204082, 10.489796]),
    ):
        p, c, s = merge_votes(pts, cls, sc, radius=10.0, max_out=10, anchors=anchors, side_balanced=(6,))
        np.testing.assert_allclose(p, [want], atol=1e-5)
        assert list(c) == [cls[0]] and s[0] == np.float32(0.95)
    # only one side present (every anchor up-left): its mean, as the plain merge gives
    p, _, _ = merge_votes(
        pts[:2], np.array([6, 6]), sc[:2], 10.0, 10, anchors=anchors[:2], side_balanced=(6,)
    )
    np.testing.assert_allclose(p, [[10.97297, 10.0]], atol=1e-5)


def test_decode_side_balances_only_the_listed_classes():
    # two anchors of one cell vote for the same class-1 landmark from either side; the config lists class 1
    spec = GridSpec(
        input_height=16, input_width=16, stride=8, num_classes=3, anchors=((0.25, 0.5), (0.75, 0.5))
    )
    logits = np.full((spec.num_cells, 2, 3), -10.0, np.float32)
    logits[..., 0] = 10.0
    logits[0, 0] = [0.0, 3.0, 0.0]  # conf 1 - 1 / (2 + e^3) = 0.9094, anchor (2, 4) px
    logits[0, 1] = [0.0, 1.0, 0.0]  # conf 1 - 1 / (2 + e) = 0.7311, anchor (6, 4) px
    points = np.zeros((spec.num_cells, 2, 2), np.float32)
    points[0, 0] = [0.5, 0.5]  # (4, 4) px: anchor left of the seed
    points[0, 1] = [0.6, 0.5]  # (4.8, 4) px: anchor right of the seed
    lb = Letterbox(1.0, 0, 0)
    c0, c1 = 1 - 1 / (2 + np.exp(3)), 1 - 1 / (2 + np.exp(1))
    plain = decode(logits, points, spec, lb, DecoderConfig(score_threshold=0.3), image_size=(16, 16))
    np.testing.assert_allclose(plain.points[0, 0], (4 * c0 + 4.8 * c1) / (c0 + c1), atol=1e-4)
    cfg = DecoderConfig(score_threshold=0.3, side_balanced_classes=(1,))
    balanced = decode(logits, points, spec, lb, cfg, image_size=(16, 16))
    np.testing.assert_allclose(balanced.points[0], [4.4, 4.0], atol=1e-4)
    assert (
        DecoderConfig.from_json(cfg.to_json()) == cfg
        and DecoderConfig.from_json({}).side_balanced_classes == ()
    )


def test_side_balanced_a_vote_anchored_exactly_on_the_seed_goes_to_the_at_or_after_side():
    # seed (10, 10) anchored up-left at (4, 4); the second vote (14, 14) is anchored exactly at the seed's
    # point (10, 10) on both axes, so it is "at or after": the two sides' means are 10 and 14 -> 12 per axis.
    # Were it counted "before", one side would hold both and give the plain mean (0.9*10 + 0.6*14)/1.5 = 11.6
    pts = np.array([[10, 10], [14, 14]], np.float32)
    anchors = np.array([[4, 4], [10, 10]], np.float32)
    p, _, _ = merge_votes(
        pts, np.array([6, 6]), np.array([0.9, 0.6], np.float32), 10.0, 10, anchors=anchors, side_balanced=(6,)
    )
    np.testing.assert_allclose(p, [[12.0, 12.0]], atol=1e-5)


# ---------------------------------------------------------- contracts pinned by mutation testing (issue 33)


def test_empty_results_have_the_documented_shapes_and_dtypes():
    empty = Detections.empty()
    for points, classes, scores in (
        (empty.points, empty.classes, empty.scores),
        merge_votes(np.zeros((0, 2)), np.zeros(0, int), np.zeros(0), radius=4.0, max_out=10),
    ):
        assert (classes.shape, classes.dtype) == ((0,), np.int32)
        assert (points.shape, points.dtype) == ((0, 2), np.float32)
        assert (scores.shape, scores.dtype) == ((0,), np.float32)


def test_merge_votes_outputs_are_float32_int32_float32():
    p, c, s = merge_votes(np.array([[1.0, 2.0]]), np.array([1]), np.array([0.5]), radius=4.0, max_out=10)
    assert (p.dtype, c.dtype, s.dtype) == (np.float32, np.int32, np.float32)


def test_a_single_vote_is_one_detection():
    logits, points = quiet_tensors()
    set_vote(logits, points, 18, 0, cls=2, conf=0.9, point_px=(21.0, 19.0))
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig())
    assert dets.classes.tolist() == [2]
    np.testing.assert_allclose(dets.points, [[21.0, 19.0]], atol=1e-4)


def test_a_vote_exactly_at_the_threshold_is_kept():
    # 2 classes, logits (0, 0): confidence exactly 0.5, which passes a 0.5 threshold (>=), through the
    # pre-filter (margin 0 = bound log(1) - log(1)), the seed floor and the cut after the merge
    spec = GridSpec(input_height=16, input_width=16, stride=8, anchors=((0.5, 0.5),), num_classes=2)
    logits = np.full((spec.num_cells, 1, 2), [10.0, -10.0], np.float32)
    logits[3, 0] = [0.0, 0.0]
    points = np.full((spec.num_cells, 1, 2), 0.5, np.float32)
    for vote_threshold in (None, 0.3):
        cfg = DecoderConfig(score_threshold=0.5, vote_threshold=vote_threshold)
        dets = decode(logits, points, spec, IDENTITY, cfg)
        assert dets.classes.tolist() == [1] and dets.scores.tolist() == [0.5]
        np.testing.assert_allclose(dets.points, [[12.0, 12.0]])


def test_the_prefilter_keeps_every_vote_the_softmax_keeps_with_several_classes():
    # 3 classes. (a) logits (0, -0.5, -0.5) at threshold 0.5: conf = 1 - 1 / (1 + 2 e^-0.5) = 0.5481, kept
    # although no single class beats the background (the bound counts all M - 1 classes: log 1 - log 2).
    # (b) logits (0, 4, 0) at threshold 0.9: conf = 1 - 1 / (1 + e^4 + 1) = 0.9821, class 1 well above the
    # background while class 2 is not: the margin is the best class over the background (logit 0)
    spec = GridSpec(input_height=16, input_width=16, stride=8, anchors=((0.5, 0.5),), num_classes=3)
    for vote, threshold, conf in (
        ([0.0, -0.5, -0.5], 0.5, 1 - 1 / (1 + 2 * np.exp(-0.5))),
        ([0.0, 4.0, 0.0], 0.9, 1 - 1 / (2 + np.exp(4.0))),
    ):
        logits = np.full((spec.num_cells, 1, 3), [10.0, -10.0, -10.0], np.float32)
        logits[2, 0] = vote
        points = np.full((spec.num_cells, 1, 2), 0.5, np.float32)
        cfg = DecoderConfig(score_threshold=threshold, vote_threshold=None)  # the pre-filter at the threshold
        dets = decode(logits, points, spec, IDENTITY, cfg)
        assert len(dets) == 1
        np.testing.assert_allclose(dets.scores, [conf], atol=1e-6)


def test_huge_logits_give_exact_confidences_not_overflow():
    # the softmax is shifted by the row's largest logit: (0, 500, -500) is confidence 1, and a background
    # logit of 1000 is confidence 0 (kept at threshold 0), never inf / inf = NaN
    spec = GridSpec(input_height=16, input_width=16, stride=8, anchors=((0.5, 0.5),), num_classes=3)
    logits = np.full((spec.num_cells, 1, 3), [1000.0, 0.0, 0.0], np.float32)
    logits[0, 0] = [0.0, 500.0, -500.0]
    points = np.full((spec.num_cells, 1, 2), 0.5, np.float32)
    cfg = DecoderConfig(score_threshold=0.0, vote_threshold=None, merge_radius_px=0.0)
    dets = decode(logits, points, spec, IDENTITY, cfg)
    assert len(dets) == 4
    np.testing.assert_allclose(dets.scores, [1.0, 0.0, 0.0, 0.0])


def test_top_k_per_cell_with_votes_in_different_cells():
    # one vote in each of two cells, top_k 1 of 2 anchors: both stay (the ranking is per cell)
    logits, points = quiet_tensors()
    set_vote(logits, points, 0, 1, cls=1, conf=0.9, point_px=(2.0, 2.0))
    set_vote(logits, points, 63, 0, cls=2, conf=0.8, point_px=(60.0, 60.0))
    dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig(top_k_per_cell=1))
    assert dets.classes.tolist() == [1, 2]


def test_far_regressions_are_bounded_and_clipped_to_the_image():
    # regressions of +-1e38 cell units overflow to +-inf pixels in float32; they are bounded to +-1e6 before
    # the merge and end on the image border, finite
    logits, points = quiet_tensors()
    set_vote(logits, points, 9, 0, cls=1, conf=0.9, point_px=(12.0, 12.0))
    set_vote(logits, points, 54, 0, cls=2, conf=0.8, point_px=(52.0, 52.0))
    points[9, 0] = [-1e38, -1e38]
    points[54, 0] = [1e38, 1e38]
    with np.errstate(over="ignore"):
        dets = decode(logits, points, SPEC, IDENTITY, DecoderConfig(merge_radius_px=8))
    assert np.isfinite(dets.points).all()
    np.testing.assert_allclose(dets.points, [[0.0, 0.0], [64.0, 64.0]])


def test_default_clip_on_a_tall_image_uses_the_horizontal_padding():
    # a 32x64 image letterboxed into 64x64: scale 1, pad_x 16; the original is 32 wide: a point regressed to
    # input x 60 is original x 44, clipped to 32
    lb = Letterbox.fit(32, 64, 64, 64)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (1.0, 16, 0)
    logits, points = quiet_tensors()
    set_vote(logits, points, 31, 0, 1, 0.9, (60.0, 30.0))
    dets = decode(logits, points, SPEC, lb, DecoderConfig())
    np.testing.assert_allclose(dets.points, [[32.0, 30.0]], atol=1e-4)


def test_merge_votes_stops_at_max_out_clusters():
    pts = np.array([[0, 0], [50, 0], [100, 0]], np.float32)
    p, c, s = merge_votes(pts, np.array([1, 1, 1]), np.array([0.9, 0.8, 0.7]), radius=5.0, max_out=2)
    assert s.tolist() == pytest.approx([0.9, 0.8])


def test_merge_keeps_classes_apart_however_far_the_points_reach():
    # the class offset must exceed every point distance: class 1 at (8, 0) and class 2 at (8, 0) with radius 8
    # (offset barely above 4 max|p|), and class 1 at (1000, 0), class 2 at (717, 0)
    for pts in ([[8, 0], [8, 0]], [[1000, 0], [717, 0]]):
        _, c, _ = merge_votes(np.array(pts, np.float32), np.array([1, 2]), np.array([0.9, 0.8]), 8.0, 10)
        assert sorted(c.tolist()) == [1, 2]


def test_merge_of_a_light_cluster_and_of_zero_confidence_votes():
    # weights 0.5 and 0.3 (sum under 1): the weighted mean ((0.5*0 + 0.3*4) / 0.8, (0.5*2 + 0.3*6) / 0.8)
    p, _, _ = merge_votes(
        np.array([[0, 2], [4, 6]], np.float32), np.array([1, 1]), np.array([0.5, 0.3]), 8.0, 10
    )
    np.testing.assert_allclose(p, [[1.5, 3.5]], atol=1e-5)
    # all-zero confidences (score_threshold 0): no weighted mean; the seed's own point (the first listed)
    p, _, s = merge_votes(np.array([[1, 2], [4, 6]], np.float32), np.array([1, 1]), np.zeros(2), 8.0, 10)
    np.testing.assert_allclose(p, [[1.0, 2.0]])
    assert s.tolist() == [0.0]


def test_side_balanced_merge_of_two_clusters_is_per_cluster():
    # two clusters far apart, each one vote before and one after its seed: each axis is the mean of its own
    # two sides, (10 + 14) / 2 = 12 and (110 + 116) / 2 = 113, whatever the weights
    pts = np.array([[10, 10], [14, 14], [110, 110], [116, 116]], np.float32)
    anchors = np.array([[4, 4], [20, 20], [104, 104], [120, 120]], np.float32)
    sc = np.array([0.9, 0.5, 0.8, 0.3], np.float32)
    p, c, _ = merge_votes(pts, np.array([6, 6, 6, 6]), sc, 10.0, 10, anchors=anchors, side_balanced=(6,))
    np.testing.assert_allclose(p, [[12, 12], [113, 113]], atol=1e-5)
    with pytest.raises(ValueError, match="^side_balanced merging needs each vote's anchor$"):
        merge_votes(pts, np.array([6, 6, 6, 6]), sc, 10.0, 10, side_balanced=(6,))


def test_side_balanced_decode_also_without_a_vote_threshold():
    spec = GridSpec(
        input_height=16, input_width=16, stride=8, num_classes=3, anchors=((0.25, 0.5), (0.75, 0.5))
    )
    logits = np.full((spec.num_cells, 2, 3), -10.0, np.float32)
    logits[..., 0] = 10.0
    logits[0, 0] = [0.0, 3.0, 0.0]
    logits[0, 1] = [0.0, 1.0, 0.0]
    points = np.zeros((spec.num_cells, 2, 2), np.float32)
    points[0, 0] = [0.5, 0.5]
    points[0, 1] = [0.6, 0.5]
    cfg = DecoderConfig(score_threshold=0.3, side_balanced_classes=(1,), vote_threshold=None)
    dets = decode(logits, points, spec, IDENTITY, cfg, image_size=(16, 16))
    np.testing.assert_allclose(dets.points[0], [4.4, 4.0], atol=1e-4)


def test_dequantize_per_channel_on_any_axis():
    raw = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    # per channel on axis 0: row 0 scale 1 zero point 1, row 1 scale 0.5 zero point 0
    want = np.array([[0, 1, 2], [2, 2.5, 3]], np.float32)
    np.testing.assert_allclose(dequantize(raw, [1.0, 0.5], [1, 0], axis=0), want)
    detail = {
        "quantization_parameters": {"scales": [1.0, 0.5], "zero_points": [1, 0], "quantized_dimension": 0}
    }
    out = dequantize_output(raw, detail)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, want)
    # axis None: the last axis; on a 1-D tensor that is its only axis
    np.testing.assert_allclose(dequantize(np.array([4, 4], np.int8), [1.0, 0.5], [0, 2]), [4.0, 1.0])
    # float32 out whatever the parameter types
    assert dequantize(raw, np.float64(0.1), np.int64(3)).dtype == np.float32


def test_quantization_of_reads_the_legacy_pair_and_defaults():
    from keras_lmk.detector.decode import quantization_of

    scales, zps, dim = quantization_of({"quantization": (0.05, -3)})  # no per-channel parameters
    assert (scales.dtype, zps.dtype) == (np.float32, np.float32)
    np.testing.assert_allclose(scales, [0.05])
    np.testing.assert_allclose(zps, [-3])
    assert dim == 0
    scales, zps, dim = quantization_of({"quantization_parameters": {"scales": [0.5], "zero_points": [2]}})
    assert (scales.dtype, zps.dtype, dim) == (np.float32, np.float32, 0)
    for float_detail in ({}, {"quantization": (0.0, 0)}, {"quantization_parameters": {}}):
        scales, zps, dim = quantization_of(float_detail)
        assert scales.size == 0 and dim == 0
    np.testing.assert_allclose(dequantize_output(np.array([7], np.int8), {"quantization": (0.5, 1)}), [3.0])
    with pytest.raises(ValueError, match="output 'head' is int8"):
        dequantize_output(np.array([7], np.int8), {"name": "head"})


def test_decoder_config_bounds_and_normalised_types():
    DecoderConfig(
        score_threshold=0.0, vote_threshold=0.0, top_k_per_cell=1, max_detections=1, max_candidates=1
    )
    DecoderConfig(class_score_thresholds=(None, 0.0))
    for bad, match in (
        (dict(score_threshold=1.0), r"score_threshold must be in \[0, 1\)"),
        (dict(class_score_thresholds=(None, 1.0)), "class_score_thresholds must be in"),
        (dict(vote_threshold=-0.1), "vote_threshold must be in"),
        (dict(top_k_per_cell=0), "^top_k_per_cell, max_detections and max_candidates must be >= 1$"),
        (dict(max_detections=0), "must be >= 1"),
        (dict(max_candidates=0), "must be >= 1"),
        (dict(merge_radius_px=-1.0), "merge_radius_px must be >= 0"),
        (dict(side_balanced_classes=(0,)), "side_balanced_classes are landmark class ids >= 1"),
    ):
        with pytest.raises(ValueError, match=match):
            DecoderConfig(**bad)
    cfg = DecoderConfig(class_score_thresholds=[None, 0, 0.5], vote_threshold=0, side_balanced_classes=[2.0])
    assert cfg.class_score_thresholds == (None, 0.0, 0.5) and type(cfg.class_score_thresholds[1]) is float
    assert type(cfg.vote_threshold) is float and cfg.side_balanced_classes == (2,)
    assert type(cfg.side_balanced_classes[0]) is int
    hash(cfg)  # every field is hashable again (tuples, not lists)
    with pytest.raises(ValueError, match=r"\(one per class id, background first\)$"):
        DecoderConfig(class_score_thresholds=(None, 0.5)).class_thresholds(3)


def test_vote_gates_are_one_gate_for_every_landmark_class():
    # class thresholds (0.9, 0.7) with a 0.3 vote threshold: every class's votes enter at 0.3
    cfg = DecoderConfig(score_threshold=0.8, class_score_thresholds=(None, 0.9, 0.7), vote_threshold=0.3)
    np.testing.assert_allclose(cfg.vote_gates(3)[1:], [0.3, 0.3])
    legacy = DecoderConfig(score_threshold=0.8, class_score_thresholds=(None, 0.9, 0.7), vote_threshold=None)
    np.testing.assert_allclose(legacy.vote_gates(3)[1:], [0.9, 0.7])


def test_merge_across_classes_makes_one_detection_of_the_seeds_class():
    # one sign whose votes disagree: class 2 at (0, 0) 0.9 and (4, 0) 0.3, class 3 at (2, 0) 0.6; class 3 at
    # (30, 0) 0.5 is another landmark. Across classes: one cluster of class 2 at the weighted mean
    # ((0 * 0.9 + 4 * 0.3 + 2 * 0.6) / 1.8, 0) = (4/3, 0), score 0.9, and the far one alone
    pts = np.array([[0, 0], [4, 0], [2, 0], [30, 0]], np.float32)
    cls, sc = np.array([2, 2, 3, 3]), np.array([0.9, 0.3, 0.6, 0.5], np.float32)
    p, c, s = merge_votes(pts, cls, sc, radius=5.0, max_out=10, across_classes=True)
    assert c.tolist() == [2, 3] and s.tolist() == pytest.approx([0.9, 0.5])
    np.testing.assert_allclose(p, [[4 / 3, 0], [30, 0]], atol=1e-5)
    _, c, _ = merge_votes(pts, cls, sc, radius=5.0, max_out=10)  # per class: the sign is reported twice
    assert c.tolist() == [2, 3, 3]


def test_decoder_card_carries_merge_across_classes():
    cfg = DecoderConfig(merge_across_classes=True)
    assert cfg.to_json()["merge_across_classes"] is True
    assert DecoderConfig.from_json(cfg.to_json()) == cfg
    assert "merge_across_classes" not in DecoderConfig().to_json()  # older cards read the same
    assert DecoderConfig.from_json(DecoderConfig().to_json()).merge_across_classes is False


def test_decode_merges_a_landmark_whose_anchors_disagree_on_its_class():
    # one cell, two anchors voting for the same point with different classes
    spec = GridSpec(input_height=16, input_width=16, stride=8, num_classes=4)
    logits = np.full((spec.num_cells, spec.num_anchors, 4), -10.0, np.float32)
    logits[..., 0] = 10.0
    logits[0, 0] = [0, 5, 0, 0]  # class 1, confidence ~0.98
    logits[0, 1] = [0, 0, 4, 0]  # class 2, confidence ~0.95
    points = np.full((spec.num_cells, spec.num_anchors, 2), 0.5, np.float32)
    lb = Letterbox(1.0, 0, 0)
    cfg = DecoderConfig(score_threshold=0.5, vote_threshold=None, merge_radius_px=4.0)
    assert sorted(decode(logits, points, spec, lb, cfg).classes.tolist()) == [1, 2]
    one = decode(logits, points, spec, lb, dataclasses.replace(cfg, merge_across_classes=True))
    assert one.classes.tolist() == [1]
    np.testing.assert_allclose(one.points, [[4, 4]], atol=1e-5)


@pytest.mark.parametrize("side_balanced", [(), (3,), (1, 2)])
def test_merge_across_classes_holds_with_side_balanced_classes(side_balanced):
    # the shipped card sets both: side-balanced markings must not switch the merge across classes off (it
    # did: the side-balanced arguments replaced the across-classes one, so a sign was reported twice)
    spec = GridSpec(input_height=16, input_width=16, stride=8, num_classes=4)
    logits = np.full((spec.num_cells, spec.num_anchors, 4), -10.0, np.float32)
    logits[..., 0] = 10.0
    logits[0, 0] = [0, 5, 0, 0]  # class 1, confidence ~0.98
    logits[0, 1] = [0, 0, 4, 0]  # class 2, confidence ~0.95
    points = np.full((spec.num_cells, spec.num_anchors, 2), 0.5, np.float32)
    cfg = DecoderConfig(
        score_threshold=0.5,
        vote_threshold=None,
        merge_radius_px=4.0,
        merge_across_classes=True,
        side_balanced_classes=side_balanced,
    )
    one = decode(logits, points, spec, Letterbox(1.0, 0, 0), cfg)
    assert one.classes.tolist() == [1]


def test_suppress_near_drops_a_weaker_detection_of_the_same_class_within_the_radius():
    # sorted by score: class 1 at (0, 0) 0.9 keeps; class 1 at (15, 0) 0.8 is 15 px from it: dropped at a
    # radius of 20; class 2 at (5, 0) 0.7 is another class: kept; class 1 at (30, 0) 0.6 is 30 px from the
    # kept (0, 0) and 15 px from the dropped (15, 0): kept (only kept detections suppress)
    pts = np.array([[0, 0], [15, 0], [5, 0], [30, 0]], np.float32)
    cls = np.array([1, 1, 2, 1])
    sc = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert suppress_near(pts, cls, sc, 20.0).tolist() == [0, 2, 3]
    assert suppress_near(pts, cls, sc, 14.9).tolist() == [0, 1, 2, 3]
    assert suppress_near(pts, cls, sc, 0.0).tolist() == [0, 1, 2, 3]


def test_suppress_near_keeps_a_detection_exactly_at_the_radius_and_works_below_one_pixel():
    # "closer than the radius" is dropped: at exactly 15 px (a 9-12-15 triangle) the weaker one stays
    pts = np.array([[0, 0], [9, 12]], np.float32)
    cls, sc = np.array([1, 1]), np.array([0.9, 0.8], np.float32)
    assert suppress_near(pts, cls, sc, 15.0).tolist() == [0, 1]
    assert suppress_near(pts, cls, sc, 15.01).tolist() == [0]
    # a sub-pixel radius is a radius too: 0.25 px apart at a radius of 0.5
    assert suppress_near(np.array([[3, 3], [3.25, 3]], np.float32), cls, sc, 0.5).tolist() == [0]


def test_decode_suppresses_a_second_cluster_of_one_landmark():
    # two cells 16 px apart vote class 1 for points 16 px apart (two clusters at a merge radius of 4): with
    # suppress_radius_px 20 only the stronger remains; the setting round-trips through the card and an old
    # card (without it) reads as 0, off
    spec = GridSpec(input_height=16, input_width=32, stride=8, num_classes=3)
    logits = np.full((spec.num_cells, spec.num_anchors, 3), -10.0, np.float32)
    logits[..., 0] = 10.0
    logits[0, :] = [0, 5, 0]  # cell (0, 0): class 1, confidence ~0.99
    logits[2, :] = [0, 3, 0]  # cell (0, 2): class 1, confidence ~0.95
    points = np.full((spec.num_cells, spec.num_anchors, 2), 0.5, np.float32)
    cfg = DecoderConfig(score_threshold=0.5, merge_radius_px=4.0, top_k_per_cell=1)
    assert len(decode(logits, points, spec, Letterbox(1.0, 0, 0), cfg).classes) == 2
    cfg = dataclasses.replace(cfg, suppress_radius_px=20.0)
    one = decode(logits, points, spec, Letterbox(1.0, 0, 0), cfg)
    np.testing.assert_allclose(one.points, [[4, 4]], atol=1e-5)
    assert DecoderConfig.from_json(cfg.to_json()) == cfg
    assert "suppress_radius_px" not in DecoderConfig().to_json()
    with pytest.raises(ValueError, match="suppress_radius_px"):
        DecoderConfig(suppress_radius_px=-1)
