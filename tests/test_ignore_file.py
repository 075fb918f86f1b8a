"""The ignore-region file: a teacher's regions per source and image, written and read back."""

import json

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.sources import read_ignore_file
from keras_lmk.detector.grid import GridSpec

SPEC = GridSpec(input_height=32, input_width=48, stride=8, num_classes=4)


def test_written_ignore_files_read_back_box_for_box(tmp_path):
    from keras_lmk.inference.ignore_file import write_ignore_file

    table = {
        "gtsdb/b.jpg": [[1.5, 2.0, 3.0, 4.25]],
        "gtsdb/a.jpg": [],
        "lights/x.jpg": [[0, 0, 9, 9], [5, 5, 6, 7]],
    }
    path = tmp_path / "out.json"
    write_ignore_file(path, table, teacher="t.tflite", threshold=0.8, classes={"gtsdb": ["signal"]})
    back = read_ignore_file(path)
    assert sorted(back) == ["gtsdb/a.jpg", "gtsdb/b.jpg", "lights/x.jpg"]
    np.testing.assert_array_equal(back["gtsdb/b.jpg"], [[1.5, 2.0, 3.0, 4.25]])
    np.testing.assert_array_equal(back["lights/x.jpg"], [[0, 0, 9, 9], [5, 5, 6, 7]])
    assert back["gtsdb/a.jpg"].shape == (0, 4)
    doc = json.loads(path.read_text())
    assert (
        doc["teacher"] == "t.tflite" and doc["threshold"] == 0.8 and doc["classes"] == {"gtsdb": ["signal"]}
    )


class _Teacher:
    """A stand-in runner: class 2 sure in cell (row 1, col 1) of SPEC, background everywhere else."""

    spec = SPEC

    class taxonomy:  # noqa: N801 - the attribute a runner has
        @staticmethod
        def class_id(name):
            return {"a": 1, "b": 2, "c": 3}[name]

    def infer_frame(self, rgb):
        from keras_lmk.detector.letterbox import letterbox_image

        _, lb = letterbox_image(rgb, SPEC.input_width, SPEC.input_height)
        logits = np.zeros((SPEC.num_cells, 2, 4), np.float32)
        logits[..., 0] = 9.0
        logits[1 * SPEC.grid_w + 1, :, 2] = 20.0
        return logits, None, lb


def test_teacher_regions_are_in_original_pixels_per_source_and_image(tmp_path):
    import cv2

    from keras_lmk.inference.ignore_file import teacher_ignore_regions

    # a 96x64 image: letterboxed into 48x32 at scale 0.5, so the cell box [0, 0, 24, 24] (cell (1, 1) grown by
    # one cell) is [0, 0, 48, 48] in the original
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 96, 3), np.uint8))
    rec = ImageRecord(str(tmp_path / "a.png"), 96, 64, np.zeros((0, 4)), np.zeros((0, 2)), [])
    names = {"gtsdb": ["b"], "lights": ["a", "c"]}
    table = teacher_ignore_regions(_Teacher(), {"gtsdb": [rec], "lights": [rec]}, names.get, threshold=0.5)
    assert table == {"gtsdb/a.png": [[0.0, 0.0, 48.0, 48.0]], "lights/a.png": []}
