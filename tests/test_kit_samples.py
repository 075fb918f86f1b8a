"""The mobile kit's sample choice and phone frame (keras_lmk.deploy.kit_samples), against hand-made frames
and detections and hand-computed crops."""

from dataclasses import dataclass

import numpy as np
import pytest

from keras_lmk.deploy import kit_samples
from keras_lmk.detector.decode import Detections
from keras_lmk.detector.letterbox import Letterbox


@dataclass
class Frame:
    points: np.ndarray
    classes: np.ndarray
    dets: Detections


def frame(gt, dets) -> Frame:
    """gt: [(class, x, y)]; dets: [(class, x, y, score)]."""
    return Frame(
        np.array([[x, y] for _, x, y in gt], np.float32).reshape(-1, 2),
        np.array([c for c, _, _ in gt], np.int32),
        Detections(
            np.array([c for c, *_ in dets], np.int32),
            np.array([[x, y] for _, x, y, _ in dets], np.float32).reshape(-1, 2),
            np.array([s for *_, s in dets], np.float32),
        ),
    )


FRAMES = [
    frame([(1, 50, 50)], [(2, 50, 50, 0.9)]),  # 0: the right place, the wrong class
    frame([(1, 100, 100)], [(1, 105, 100, 0.9), (2, 10, 10, 0.8), (1, 300, 300, 0.7)]),  # 1: found, 2 others
    frame([(2, 20, 20)], [(2, 20, 31, 0.9)]),  # 2: 11 px off: not found, 1 other
    frame([(2, 20, 20)], [(2, 26, 28, 0.6)]),  # 3: 10 px off (6-8-10): found, no other
    frame([(1, 40, 40), (2, 80, 80)], [(1, 40, 41, 0.9), (2, 80, 80, 0.8)]),  # 4: both found, no other
    frame([(1, 40, 40)], [(1, 40, 40, 0.9)]),  # 5: found, no other
]


def test_judge_by_hand():
    assert [kit_samples.judge(f.dets, f.points, f.classes) for f in FRAMES] == [
        (0, 1),
        (1, 2),
        (0, 1),
        (1, 0),
        (2, 0),
        (1, 0),
    ]
    # one detection finds one labelled landmark, however close the second is
    two = frame([(1, 40, 40), (1, 42, 40)], [(1, 41, 40, 0.9)])
    assert kit_samples.judge(two.dets, two.points, two.classes) == (1, 0)


@pytest.mark.parametrize(
    "count, scan, want, scanned",
    [
        (1, 40, [3], 4),  # the first frame that shows its label with no other detection; stops there
        (2, 40, [3, 4], 5),
        (3, 40, [3, 4, 5], 6),
        (4, 40, [3, 4, 5, 1], 6),  # then the frame with others; never one that shows no label
        (1, 3, [1], 3),  # within the first 3, the only frame that shows its label, others and all
        (1, 1, [], 1),  # the wrong class is not shown
    ],
)
def test_choose_by_hand(count, scan, want, scanned):
    calls = []

    def detect(f):
        calls.append(f)
        return f.dets

    shown, n = kit_samples.choose(FRAMES, detect, count, scan=scan)
    assert [s.index for s in shown] == want
    assert n == scanned == len(calls)


def test_choose_is_the_full_ranking_when_it_stops_early():
    # stopping at the count-th clean frame gives what ranking every candidate would
    full = sorted(
        (
            (other, i)
            for i, f in enumerate(FRAMES)
            for found, other in [kit_samples.judge(f.dets, f.points, f.classes)]
            if found
        )
    )
    for count in range(1, 6):
        shown, _ = kit_samples.choose(FRAMES, lambda f: f.dets, count)
        assert [s.index for s in shown] == [i for _, i in full[:count]]


def rows_image(w: int, h: int) -> np.ndarray:
    """Each pixel holds its row: R = y % 256, G = y // 256, B = 7."""
    y = np.arange(h)[:, None]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = y % 256, y // 256, 7
    return img


def test_phone_frame_from_a_gtsdb_sized_image_by_hand():
    # 1360x800 is taller than 16:9: keep the width, 1360 * 9 / 16 = 765 rows from row (800 - 765) // 2 = 17,
    # then x 1920 / 1360 = 1080 / 765 = 1.41176 (bilinear)
    points = [[680, 417], [10, 5], [1360, 782], [0, 17]]  # the last two: the crop's corners
    frame_, pts, inside = kit_samples.phone_frame(rows_image(1360, 800), points)
    assert frame_.shape == (1080, 1920, 3) and frame_.dtype == np.uint8
    assert tuple(frame_[0, 0]) == (17, 0, 7)  # the crop's first row (781 = 3 * 256 + 13: its last)
    assert tuple(frame_[-1, -1]) == (13, 3, 7)
    np.testing.assert_allclose(
        pts, [[960, 400 * 1920 / 1360], [10 * 1920 / 1360, -12 * 1920 / 1360], [1920, 1080], [0, 0]]
    )
    assert inside.tolist() == [True, False, True, True]


def test_phone_frame_from_a_wide_and_a_large_image_by_hand():
    # 2000x800 is wider than 16:9: keep the height, round(800 * 16 / 9) = 1422 columns from (2000 - 1422) // 2
    img = np.zeros((800, 2000, 3), np.uint8)
    img[:, 289] = 200  # the crop's first column
    frame_, pts, _ = kit_samples.phone_frame(img, [[289 + 711, 400]])
    assert frame_.shape == (1080, 1920, 3) and frame_[:, 0].min() > 100 and frame_[:, 3:].max() == 0
    np.testing.assert_allclose(pts, [[711 * 1920 / 1422, 400 * 1080 / 800]])
    # a 5760x3240 image shrinks by exactly 3: the area filter gives each 3x3 block's mean (bilinear would
    # take the centre pixel)
    big = np.zeros((3240, 5760, 3), np.uint8)
    big[0, 0], big[1, 1] = 90, 45
    small, pts, _ = kit_samples.phone_frame(big, [[5760, 3240]])
    assert small.shape == (1080, 1920, 3) and tuple(small[0, 0]) == (15, 15, 15) and small[1:, 1:].max() == 0
    np.testing.assert_allclose(pts, [[1920, 1080]])


def test_phone_frame_is_shrunk_into_the_shipped_input():
    # 1920x1080 into 1664x992: scale = min(1664 / 1920, 992 / 1080) = 0.8667 < 1, 1080 * 0.8667 = 936 rows,
    # pad (992 - 936) / 2 = 28 above and below
    assert kit_samples.phone_frame_size(1664, 992) == (1920, 1080)
    lb = Letterbox.fit(1920, 1080, 1664, 992)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (pytest.approx(13 / 15), 0, 28)
    assert kit_samples.phone_frame_size(64, 64) == (1920, 1080)
    assert kit_samples.phone_frame_size(1920, 992) == (3840, 2160)  # never a frame the input equals
