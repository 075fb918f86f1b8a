"""The augmentation section of the config: checked values, no TensorFlow."""

import subprocess
import sys

import pytest

from keras_lmk.training.augment_config import AugmentConfig


@pytest.mark.parametrize(
    "bad", [{"zoom_min": 1.5, "zoom_max": 1.0}, {"zoom_min": 0.0}, {"hflip_prob": 2.0}, {"hue": 0.6}]
)
def test_impossible_values_are_refused(bad):
    with pytest.raises(ValueError):
        AugmentConfig(**bad)


def test_imports_without_tensorflow():
    # configs are read and checked before TensorFlow starts (a typo answers at once)
    code = "import sys, keras_lmk.training.augment_config; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"
