"""The loss section of the config: checked values, no TensorFlow."""

import subprocess
import sys

import pytest

from keras_lmk.detector.loss_config import VARIANTS, LossConfig


@pytest.mark.parametrize(
    "bad, match",
    [({"variant": "focal"}, "variant"), ({"top_k": 0}, "top_k"), ({"loc_start_accuracy": 1.5}, "loc_start")],
)
def test_impossible_values_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        LossConfig(**bad)


def test_every_variant_is_accepted():
    assert [LossConfig(variant=v).variant for v in VARIANTS] == ["eq1", "eq5", "eq6", "eq7"]


def test_imports_without_tensorflow():
    # configs are read and checked before TensorFlow starts (a typo answers at once)
    code = "import sys, keras_lmk.detector.loss_config; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"
