"""Class-agnostic sign point-AP: every sign class (warning, regulatory, indicating, auxiliary) scored as one.

    python benchmarks/diagnostics/class_agnostic_signs.py --model KIT/model_int8.tflite \
        --sources kr_streets gtsdb

Issue 36 checks the Korean photos this way ("class-agnostic sign point-AP >= 0.6"): a sign found at the right
point counts whatever sign class the model gave it. The predictions and the labels of the four sign classes
are relabelled to one class before the usual scoring (keras_lmk.evaluation.metrics.PointEvaluator, adaptive
radius, the same split as benchmarks/bench_real.py), so the AP printed under "warning" is the class-agnostic
sign AP. Lights and road markings keep their classes. Also printed: the per-class sign AP and recall at the
operating threshold (the card's, or --score-threshold) without the relabelling, for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SIGNS = ("warning", "regulatory", "indicating", "auxiliary")


def one_sign_class(classes: np.ndarray, sign_ids: list[int]) -> np.ndarray:
    """``classes`` with every sign class id replaced by the first one (warning's)."""
    out = np.asarray(classes).copy()
    out[np.isin(out, sign_ids)] = sign_ids[0]
    return out


def main(argv=None) -> int:
    from bench_real import validation_records

    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.evaluation.evaluate import curve_config
    from keras_lmk.evaluation.matching import tolerances_with_primary
    from keras_lmk.evaluation.metrics import PointEvaluator
    from keras_lmk.inference.runtime import open_runner, with_threshold

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--score-threshold", type=float, help="one threshold, every class (default: the card)")
    ap.add_argument("--sources", nargs="+", default=["kr_streets", "gtsdb"])
    args = ap.parse_args(argv)
    runner = open_runner(args.model)
    tax = runner.taxonomy
    op_cfg = with_threshold(runner.decoder, args.score_threshold)
    op_thr = op_cfg.class_thresholds(tax.num_classes)
    curve_cfg = curve_config(op_cfg, 0.05, tax.num_classes)
    sign_ids = [tax.names.index(n) for n in SIGNS]
    for source in args.sources:
        val = validation_records(source, tax)
        if any(set(sign_ids) & set(rec.unlabelled) for rec in val):
            print(f"{source}: skipped, some frames leave a sign class unlabelled (all four are needed)")
            continue
        evs = {
            kind: PointEvaluator(tax, tolerances_with_primary("adaptive"), op_thr)
            for kind in ("per_class", "agnostic")
        }
        for rec in val:
            rgb = read_image_rgb(rec.image_path)
            size = (rgb.shape[1], rgb.shape[0])
            logits, points, lb = runner.infer_frame(rgb)
            op = runner.refine(runner.decode(logits, points, lb, size, op_cfg), rgb)
            curve = runner.refine(runner.decode(logits, points, lb, size, curve_cfg), rgb)
            for kind, ev in evs.items():
                remap = (lambda c: one_sign_class(c, sign_ids)) if kind == "agnostic" else np.asarray
                ev.add_frame(
                    rec.points,
                    remap(rec.classes),
                    rec.boxes,
                    curve.points,
                    remap(curve.classes),
                    curve.scores,
                    op_points=op.points,
                    op_classes=remap(op.classes),
                    op_scores=op.scores,
                    ignore_boxes=rec.ignore_boxes,
                    unlabelled=rec.unlabelled,
                )
        per, agn = (evs[k].summary() for k in ("per_class", "agnostic"))
        tol = per["primary_tolerance"]
        n_gt = per["num_gt"]
        print(f"{source} ({len(val)} frames):")
        for name in SIGNS:
            if not n_gt.get(name):
                continue
            c = per["tolerances"][tol]["per_class"][name]
            print(
                f"  {name:11s} {n_gt[name]:4d} labelled  AP {c['AP']:.3f}  recall at the operating threshold "
                f"{c['recall']:.2f}  precision {c['precision']:.2f}"
            )
        c = agn["tolerances"][tol]["per_class"]["warning"]
        print(
            f"  any sign    {agn['num_gt'].get('warning', 0):4d} labelled  AP {c['AP']:.3f}  recall at the "
            f"operating threshold {c['recall']:.2f}  precision {c['precision']:.2f}  (class-agnostic)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
