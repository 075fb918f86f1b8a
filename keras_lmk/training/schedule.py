"""The learning-rate schedule: linear warm-up, then cosine decay to ``alpha`` x the peak.

Numerically the same as ``keras.optimizers.schedules.CosineDecay(initial, decay_steps, alpha,
warmup_target=peak, warmup_steps=w)``, but written with ``ops.where`` instead of a ``cond``: Keras evaluates
the schedule once per variable when it applies gradients and weight decay (about 250 times per step for this
model), and each ``cond`` traces two sub-graphs, which made tracing a training step take ~30 s on 2 CPU
cores.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lmk")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial: float, peak: float, warmup_steps: int, decay_steps: int, alpha: float = 0.0):
        self.initial = float(initial)
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = int(decay_steps)
        self.alpha = float(alpha)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        w, d = float(self.warmup_steps), float(max(1, self.decay_steps))
        warm = self.initial + (self.peak - self.initial) * step / max(w, 1.0)
        done = ops.minimum(ops.maximum(step - w, 0.0), d) / d
        cosine = 0.5 * (1.0 + ops.cos(math.pi * done))
        decayed = self.peak * ((1.0 - self.alpha) * cosine + self.alpha)
        return ops.where(step < w, warm, decayed)

    def get_config(self) -> dict:
        return {
            "initial": self.initial,
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
        }
