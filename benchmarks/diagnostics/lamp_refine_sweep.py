"""How the lit-lamp refinement of light points (keras_lmk/detector/lamp_refine.py) moves the lights' AP.

    python benchmarks/diagnostics/lamp_refine_sweep.py  # android_demo_assets/model_int8.tflite
    python benchmarks/diagnostics/lamp_refine_sweep.py --model /tmp/kit/model_int8.tflite --train-every 2

Decodes the light photos of the fixed validation split once (the card's decoder, its vote threshold as the
curve's floor), then scores signal point-AP at the adaptive tolerance without refinement and with each
setting of a grid (box_px x min_gain x min_lit), on the whole split and on its two halves (first and second
half of the photos, all copies of a photo on one side). Two-fold check: the best setting of one half,
scored on the other. ``--train-every N`` also scores the default setting on every N-th photo of the
*training* split (photos the model was trained on, against their published labels): a set the settings were
not chosen on. Any lamp_refine section in the model's card is ignored here. A diagnostic, not a bar.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

BOXES, GAINS, LITS = (5.0, 6.0, 7.0, 8.0, 9.0), (1.25, 1.5, 2.0), (0.1, 0.15, 0.2, 0.3)


def decoded(runner, records) -> list[tuple]:
    from keras_lmk.data.frames import require_image_rgb
    from keras_lmk.evaluation.evaluate import curve_config

    cfg = curve_config(runner.decoder, 0.05, runner.taxonomy.num_classes)
    out = []
    for rec in records:
        rgb = require_image_rgb(rec.image_path)
        logits, points, lb = runner.infer_frame(rgb)
        out.append((rec, rgb, runner.decode(logits, points, lb, (rec.width, rec.height), cfg)))
    return out


def signal_ap(runner, frames, refine) -> float:
    from keras_lmk.detector.lamp_refine import refine_lamp_points
    from keras_lmk.evaluation.metrics import PointEvaluator

    ev = PointEvaluator(runner.taxonomy)
    for rec, rgb, dets in frames:
        if refine is not None:
            dets = refine_lamp_points(rgb, dets, runner.taxonomy, refine)
        ev.add_frame(
            rec.points,
            rec.classes,
            rec.boxes,
            dets.points,
            dets.classes,
            dets.scores,
            ignore_boxes=rec.ignore_boxes,
            unlabelled=rec.unlabelled,
        )
    return ev.summary()["tolerances"]["adaptive"]["per_class"]["signal"]["AP"]


def main(argv=None) -> int:
    from keras_lmk.data.sources import LOADERS
    from keras_lmk.detector.lamp_refine import LampRefineConfig
    from keras_lmk.inference.runtime import open_runner
    from keras_lmk.training.config import DataConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--train-every", type=int, default=0, help="also score every N-th training photo (0: no)")
    args = ap.parse_args(argv)

    runner = open_runner(args.model)
    train, val = LOADERS["lights"](DataConfig(), runner.taxonomy)
    frames = decoded(runner, val)
    half = len(frames) // 2  # the split keeps a photo's copies together and in order: halves do too
    parts = {"all": frames, "half 1": frames[:half], "half 2": frames[half:]}
    base = {k: signal_ap(runner, v, None) for k, v in parts.items()}
    print(f"{len(frames)} validation frames; signal point-AP without refinement: " + _fmt(base))
    grid = [
        LampRefineConfig(box_px=b, min_gain=g, min_lit=m) for b, g, m in itertools.product(BOXES, GAINS, LITS)
    ]
    scores = {cfg: {k: signal_ap(runner, v, cfg) for k, v in parts.items()} for cfg in grid}
    default = LampRefineConfig()
    print(
        f"default (box {default.box_px:g}, gain {default.min_gain:g}, lit {default.min_lit:g}): "
        f"{_fmt(scores[default])}"
    )
    print("best ten on all validation frames:")
    for cfg in sorted(grid, key=lambda c: -scores[c]["all"])[:10]:
        print(f"  box {cfg.box_px:g} gain {cfg.min_gain:g} lit {cfg.min_lit:g}: {_fmt(scores[cfg])}")
    for tuned, other in (("half 1", "half 2"), ("half 2", "half 1")):
        best = max(grid, key=lambda c: scores[c][tuned])
        print(
            f"chosen on {tuned} (box {best.box_px:g}, gain {best.min_gain:g}, lit {best.min_lit:g}): {other} "
            f"{base[other]:.3f} -> {scores[best][other]:.3f}"
        )
    if args.train_every > 0:
        seen = decoded(runner, train[:: args.train_every])
        print(
            f"training photos ({len(seen)}): {signal_ap(runner, seen, None):.3f} -> "
            f"{signal_ap(runner, seen, default):.3f} with the default setting"
        )
    return 0


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


if __name__ == "__main__":
    sys.exit(main())
