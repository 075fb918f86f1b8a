"""Letterbox: the one mapping between original pixels and model-input pixels, hand-computed."""

import numpy as np
import pytest

from keras_lmk.detector.letterbox import PAD_VALUE, Letterbox, letterbox_image


def test_letterbox_hand_computed():
    # 1360x800 into 512x320: scale = min(512/1360, 320/800) = 0.37647; size 512x301; pad_y = (320-301)//2 = 9
    lb = Letterbox.fit(1360, 800, 512, 320)
    assert lb.scale == pytest.approx(512 / 1360)
    assert (lb.pad_x, lb.pad_y) == (0, 9)
    np.testing.assert_allclose(lb.to_input([[680, 400]]), [[256, 400 * 512 / 1360 + 9]], rtol=1e-6)
    np.testing.assert_allclose(lb.to_original(lb.to_input([[17.5, 3.25]])), [[17.5, 3.25]], rtol=1e-5)


def test_tall_image_pads_the_sides_and_upscales():
    # 100x200 into 64x64: scale 0.32, resized 32x64, pad_x = (64 - 32) // 2 = 16
    lb = Letterbox.fit(100, 200, 64, 64)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (pytest.approx(0.32), 16, 0)
    np.testing.assert_allclose(lb.to_input([[0, 0], [100, 200]]), [[16, 0], [48, 64]], rtol=1e-6)
    # a small image is scaled up: 32x16 into 64x64 -> scale 2, 64x32, pad_y 16
    up = Letterbox.fit(32, 16, 64, 64)
    assert (up.scale, up.pad_x, up.pad_y) == (2.0, 0, 16)
    with pytest.raises(ValueError, match="positive"):
        Letterbox.fit(0, 10, 64, 64)


def test_boxes_map_corner_by_corner():
    lb = Letterbox(0.5, 4, 10)
    np.testing.assert_allclose(
        lb.boxes_to_input([[0, 0, 20, 40], [10, 2, 12, 6]]), [[4, 10, 14, 30], [9, 11, 10, 13]]
    )
    assert lb.boxes_to_input(np.zeros((0, 4))).shape == (0, 4)


def test_letterbox_image_places_pixels_where_the_mapping_says():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 140:160] = 255  # white square centred at (150, 50)
    out, lb = letterbox_image(img, 64, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # scale 0.32: the 200x100 image becomes 64x32, pad_y (64 - 32) // 2 = 16
    assert (lb.scale, lb.pad_x, lb.pad_y) == (pytest.approx(0.32), 0, 16)
    x, y = lb.to_input([[150, 50]])[0]
    assert (x, y) == pytest.approx((48, 32))
    assert out[int(y), int(x)].min() > 200
    assert out[0, 0].tolist() == [PAD_VALUE] * 3 == [114, 114, 114]  # padding rows above and below
    assert (out[:16] == PAD_VALUE).all() and (out[48:] == PAD_VALUE).all()
    assert (out[16:48, :, :] == 0).mean() > 0.9  # the (mostly black) image fills the middle band
