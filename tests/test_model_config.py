"""The model section of the config: checked values, no TensorFlow."""

import subprocess
import sys

import pytest

from keras_lmk.detector.model_config import ModelConfig


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"width": 0.0}, "width"),
        ({"alpha": -1.0}, "alpha"),
        ({"head_channels": 4}, "head_channels"),
        ({"head_depth": -1}, "head_depth"),
        ({"offset_bound": 0.0}, "offset_bound"),
    ],
)
def test_impossible_values_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**bad)


def test_imports_without_tensorflow():
    # configs are read and checked before TensorFlow starts (a typo answers at once)
    code = "import sys, keras_lmk.detector.model_config; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"
