"""The pipeline section of the config: checked values, the training grid, no TensorFlow."""

import subprocess
import sys

import pytest

from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.augment_config import AugmentConfig
from keras_lmk.training.pipeline_config import PipelineConfig


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"point_radius": 0.0}, "point_radius"),
        ({"crop_focus": 1.5}, "crop_focus"),
        ({"train_crop": (0, 64)}, "train_crop"),
    ],
)
def test_impossible_values_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        PipelineConfig(**bad)


def test_train_spec_is_the_crop():
    spec = GridSpec(input_width=128, input_height=64)
    assert PipelineConfig().train_spec(spec) is spec
    crop = PipelineConfig(train_crop=[64, 32]).train_spec(spec)  # a YAML list becomes a tuple
    assert (crop.input_width, crop.input_height, crop.stride) == (64, 32, spec.stride)
    with pytest.raises(ValueError, match="exceeds"):
        PipelineConfig(train_crop=(256, 64)).train_spec(spec)


def test_augment_section_is_nested():
    assert PipelineConfig().augment == AugmentConfig()


def test_imports_without_tensorflow():
    # configs are read and checked before TensorFlow starts (a typo answers at once)
    code = "import sys, keras_lmk.training.pipeline_config; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"
