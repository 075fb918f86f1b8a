"""Class-dependent landmark losses (the method's Eq. 1 and the Eq. 5-7 variants), written with ``keras.ops``.

Shapes: B images, S cells, A anchors per cell, M classes including background 0. Points are in cell units
(see :mod:`keras_lmk.detector.grid`): the head's ``points`` output is anchor + offset, compared with
``gt_point``.

Per image, with P = softmax(class_logits), P^C[s, a] = P[s, a, gt_class[s]] and
confidence[s, a] = 1 - P[s, a, 0]; d[s, a] = sum_{x, y} smoothL1(gt_point[s] - point_pred[s, a]); sums over
s run over landmark cells (gt_class >= 1) unless said otherwise::

    cls      = sum_{s: cls_mask} sum_a w * (-log P^C)                      (every selected cell)
    cls_s    = sum_a w * (-log P^C[s])     loc_s = sum_a w' * d[s]         (one landmark cell)
    eq1: loc = sum_s sum_a w' * P^C * d                                    total = cls + lam * loc
    eq5: loc = sum_s loc_s                                                 total = cls + lam * loc
    eq6: loc as eq5                                   total = cls + sum_s exp(-cls_s) * loc_s
    eq7: loc as eq5                                   total = cls + sum_s exp(-cls_s) * loc_s**2

eq6/eq7 weight each landmark by its *own* class loss (the method's L_cls(C) of that landmark): a cell whose
class is already right (cls_s near 0) gets its localisation term at full weight. The per-cell form was
chosen over per-anchor because the method's unit is the landmark, and a landmark cell is where one
landmark's class and point are both learnt; with the old whole-image sum (100-600 in training)
exp(-cls) underflowed to 0 in float32 and the point head never trained.

The anchor weight w is 1, except: with ``top_k`` only the k anchors of highest confidence (1 - P(background),
the method's "highest confidence" read as "most landmark-like") count in every selected cell, landmark and
background alike, so the classifier sees as many background anchors as landmark anchors when the cells
are balanced (in a background cell these are its hardest negatives); ``conf_threshold`` drops landmark-cell
anchors whose confidence is below it from the localisation term (combined: both must hold). P^C,
exp(-cls_s) and w are weights: no gradient flows through them. The localisation term of a landmark cell
counts whatever its ``cls_mask``.

Online hard-negative mining (``pipeline.mined_negatives``): part of each image's balanced background count
is chosen here, as its background cells of highest class loss, instead of at random by the pipeline.

Class first, then localisation (the method's claim 11): with ``loc_gate`` = 0 the loss is the class term
alone and ``conf_threshold`` is not applied (a fresh model's confidence is ~0.01, so a threshold would
gate out every landmark anchor and nothing would be learnt); with 1 it is the full objective.
:class:`keras_lmk.training.trainer.LandmarkTrainer` opens the gate once the landmark-cell accuracy of recent
batches
reaches ``LossConfig.loc_start_accuracy``.
"""

from __future__ import annotations

from keras import ops

from keras_lmk.detector.loss_config import VARIANTS, LossConfig


def _smooth_l1(t):
    abs_t = ops.abs(t)
    return ops.where(abs_t < 1.0, 0.5 * ops.square(t), abs_t - 0.5)


def _anchor_weights(confidence, is_landmark, top_k: int | None, conf_threshold: float | None, gate=None):
    """(w_cls, w_loc), float [B, S, A], 1 for anchors that count. top_k: every cell, both terms;
    conf_threshold: landmark cells, localisation term only, and only where ``gate`` (scalar 0/1, None = 1)
    is open."""
    keep = ops.ones_like(confidence)
    num_anchors = confidence.shape[-1]
    if top_k is not None and top_k < num_anchors:
        _, idx = ops.top_k(confidence, k=top_k)  # [B, S, k]; ties go to the lower anchor index
        keep = ops.minimum(ops.sum(ops.one_hot(idx, num_anchors, dtype=confidence.dtype), axis=-2), 1.0)
    keep_loc = keep
    if conf_threshold is not None:
        passed = ops.cast(confidence >= conf_threshold, confidence.dtype)
        if gate is not None:
            passed = gate * passed + (1.0 - gate)
        keep_loc = ops.where(is_landmark[..., None], keep * passed, keep)
    return ops.stop_gradient(keep), ops.stop_gradient(keep_loc)


def _mined_cells(cell_loss, pool, count):
    """float [B, S]: 1 on exactly ``count`` pool cells of each image, those of highest ``cell_loss`` (ties,
    e.g. the identical cells of letterbox padding, broken by position)."""
    pool = ops.cast(ops.convert_to_tensor(pool), "float32")
    count = ops.cast(ops.convert_to_tensor(count), "int32")
    cand = ops.where(pool > 0, ops.stop_gradient(cell_loss), -1.0)  # class losses are >= 0
    rank = ops.argsort(ops.argsort(-cand, axis=1), axis=1)  # 0 = highest loss
    chosen = (ops.cast(rank, "int32") < count[:, None]) & (pool > 0)
    return ops.cast(chosen, "float32")


def landmark_loss_terms(
    class_logits,
    point_pred,
    gt_class,
    gt_point,
    cls_mask,
    *,
    variant: str = "eq1",
    lam: float = 1.0,
    top_k: int | None = None,
    conf_threshold: float | None = None,
    unlabelled=None,
    loc_gate=None,
    mine_pool=None,
    mine_count=None,
) -> dict:
    """Per-image loss terms.

    Args:
      class_logits: float [B, S, A, M].
      point_pred: float [B, S, A, 2], cell units (anchor + predicted offset).
      gt_class: int [B, S], 0 = background.
      gt_point: float [B, S, 2], cell units of each cell (ignored in background cells).
      cls_mask: float [B, S], 1 = cell enters the classification loss.
      variant: "eq1" (class-weighted localisation, default), "eq5", "eq6" or "eq7".
      lam: weight of the localisation term for eq1/eq5; eq6/eq7 replace it by exp(-cls_s) and ignore it.
      top_k: in every selected cell only the k most confident anchors count (k >= A: all).
      conf_threshold: in landmark cells, anchors with confidence below it do not count in the localisation
        term (the class term always sees them: gating them out there too lets the classifier unlearn the
        landmarks it is unsure of, measured in tests/test_trainer.py). A landmark cell where no anchor passes
        contributes no localisation loss.
      unlabelled: optional float [B, M], 1 for classes the image's source does not annotate (partial
        labels). In its background cells the class target is then "background or one of those classes":
        ``-log(P[0] + sum_{c unlabelled} P[c])``, so an unlabelled traffic light in a sign data set is not
        taught as background, while labelled classes still are. None or all zeros: plain ``-log P[0]``.
      mine_pool, mine_count: optional float [B, S] and [B] (``encode_targets(mined_share=...)``): online
        hard-negative mining. The ``mine_count`` pool cells with the highest class loss (summed over their
        weighted anchors, no gradient through the choice) join ``cls_mask``. The image keeps as many
        background cells as it was given, chosen hard rather than at random.
      loc_gate: optional float scalar, 1 = localisation phase (default), 0 = class phase: ``total`` is
        ``cls`` alone and ``conf_threshold`` is not applied.

    Returns:
      dict of float32 [B] tensors: "cls", "loc" (for eq6/eq7 the eq5 sum) and "total".
      Inputs may be numpy arrays; outputs are backend tensors. Computed in float32 whatever the input dtype.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown loss variant {variant!r}; expected one of {VARIANTS}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    logits = ops.cast(ops.convert_to_tensor(class_logits), "float32")
    point_pred = ops.cast(ops.convert_to_tensor(point_pred), "float32")
    gt_class = ops.cast(ops.convert_to_tensor(gt_class), "int32")
    gt_point = ops.cast(ops.convert_to_tensor(gt_point), "float32")
    cls_mask = ops.cast(ops.convert_to_tensor(cls_mask), "float32")
    num_classes = logits.shape[-1]

    log_p = ops.log_softmax(logits, axis=-1)  # [B, S, A, M]
    onehot = ops.one_hot(gt_class, num_classes, dtype="float32")  # [B, S, M]
    log_pc = ops.sum(log_p * onehot[:, :, None, :], axis=-1)  # [B, S, A]
    if unlabelled is not None:  # background cells: log(P[0] + sum of the unlabelled classes' P)
        unl = ops.cast(ops.convert_to_tensor(unlabelled), "float32")  # [B, M]
        bg_set = ops.one_hot(0, num_classes, dtype="float32")[None, :] + unl  # [B, M]: 0 and unlabelled
        log_bg = ops.logsumexp(ops.where(bg_set[:, None, None, :] > 0, log_p, -1e9), axis=-1)  # [B, S, A]
        log_pc = ops.where((gt_class == 0)[..., None], log_bg, log_pc)
    confidence = 1.0 - ops.exp(log_p[..., 0])  # [B, S, A]
    is_landmark = gt_class >= 1  # [B, S]
    gate = None if loc_gate is None else ops.cast(ops.convert_to_tensor(loc_gate), "float32")
    w, w_loc = _anchor_weights(confidence, is_landmark, top_k, conf_threshold, gate)

    if mine_pool is not None:
        cls_mask = cls_mask + _mined_cells(ops.sum(w * -log_pc, axis=2), mine_pool, mine_count)
    cls_sa = cls_mask[..., None] * w * -log_pc  # [B, S, A]
    cls = ops.sum(cls_sa, axis=(1, 2))  # [B]

    d = ops.sum(_smooth_l1(gt_point[:, :, None, :] - point_pred), axis=-1)  # [B, S, A]
    loc_w = ops.cast(is_landmark, "float32")[..., None] * w_loc
    if variant == "eq1":
        loc_w = loc_w * ops.stop_gradient(ops.exp(log_pc))
    loc_s = ops.sum(loc_w * d, axis=2)  # [B, S]
    loc = ops.sum(loc_s, axis=1)  # [B]

    if variant in ("eq1", "eq5"):
        loc_term = lam * loc
    else:  # eq6 / eq7: each landmark cell weighted by its own class loss
        weight = ops.stop_gradient(ops.exp(-ops.sum(ops.cast(is_landmark, "float32")[..., None] * cls_sa, 2)))
        loc_term = ops.sum(weight * (loc_s if variant == "eq6" else ops.square(loc_s)), axis=1)
    total = cls + (loc_term if gate is None else gate * loc_term)
    return {"cls": cls, "loc": loc, "total": total}


def landmark_cell_accuracy(class_logits, gt_class):
    """Share of landmark cells whose anchor-averaged class probabilities have their maximum at the true
    class: float32 scalar, NaN when the batch has no landmark cell.

    class_logits: float [B, S, A, M]; gt_class: int [B, S].
    """
    probs = ops.mean(ops.softmax(ops.cast(class_logits, "float32"), axis=-1), axis=2)  # [B, S, M]
    gt = ops.cast(gt_class, "int32")
    right = ops.cast(ops.equal(ops.cast(ops.argmax(probs, axis=-1), "int32"), gt), "float32")
    lm = ops.cast(gt >= 1, "float32")
    return ops.sum(right * lm) / ops.sum(lm)


def batch_loss(outputs: dict, targets: dict, cfg: LossConfig, loc_gate=None) -> tuple:
    """Batch means of (total, cls, loc): scalars. The thin Keras wrapper is
    :meth:`keras_lmk.training.trainer.LandmarkTrainer.compute_loss`, which calls this.

    outputs: the model's dict with "class_logits" [B, S, A, M] and "points" [B, S, A, 2].
    targets: the pipeline's dict with "gt_class" [B, S], "gt_point" [B, S, 2], "cls_mask" [B, S] and
      optionally "unlabelled" [B, M], "mine_pool" [B, S] and "mine_count" [B].
    """
    terms = landmark_loss_terms(
        outputs["class_logits"],
        outputs["points"],
        targets["gt_class"],
        targets["gt_point"],
        targets["cls_mask"],
        variant=cfg.variant,
        lam=cfg.lam,
        top_k=cfg.top_k,
        conf_threshold=cfg.conf_threshold,
        unlabelled=targets.get("unlabelled"),
        loc_gate=loc_gate,
        mine_pool=targets.get("mine_pool"),
        mine_count=targets.get("mine_count"),
    )
    return ops.mean(terms["total"]), ops.mean(terms["cls"]), ops.mean(terms["loc"])
