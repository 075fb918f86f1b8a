"""Near-duplicates: detections within R px of one labelled landmark, on the fixed real validation splits.

    python benchmarks/diagnostics/near_duplicates.py --model KIT/model_int8.tflite --score-threshold 0.5

For every labelled landmark it counts the detections (any class) whose point lies within --radius original
pixels of its reference point; a landmark with more than one is reported with the classes and scores seen.
A user sees each extra one as a duplicate. Prints per source: landmarks, landmarks with >= 2 detections
near them, and the worst cases.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.data.sources import LOADERS
    from keras_lmk.inference.runtime import open_runner, with_threshold
    from keras_lmk.training.config import DataConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--score-threshold", type=float, help="one threshold, every class (default: the card)")
    ap.add_argument("--radius", type=float, default=25.0, help="original pixels")
    ap.add_argument("--sources", nargs="+", default=["gtsdb", "markings", "lights"])
    args = ap.parse_args(argv)
    runner = open_runner(args.model)
    cfg = with_threshold(runner.decoder, args.score_threshold)
    names = runner.taxonomy.names
    for source in args.sources:
        val = LOADERS[source](DataConfig(), runner.taxonomy)[1]
        n_lm, dup, cases = 0, 0, []
        for rec in val:
            rgb = read_image_rgb(rec.image_path)
            det = runner.predict_frame(rgb, cfg)
            for p in rec.points:
                near = np.flatnonzero(np.hypot(*(det.points - p).T) <= args.radius) if len(det) else []
                n_lm += 1
                if len(near) > 1:
                    dup += 1
                    seen = ", ".join(f"{names[det.classes[i]]} {det.scores[i]:.2f}" for i in near)
                    cases.append(f"{Path(rec.image_path).name} ({p[0]:.0f}, {p[1]:.0f}): {seen}")
        print(f"{source}: {n_lm} landmarks, {dup} with >= 2 detections within {args.radius:g} px", flush=True)
        for c in cases[:8]:
            print("   ", c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
