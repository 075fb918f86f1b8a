"""Where a model's points miss, per real source: the signed error of each matched detection, along x and y.

    python benchmarks/diagnostics/point_error_axes.py  # android_demo_assets/model_int8.tflite
    python benchmarks/diagnostics/point_error_axes.py --model runs/real/model.keras --sources lights \
        --radius 16

Each labelled landmark of a validation split (the fixed splits of ``keras_lmk/data/sources.py``) takes the
nearest detection of its class at the model card's operating threshold within ``--radius`` original pixels
(one-to-one, most confident first, as the evaluation matches). Prints, per source: landmarks matched, median
box width and height, median signed error (dx, dy) (a bias: a label convention the model learnt differently),
median |dx| and |dy| (which axis the error lives on), and the share of matches within the adaptive tolerance
max(4 px, 0.5 sqrt(area)) and within 8 px. A diagnostic, not a bar.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def signed_errors(model: Path, source: str, radius: float) -> dict:
    import cv2

    from keras_lmk.data.sources import LOADERS
    from keras_lmk.detector.card import load_model_card
    from keras_lmk.evaluation.matching import Tolerance, match_greedy
    from keras_lmk.inference.runtime import open_runner
    from keras_lmk.training.config import DataConfig

    runner = open_runner(model)
    _, val = LOADERS[source](DataConfig(), load_model_card(model).taxonomy)
    err, size, adaptive = [], [], []
    for rec in val:
        bgr = cv2.imread(rec.image_path)
        if bgr is None:
            raise FileNotFoundError(f"{rec.image_path}: cannot read the image")
        dets = runner.predict_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        gt_radius = Tolerance("adaptive").radii(rec.boxes)
        match, _ = match_greedy(
            dets.points, dets.scores, dets.classes, rec.points, rec.classes, np.full(len(rec.points), radius)
        )
        for i, j in enumerate(match):
            if j >= 0:
                err.append(dets.points[i] - rec.points[j])
                size.append(rec.boxes[j, 2:] - rec.boxes[j, :2])
                adaptive.append(gt_radius[j])
    e, s, a = np.asarray(err).reshape(-1, 2), np.asarray(size).reshape(-1, 2), np.asarray(adaptive)
    d = np.hypot(e[:, 0], e[:, 1])
    return {
        "landmarks": int(sum(len(r.points) for r in val)),
        "matched": len(e),
        "box_wh": np.median(s, axis=0) if len(s) else (np.nan, np.nan),
        "median_dxdy": np.median(e, axis=0) if len(e) else (np.nan, np.nan),
        "median_abs_dxdy": np.median(np.abs(e), axis=0) if len(e) else (np.nan, np.nan),
        "within_adaptive": float(np.mean(d <= a)) if len(e) else np.nan,
        "within_8px": float(np.mean(d <= 8)) if len(e) else np.nan,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--sources", nargs="+", default=["gtsdb", "markings", "lights"])
    ap.add_argument("--radius", type=float, default=16.0, help="match radius, original pixels")
    args = ap.parse_args(argv)
    print(
        f"{'source':9s} matched/labelled  box w x h px  median dx, dy px  median |dx|, |dy| px  "
        f"within adaptive  within 8 px"
    )
    for source in args.sources:
        r = signed_errors(Path(args.model), source, args.radius)
        print(
            f"{source:9s} {r['matched']:4d}/{r['landmarks']:<4d}        "
            f"{r['box_wh'][0]:5.1f} x {r['box_wh'][1]:<5.1f}  "
            f"{r['median_dxdy'][0]:+6.2f}, {r['median_dxdy'][1]:+6.2f}    "
            f"{r['median_abs_dxdy'][0]:6.2f}, {r['median_abs_dxdy'][1]:6.2f}          "
            f"{100 * r['within_adaptive']:5.1f} %          {100 * r['within_8px']:5.1f} %",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
