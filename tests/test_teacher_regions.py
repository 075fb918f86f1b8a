"""A teacher's ignore regions on real training images, in original pixels (a stand-in teacher)."""

import cv2
import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.detector.grid import GridSpec
from keras_lmk.inference.teacher_regions import teacher_ignore_regions

SPEC = GridSpec(input_height=32, input_width=48, stride=8, num_classes=4)
IDS = {"a": 1, "b": 2, "c": 3}


class _Teacher:
    """A stand-in runner: class 2 ("b") sure in cell (row 1, col 1) of SPEC, background everywhere else."""

    spec = SPEC

    class taxonomy:  # noqa: N801 - the attribute a runner has
        @staticmethod
        def class_id(name):
            return IDS[name]

    def infer_frame(self, rgb):
        from keras_lmk.detector.letterbox import letterbox_image

        _, lb = letterbox_image(rgb, SPEC.input_width, SPEC.input_height)
        logits = np.zeros((SPEC.num_cells, 2, 4), np.float32)
        logits[..., 0] = 9.0
        logits[1 * SPEC.grid_w + 1, :, 2] = 20.0
        return logits, None, lb


def _record(tmp_path, unlabelled=()):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 96, 3), np.uint8))
    rec = ImageRecord(str(tmp_path / "a.png"), 96, 64, np.zeros((0, 4)), np.zeros((0, 2)), [])
    return rec.with_unlabelled(unlabelled)


def test_teacher_regions_are_in_original_pixels_per_source_and_image(tmp_path):
    # a 96x64 image: letterboxed into 48x32 at scale 0.5, so the cell box [0, 0, 24, 24] (cell (1, 1) grown by
    # one cell) is [0, 0, 48, 48] in the original
    rec = _record(tmp_path)
    partial = {"gtsdb": ["b"], "lights": ["a", "c"]}
    table = teacher_ignore_regions(_Teacher(), {"gtsdb": [rec], "lights": [rec]}, partial.get, threshold=0.5)
    assert table == {"gtsdb/a.png": [[0.0, 0.0, 48.0, 48.0]], "lights/a.png": []}


def test_a_class_the_image_labels_makes_no_region(tmp_path):
    # the same sure "b" cell: an image that leaves "b" unlabelled gets a region; one that labels "b" (a
    # checked image of added labels: "b" not in its unlabelled) gets none
    none = lambda source: ()  # noqa: E731
    unlabelled_b = teacher_ignore_regions(
        _Teacher(), {"gtsdb": [_record(tmp_path, (2,))]}, none, threshold=0.5
    )
    labelled_b = teacher_ignore_regions(
        _Teacher(), {"gtsdb": [_record(tmp_path, (1, 3))]}, none, threshold=0.5
    )
    assert unlabelled_b == {"gtsdb/a.png": [[0.0, 0.0, 48.0, 48.0]]}
    assert labelled_b == {"gtsdb/a.png": []}


def test_regions_on_the_vehicle_mask_are_dropped(tmp_path):
    # the region [0, 0, 48, 48] of a 96x64 image has its centre at (24, 24) = (0.25, 0.375) of the frame
    rec = _record(tmp_path, (2,))
    none = lambda source: ()  # noqa: E731
    covering = {"gtsdb": ((0.2, 0.3), (0.3, 0.3), (0.3, 0.45), (0.2, 0.45))}
    beside = {"gtsdb": ((0.3, 0.3), (0.4, 0.3), (0.4, 0.45), (0.3, 0.45))}
    masked = teacher_ignore_regions(_Teacher(), {"gtsdb": [rec]}, none, threshold=0.5, vehicle_masks=covering)
    kept = teacher_ignore_regions(_Teacher(), {"gtsdb": [rec]}, none, threshold=0.5, vehicle_masks=beside)
    assert masked == {"gtsdb/a.png": []}
    assert kept == {"gtsdb/a.png": [[0.0, 0.0, 48.0, 48.0]]}
