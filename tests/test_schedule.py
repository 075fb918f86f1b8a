"""The learning-rate schedule against the hand-written formula and Keras's CosineDecay with warm-up."""

import math

import keras
import numpy as np
import pytest

from keras_lmk.training.schedule import WarmupCosine


def reference(step, initial, peak, warmup, decay, alpha):
    if step < warmup:
        return initial + (peak - initial) * step / warmup
    done = min(step - warmup, decay) / decay
    return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)


@pytest.mark.parametrize("warmup", [0, 50])
def test_warmup_cosine_matches_the_formula_and_keras(warmup):
    s = WarmupCosine(initial=7.5e-5, peak=1.5e-3, warmup_steps=warmup, decay_steps=950, alpha=0.02)
    k = keras.optimizers.schedules.CosineDecay(
        7.5e-5, 950, alpha=0.02, warmup_target=1.5e-3, warmup_steps=warmup
    )
    for step in (0, 1, 25, 49, 50, 51, 300, 999, 1000, 1500):
        want = reference(step, 7.5e-5, 1.5e-3, warmup, 950, 0.02)
        assert float(s(step)) == pytest.approx(want, rel=1e-5)
        if warmup or step:  # Keras without warm-up starts at its own initial rate, the same formula here
            assert float(s(step)) == pytest.approx(float(k(step)), rel=1e-5)


def test_warmup_cosine_round_trips_through_its_config():
    s = WarmupCosine(1e-4, 2e-3, 10, 90, 0.1)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert np.isclose(float(again(42)), float(s(42)))
