import numpy as np
import pytest

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox, letterbox_image


def test_grid_cells_and_anchor_pixels_hand_computed():
    spec = GridSpec(input_height=16, input_width=24, stride=8, anchors=((0.5, 0.5), (0.25, 0.75)))
    assert (spec.grid_h, spec.grid_w, spec.num_cells, spec.num_anchors) == (2, 3, 6, 2)
    np.testing.assert_allclose(spec.cell_origins()[4], [8, 8])  # row 1, col 1
    np.testing.assert_allclose(spec.anchor_pixels()[5], [[20, 12], [18, 14]])  # cell (1, 2)
    # cell units round trip: pixel (30, 2) relative to cell 0 is (3.75, 0.25)
    np.testing.assert_allclose(spec.to_cell_units([[30, 2]], [0]), [[3.75, 0.25]])
    pts = np.zeros((1, 6, 2, 2), np.float32)
    np.testing.assert_allclose(spec.to_pixels(pts)[0, 5, 1], [16, 8])


def test_grid_rejects_bad_sizes():
    with pytest.raises(ValueError, match="multiple of stride"):
        GridSpec(input_height=20, input_width=24, stride=8)
    assert GridSpec.from_json(GridSpec().to_json()) == GridSpec()


def test_letterbox_hand_computed():
    # 1360x800 into 512x320: scale = min(512/1360, 320/800) = 0.37647; size 512x301; pad_y = (320-301)//2 = 9
    lb = Letterbox.fit(1360, 800, 512, 320)
    assert lb.scale == pytest.approx(512 / 1360)
    assert (lb.pad_x, lb.pad_y) == (0, 9)
    np.testing.assert_allclose(lb.to_input([[680, 400]]), [[256, 400 * 512 / 1360 + 9]], rtol=1e-6)
    np.testing.assert_allclose(lb.to_original(lb.to_input([[17.5, 3.25]])), [[17.5, 3.25]], rtol=1e-5)


def test_letterbox_image_places_pixels_where_the_mapping_says():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 140:160] = 255  # white square centred at (150, 50)
    out, lb = letterbox_image(img, 64, 64)
    assert out.shape == (64, 64, 3)
    x, y = lb.to_input([[150, 50]])[0]
    assert out[int(y), int(x)].min() > 200
    assert out[0, 0].tolist() == [114, 114, 114]  # padding
