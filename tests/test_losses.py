"""Losses against a loop-based numpy reference, a hand-computed case, and gradient gating."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.losses import (
    LossConfig,
    batch_loss,
    landmark_cell_accuracy,
    landmark_loss_terms,
)
from keras_lmk.detector.targets import encode_targets

B, S, A, M = 2, 6, 5, 7


def reference(
    logits, pred, gt_class, gt_point, cls_mask, variant="eq1", lam=1.0, top_k=None, thr=None, gate=1
):
    """Plain loops over images, cells and anchors, straight from the definitions (module docstring)."""
    out = {"cls": [], "loc": [], "total": []}
    for b in range(logits.shape[0]):
        cls = loc = weighted = 0.0
        for s in range(logits.shape[1]):
            c = int(gt_class[b, s])
            z = logits[b, s].astype(np.float64)  # [A, M]
            p = np.exp(z - z.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            conf = 1 - p[:, 0]
            w = np.ones(z.shape[0])
            if top_k is not None:  # every cell: the k most landmark-like anchors
                w[:] = 0
                w[np.argsort(-conf, kind="stable")[:top_k]] = 1
            w_loc = w.copy()
            if c >= 1 and thr is not None and gate:  # the threshold gates the localisation term only
                w_loc *= conf >= thr
            cls_s = loc_s = 0.0
            for a in range(z.shape[0]):
                if cls_mask[b, s]:
                    cls_s += w[a] * -math.log(p[a, c])
                if c >= 1:
                    d = 0.0
                    for t in gt_point[b, s] - pred[b, s, a]:
                        d += 0.5 * t * t if abs(t) < 1 else abs(t) - 0.5
                    loc_s += w_loc[a] * (p[a, c] if variant == "eq1" else 1.0) * d
            cls += cls_s
            loc += loc_s
            if c >= 1:  # eq6/eq7: this landmark's own class loss weighs its localisation loss
                weighted += math.exp(-cls_s) * (loc_s if variant == "eq6" else loc_s**2)
        loc_term = lam * loc if variant in ("eq1", "eq5") else weighted
        total = cls + gate * loc_term
        for k, v in (("cls", cls), ("loc", loc), ("total", total)):
            out[k].append(v)
    return {k: np.array(v) for k, v in out.items()}


def random_batch(seed=0, scale=0.2):
    # small logits/errors keep cls modest so exp(-cls) in eq6/eq7 is not vanishingly small
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (B, S, A, M)).astype(np.float32)
    gt_class = rng.integers(0, M, (B, S)).astype(np.int32)
    gt_class[:, 0], gt_class[:, 1] = 0, 3  # at least one background and one landmark cell per image
    gt_point = rng.uniform(-0.5, 1.5, (B, S, 2)).astype(np.float32)
    pred = (gt_point[:, :, None, :] + rng.normal(0, 1.0, (B, S, A, 2))).astype(np.float32)
    cls_mask = (rng.uniform(size=(B, S)) < 0.7).astype(np.float32)
    cls_mask[gt_class > 0] = 1
    cls_mask[:, 0] = 1
    return logits * scale if scale else logits, pred, gt_class, gt_point, cls_mask


CASES = [
    dict(variant="eq1"),
    dict(variant="eq1", lam=2.5),
    dict(variant="eq5", lam=0.3),
    dict(variant="eq6"),
    dict(variant="eq7"),
    dict(variant="eq1", top_k=2),
    dict(variant="eq5", top_k=1),
    dict(variant="eq1", top_k=9),  # k > A: every anchor
    dict(variant="eq1", conf_threshold=0.85),
    dict(variant="eq6", conf_threshold=0.85),
    dict(variant="eq1", top_k=3, conf_threshold=0.85),
    dict(variant="eq7", top_k=2, conf_threshold=0.8),
    dict(variant="eq1", conf_threshold=0.85, loc_gate=0.0),  # class phase: no threshold, no loc term
    dict(variant="eq6", top_k=2, conf_threshold=0.85, loc_gate=1.0),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_reference(kw, seed):
    batch = random_batch(seed, scale=1.0 if seed else 0.2)
    got = {k: keras.ops.convert_to_numpy(v) for k, v in landmark_loss_terms(*batch, **kw).items()}
    rest = {k: v for k, v in kw.items() if k not in ("conf_threshold", "loc_gate")}
    ref = reference(*batch, thr=kw.get("conf_threshold"), gate=kw.get("loc_gate", 1), **rest)
    for k in ("cls", "loc", "total"):
        assert got[k].shape == (B,)
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_threshold_actually_drops_anchors():
    # on the seed-1 batch the 0.85 threshold must drop some but not all landmark anchors from the loc term:
    # the thresholded loc lies strictly between 0 and the unthresholded one, and the class term is untouched
    batch = random_batch(1, scale=1.0)
    full = {k: keras.ops.convert_to_numpy(v) for k, v in landmark_loss_terms(*batch).items()}
    thr = {
        k: keras.ops.convert_to_numpy(v) for k, v in landmark_loss_terms(*batch, conf_threshold=0.85).items()
    }
    assert np.all(thr["loc"] > 0) and np.all(thr["loc"] < full["loc"])
    np.testing.assert_allclose(thr["cls"], full["cls"], rtol=1e-6)


def test_hand_computed_single_cell():
    # one landmark cell of class 1, one anchor, M = 2, logits (0, ln 3): P = (1/4, 3/4)
    logits = np.array([0.0, math.log(3.0)], np.float32).reshape(1, 1, 1, 2)
    pred = np.array([0.5, 0.5], np.float32).reshape(1, 1, 1, 2)
    gt_point = np.array([0.7, 2.5], np.float32).reshape(1, 1, 2)  # errors 0.2 and 2.0
    args = (logits, pred, np.array([[1]]), gt_point, np.array([[1.0]]))
    cls = -math.log(0.75)  # 0.28768
    d = 0.5 * 0.2**2 + (2.0 - 0.5)  # 1.52
    expect = {
        "eq1": (0.75 * d, cls + 2.0 * 0.75 * d),  # lam = 2
        "eq5": (d, cls + 2.0 * d),
        "eq6": (d, cls + 0.75 * d),  # exp(-cls) = 0.75
        "eq7": (d, cls + 0.75 * d**2),
    }
    for variant, (loc, total) in expect.items():
        got = landmark_loss_terms(*args, variant=variant, lam=2.0)
        assert np.allclose(keras.ops.convert_to_numpy(got["cls"]), [cls], rtol=1e-6)
        assert np.allclose(keras.ops.convert_to_numpy(got["loc"]), [loc], rtol=1e-6), variant
        assert np.allclose(keras.ops.convert_to_numpy(got["total"]), [total], rtol=1e-6), variant


def test_background_cells_top_k_balances_anchors_threshold_does_not_apply():
    logits, pred, _, gt_point, _ = random_batch(2, scale=1.0)
    gt_class = np.zeros((B, S), np.int32)
    cls_mask = np.ones((B, S), np.float32)
    full = keras.ops.convert_to_numpy(landmark_loss_terms(logits, pred, gt_class, gt_point, cls_mask)["cls"])
    thr = landmark_loss_terms(logits, pred, gt_class, gt_point, cls_mask, conf_threshold=0.99)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(thr["cls"]), full, rtol=1e-6)
    assert np.all(keras.ops.convert_to_numpy(thr["loc"]) == 0)
    # top_k=1 in a background cell: only its most landmark-like anchor, -log P(bg) of that one anchor
    z = logits.astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    hardest = p[..., 0].min(axis=-1)  # [B, S]: the anchor with the highest 1 - P(bg)
    top1 = landmark_loss_terms(logits, pred, gt_class, gt_point, cls_mask, top_k=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(top1["cls"]), -np.log(hardest).sum(1), rtol=1e-5)


def test_eq6_trains_the_point_head_when_the_image_class_loss_is_large():
    # 40 badly classified background cells give a per-image class loss of ~180: exp(-180) is 0 in float32,
    # so an image-level weight would stop the point head. Per landmark, the well-classified landmark cell
    # keeps its localisation weight exp(-cls_s) ~ 1.
    s_cells = 41
    logits = np.zeros((1, s_cells, A, M), np.float32)
    logits[0, 1:, :, 3] = 5.0  # background cells predicted as class 3: -log P(bg) ~ 5.0 per anchor
    logits[0, 0, :, 2] = 8.0  # the landmark cell: class 2, confidently right
    gt_class = np.zeros((1, s_cells), np.int32)
    gt_class[0, 0] = 2
    gt_point = np.zeros((1, s_cells, 2), np.float32)
    gt_point[0, 0] = [0.8, 0.3]
    pred = np.zeros((1, s_cells, A, 2), np.float32)
    cls_mask = np.ones((1, s_cells), np.float32)
    batch = (logits, pred, gt_class, gt_point, cls_mask)
    for variant in ("eq6", "eq7"):
        terms = {
            k: keras.ops.convert_to_numpy(v) for k, v in landmark_loss_terms(*batch, variant=variant).items()
        }
        ref = reference(*batch, variant=variant)
        assert terms["cls"][0] > 150
        np.testing.assert_allclose(terms["total"], ref["total"], rtol=1e-5)
        pred_v = tf.Variable(pred)
        with tf.GradientTape() as tape:
            total = landmark_loss_terms(logits, pred_v, gt_class, gt_point, cls_mask, variant=variant)[
                "total"
            ]
        g = tape.gradient(total, pred_v).numpy()
        assert np.abs(g[0, 0]).max() > 0.1, variant  # the point head learns


def _grads(fn, logits, *rest):
    logits = tf.Variable(logits)
    with tf.GradientTape(persistent=True) as tape:
        terms = fn(logits, *rest)
    return {k: tape.gradient(v, logits, unconnected_gradients="zero").numpy() for k, v in terms.items()}


@pytest.mark.parametrize("kw", [{}, {"top_k": 2}, {"conf_threshold": 0.8}])
def test_eq1_class_weight_carries_no_gradient(kw):
    logits, pred, gt_class, gt_point, cls_mask = random_batch(0, scale=1.0)
    g = _grads(lambda z, *r: landmark_loss_terms(z, *r, **kw), logits, pred, gt_class, gt_point, cls_mask)
    assert np.abs(g["cls"]).max() > 0
    assert np.all(g["loc"] == 0)  # P^C and the anchor selection are weights, not paths to the classifier
    np.testing.assert_allclose(g["total"], g["cls"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant", ["eq6", "eq7"])
def test_exp_minus_cls_weight_carries_no_gradient(variant):
    logits, pred, gt_class, gt_point, cls_mask = random_batch(0)
    g = _grads(
        lambda z, *r: landmark_loss_terms(z, *r, variant=variant), logits, pred, gt_class, gt_point, cls_mask
    )
    np.testing.assert_allclose(g["total"], g["cls"], rtol=1e-6, atol=1e-7)


def test_loc_gradient_reaches_points():
    logits, pred, gt_class, gt_point, cls_mask = random_batch(0)
    pred_v = tf.Variable(pred)
    with tf.GradientTape() as tape:
        loc = landmark_loss_terms(logits, pred_v, gt_class, gt_point, cls_mask)["loc"]
    g = tape.gradient(loc, pred_v).numpy()
    assert np.abs(g[gt_class > 0]).max() > 0
    assert np.all(g[gt_class == 0] == 0)


def test_landmark_cell_accuracy_by_hand():
    # 3 landmark cells (2 right, 1 wrong) and a background cell that does not count: 2/3
    logits = np.zeros((1, 4, 2, 3), np.float32)
    logits[0, 0, :, 1] = 3  # right (class 1)
    logits[0, 1, :, 2] = 3  # right (class 2)
    logits[0, 2, :, 0] = 3  # wrong: background wins
    logits[0, 3, :, 1] = 3  # background cell
    acc = landmark_cell_accuracy(logits, np.array([[1, 2, 2, 0]]))
    assert float(keras.ops.convert_to_numpy(acc)) == pytest.approx(2 / 3)
    assert np.isnan(float(keras.ops.convert_to_numpy(landmark_cell_accuracy(logits, np.zeros((1, 4))))))


def test_unknown_variant_and_bad_top_k():
    batch = random_batch(0)
    with pytest.raises(ValueError, match="variant"):
        landmark_loss_terms(*batch, variant="eq2")
    with pytest.raises(ValueError, match="top_k"):
        landmark_loss_terms(*batch, top_k=0)
    with pytest.raises(ValueError, match="variant"):
        LossConfig(variant="focal")


def test_batch_loss_is_the_batch_mean_of_the_reference():
    logits, pred, gt_class, gt_point, cls_mask = random_batch(3)
    cfg = LossConfig(variant="eq5", lam=0.5, top_k=2)
    outputs = {"class_logits": logits, "points": pred}
    targets = {"gt_class": gt_class, "gt_point": gt_point, "cls_mask": cls_mask}
    total, cls, loc = (keras.ops.convert_to_numpy(x) for x in batch_loss(outputs, targets, cfg))
    ref = reference(logits, pred, gt_class, gt_point, cls_mask, variant="eq5", lam=0.5, top_k=2)
    np.testing.assert_allclose([total, cls, loc], [ref[k].mean() for k in ("total", "cls", "loc")], rtol=1e-4)


def test_inside_tf_function_with_unknown_batch_size():
    batch = random_batch(4)
    sig = [tf.TensorSpec((None,) + x.shape[1:], tf.as_dtype(x.dtype)) for x in batch]
    fn = tf.function(lambda *a: landmark_loss_terms(*a, variant="eq1", top_k=2)["total"], input_signature=sig)
    np.testing.assert_allclose(
        fn(*batch).numpy(),
        keras.ops.convert_to_numpy(landmark_loss_terms(*batch, top_k=2)["total"]),
        rtol=1e-5,
    )


def test_perfect_prediction_of_encoded_targets_has_near_zero_loss():
    spec = GridSpec(input_height=32, input_width=64, stride=8, num_classes=M)
    t = encode_targets(spec, [[8, 8, 24, 24], [40, 4, 44, 9]], [[20, 22], [44, 9]], [2, 5], rng=0)
    logits = 20.0 * np.eye(M, dtype=np.float32)[t["gt_class"]][None, :, None, :].repeat(A, axis=2)
    points = np.repeat(t["gt_point"][None, :, None, :], A, axis=2)
    terms = landmark_loss_terms(logits, points, t["gt_class"][None], t["gt_point"][None], t["cls_mask"][None])
    assert float(keras.ops.convert_to_numpy(terms["total"])[0]) < 1e-5
    off = landmark_loss_terms(
        logits, points + 0.5, t["gt_class"][None], t["gt_point"][None], t["cls_mask"][None]
    )
    n_land = int((t["gt_class"] > 0).sum())  # 4 + 1 cells, each anchor: 2 * 0.5 * 0.5**2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(off["loc"]), [n_land * A * 0.25], rtol=1e-5)


def test_unlabelled_classes_marginal_background_by_hand():
    # one background cell, one anchor, M = 3, P = (0.5, 0.3, 0.2). Class 2 unlabelled in image 0, nothing in
    # image 1: image 0's class loss is -log(0.5 + 0.2), image 1's -log 0.5
    p = np.array([0.5, 0.3, 0.2])
    logits = np.tile(np.log(p).astype(np.float32).reshape(1, 1, 1, 3), (2, 1, 1, 1))
    zeros = np.zeros((2, 1, 2), np.float32)
    args = (logits, zeros[:, :, None, :], np.zeros((2, 1), np.int32), zeros, np.ones((2, 1), np.float32))
    unl = np.array([[0, 0, 1], [0, 0, 0]], np.float32)
    got = keras.ops.convert_to_numpy(landmark_loss_terms(*args, unlabelled=unl)["cls"])
    np.testing.assert_allclose(got, [-math.log(0.7), -math.log(0.5)], rtol=1e-5)


def test_unlabelled_leaves_landmark_cells_alone():
    # a landmark cell's loss is -log P^C whether or not other classes are unlabelled; all-zero masks change
    # nothing at all
    batch = random_batch(0, scale=1.0)
    gt_class = batch[2]
    unl = np.zeros((B, M), np.float32)
    unl[:, 4:] = 1
    plain = keras.ops.convert_to_numpy(landmark_loss_terms(*batch)["cls"])
    zero = keras.ops.convert_to_numpy(landmark_loss_terms(*batch, unlabelled=np.zeros((B, M)))["cls"])
    np.testing.assert_allclose(zero, plain, rtol=1e-6)
    only_landmarks = (batch[0], batch[1], gt_class, batch[3], (gt_class > 0).astype(np.float32))
    a = keras.ops.convert_to_numpy(landmark_loss_terms(*only_landmarks)["total"])
    b = keras.ops.convert_to_numpy(landmark_loss_terms(*only_landmarks, unlabelled=unl)["total"])
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_mining_adds_the_highest_loss_pool_cells_by_hand():
    # one image, 5 background cells, 1 anchor, M = 2. P(background) per cell: 0.9, 0.2, 0.6, 0.1, 0.5.
    # Cell 0 is sampled (cls_mask); cells 1-4 are the pool, 2 to mine: the two of highest -log P[0] are
    # cells 3 (0.1) and 1 (0.2), so cls = -log 0.9 - log 0.1 - log 0.2. With 0 to mine: -log 0.9 alone.
    p0 = np.array([0.9, 0.2, 0.6, 0.1, 0.5])
    logits = np.stack([np.log(p0), np.log(1 - p0)], -1).astype(np.float32).reshape(1, 5, 1, 2)
    args = (logits, np.zeros((1, 5, 1, 2), np.float32), np.zeros((1, 5), np.int32), np.zeros((1, 5, 2)))
    mask = np.array([[1, 0, 0, 0, 0]], np.float32)
    pool = np.array([[0, 1, 1, 1, 1]], np.float32)
    for count, want in (
        (2, -math.log(0.9 * 0.1 * 0.2)),
        (0, -math.log(0.9)),
        (4, -math.log(0.9 * 0.2 * 0.6 * 0.1 * 0.5)),
    ):
        got = landmark_loss_terms(*args, mask, mine_pool=pool, mine_count=np.array([count], np.float32))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got["cls"]), [want], rtol=1e-5)


def test_mining_takes_exactly_count_cells_when_losses_tie():
    # letterbox padding: identical cells, identical losses. 4 pool cells at P(background) 0.5, 2 to mine:
    # exactly two join, cls = 2 * -log 0.5 (not 4 * -log 0.5)
    logits = np.zeros((1, 4, 1, 2), np.float32)
    args = (logits, np.zeros((1, 4, 1, 2), np.float32), np.zeros((1, 4), np.int32), np.zeros((1, 4, 2)))
    got = landmark_loss_terms(
        *args, np.zeros((1, 4), np.float32), mine_pool=np.ones((1, 4)), mine_count=np.array([2.0])
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got["cls"]), [2 * math.log(2)], rtol=1e-5)
