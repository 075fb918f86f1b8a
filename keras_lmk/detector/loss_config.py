"""The ``loss`` section of the training config, free of TensorFlow so that configs load and fail fast.

The loss itself (and what each field means) is :mod:`keras_lmk.detector.losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("eq1", "eq5", "eq6", "eq7")


@dataclass(frozen=True)
class LossConfig:
    """The ``loss`` section of the training config; fields as in
    :func:`keras_lmk.detector.losses.landmark_loss_terms`."""

    variant: str = "eq1"
    lam: float = 1.0
    top_k: int | None = None
    conf_threshold: float | None = None
    # class first: the localisation term (and conf_threshold) starts once the landmark-cell accuracy of
    # recent batches reaches this value; None = from the first step
    loc_start_accuracy: float | None = None

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown loss variant {self.variant!r}; expected one of {VARIANTS}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {self.top_k}")
        if self.loc_start_accuracy is not None and not 0 <= self.loc_start_accuracy <= 1:
            raise ValueError(f"loc_start_accuracy must be in [0, 1] or None, got {self.loc_start_accuracy}")
