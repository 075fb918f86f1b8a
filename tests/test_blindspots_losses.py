"""Loss blind spot from issue 18: the localisation term of a landmark cell counts whatever its cls_mask
(the encoder always selects landmark cells, so the random batches of test_losses never show it)."""

import math

import keras
import numpy as np
import pytest

from keras_lmk.detector.losses import landmark_loss_terms


def _two_cells(landmark_cls_mask: float):
    """One image, A = 1, M = 2. Cell 0: landmark of class 1, logits (0, ln 3) -> P = (1/4, 3/4), point error
    (0.2, 2.0) -> smooth L1 d = 0.5 * 0.2^2 + (2.0 - 0.5) = 1.52. Cell 1: background, logits (ln 3, 0) ->
    P(bg) = 3/4, always in the class loss."""
    logits = np.array([[0.0, math.log(3.0)], [math.log(3.0), 0.0]], np.float32).reshape(1, 2, 1, 2)
    pred = np.full((1, 2, 1, 2), 0.5, np.float32)
    gt_point = np.array([[0.7, 2.5], [0.0, 0.0]], np.float32).reshape(1, 2, 2)
    gt_class = np.array([[1, 0]], np.int32)
    cls_mask = np.array([[landmark_cls_mask, 1.0]], np.float32)
    return logits, pred, gt_class, gt_point, cls_mask


@pytest.mark.parametrize("landmark_cls_mask", [0.0, 1.0])
def test_localisation_counts_whatever_the_cls_mask(landmark_cls_mask):
    d = 0.5 * 0.2**2 + (2.0 - 0.5)  # 1.52
    # class loss: the background cell's -log 3/4, plus the landmark cell's -log 3/4 only when selected
    cls = -math.log(0.75) * (1 + landmark_cls_mask)
    batch = _two_cells(landmark_cls_mask)
    for variant, lam, loc in (("eq1", 1.0, 0.75 * d), ("eq5", 2.0, d)):  # eq1 weighs d by P^C = 3/4
        got = {
            k: keras.ops.convert_to_numpy(v)
            for k, v in landmark_loss_terms(*batch, variant=variant, lam=lam).items()
        }
        np.testing.assert_allclose(got["cls"], [cls], rtol=1e-6)
        np.testing.assert_allclose(got["loc"], [loc], rtol=1e-6, err_msg=variant)
        np.testing.assert_allclose(got["total"], [cls + lam * loc], rtol=1e-6, err_msg=variant)
