"""Operating thresholds from a held-out evaluation: the score of best F1, pooled and per class.

``evaluate.run`` gives, from one low-threshold decode, the threshold of best pooled F1 over the labelled
classes (``best_f1``) and each labelled class's own (``best_f1_per_class``). A class with at least
``min_landmarks`` held-out landmarks gets its own threshold in the card (``decoder.class_score_thresholds``);
the others, and classes the split does not label, use the pooled one (``decoder.score_threshold``). Classes
differ a lot in how confident a right detection is (on the real splits: signs about 0.95, road markings
about 0.76), so one pooled threshold costs the markings recall and the signs precision.
"""

from __future__ import annotations

import json
from pathlib import Path

from keras_lmk.atomic import atomic_write_json

MIN_LANDMARKS = 5  # fewer held-out landmarks of a class than this: its own best F1 is noise, use the pooled


def class_thresholds(
    metrics: dict, class_names: list[str], min_landmarks: int = MIN_LANDMARKS
) -> list[float | None] | None:
    """Per class id (background first, None), the class's own best-F1 threshold or None (= pooled); None
    when no class qualifies."""
    per_class = metrics.get("best_f1_per_class") or {}
    num_gt = metrics.get("num_gt") or {}
    out: list[float | None] = [None] * len(class_names)
    for c, name in enumerate(class_names):
        best = per_class.get(name)
        if c > 0 and best is not None and best["f1"] > 0 and num_gt.get(name, 0) >= min_landmarks:
            out[c] = float(best["threshold"])
    return out if any(t is not None for t in out) else None


def named(per_class: list[float | None] | None, class_names: list[str]) -> dict[str, float]:
    """{class name: own threshold} of the classes that have one (for people and logs)."""
    return {n: t for n, t in zip(class_names, per_class or [], strict=False) if t is not None}


def set_card_thresholds(card: dict, pooled: float, per_class: list[float | None] | None) -> dict:
    """``card`` (model card JSON) with its decoder's thresholds replaced; per_class None removes them."""
    decoder = dict(card["decoder"], score_threshold=pooled)
    decoder.pop("class_score_thresholds", None)
    if per_class is not None:
        decoder["class_score_thresholds"] = per_class
    return {**card, "decoder": decoder}


def calibrate_card(card_path: str | Path, metrics: dict, per_class: bool = True) -> dict | None:
    """Write the thresholds of ``metrics`` (an ``evaluate.run`` result) into the model card at ``card_path``.

    Returns the operating point (threshold, f1, precision, recall, mAP and, with ``per_class``,
    class_thresholds), or None, leaving the card alone, when the evaluation found nothing (best F1 0 or no
    ground truth): a threshold from there would be noise."""
    best = metrics["best_f1"]
    if best is None or not best["f1"] > 0:
        return None
    card_path = Path(card_path)
    card = json.loads(card_path.read_text())
    own = None
    if per_class:
        own = class_thresholds(metrics, [c["name"] for c in card.get("taxonomy", {}).get("classes", [])])
    atomic_write_json(card_path, set_card_thresholds(card, best["threshold"], own))
    out = {**best, "mAP": metrics["tolerances"][metrics["primary_tolerance"]]["mAP"]}
    if own is not None:
        out["class_thresholds"] = own
    return out
