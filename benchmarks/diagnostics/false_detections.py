"""What a model fires on where nothing is labelled: the unmatched detections of one real validation split.

    python benchmarks/diagnostics/false_detections.py                      # shipped int8, GTSDB, score >= 0.7
    python benchmarks/diagnostics/false_detections.py --model runs/real/model.keras --source lights \
        --min-score 0.5 \
        --figure /tmp/fp_lights.png --csv /tmp/fp_lights.csv

Decodes each image of a fixed validation split (``keras_lmk/data/sources.py``) with one threshold,
``--min-score``, for every class (the card's per-class thresholds dropped; its lit-lamp refinement kept),
matches the detections to the labels one-to-one at the adaptive tolerance max(4 px, 0.5 sqrt(area)) as the
evaluation does, and keeps the detections that match nothing, are of a class the source labels, and lie in
no ignore region: the detections the evaluation counts as false. Prints how many per class and score band;
``--figure`` tiles crops around them (most confident first; the green ring is the predicted point), ``--csv``
lists them. Telling a real but unlabelled landmark from a genuine mistake is left to the eye. A diagnostic,
not a bar.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CROP, ZOOM, COLUMNS = 100, 1.6, 8
BANDS = (0.5, 0.7, 0.8, 0.9, 0.95)


def unmatched(model: Path, source: str, min_score: float) -> list[dict]:
    """One dict per false detection: image, class name, score, x, y (original pixels)."""
    from keras_lmk.data.frames import require_image_rgb
    from keras_lmk.data.sources import LOADERS
    from keras_lmk.evaluation.matching import Tolerance, match_greedy
    from keras_lmk.evaluation.metrics import on_ignore_region
    from keras_lmk.inference.runtime import open_runner, with_threshold
    from keras_lmk.training.config import DataConfig

    runner = open_runner(model)
    decoder = with_threshold(runner.decoder, min_score)
    _, val = LOADERS[source](DataConfig(), runner.taxonomy)
    out = []
    for rec in val:
        rgb = require_image_rgb(rec.image_path)
        dets = runner.predict_frame(rgb, decoder)
        radii = Tolerance("adaptive").radii(rec.boxes)
        match, _ = match_greedy(dets.points, dets.scores, dets.classes, rec.points, rec.classes, radii)
        ignored = on_ignore_region(dets.points, rec.ignore_boxes, rec.points, radii)
        for i in np.flatnonzero(np.asarray(match) < 0):
            (x, y), c = dets.points[i], int(dets.classes[i])
            if c in rec.unlabelled or ignored[i]:  # what the evaluation does not count as false
                continue
            out.append(
                dict(
                    image=rec.image_path,
                    cls=runner.taxonomy.names[c],
                    score=float(dets.scores[i]),
                    x=float(x),
                    y=float(y),
                )
            )
    return sorted(out, key=lambda d: -d["score"])


def tile(found: list[dict], path: str, max_tiles: int) -> None:
    import cv2

    half, size = CROP // 2, int(CROP * ZOOM)
    tiles = []
    for k, d in enumerate(found[:max_tiles]):
        bgr = cv2.imread(d["image"])
        pad = cv2.copyMakeBorder(bgr, half, half, half, half, cv2.BORDER_CONSTANT)
        x, y = int(round(d["x"])), int(round(d["y"]))
        crop = cv2.resize(pad[y : y + CROP, x : x + CROP], (size, size), interpolation=cv2.INTER_NEAREST)
        cv2.circle(crop, (size // 2, size // 2), 4, (0, 255, 0), 1)
        label = f"{k} {d['cls'][:4]} {d['score']:.2f}"
        cv2.putText(crop, label, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
        tiles.append(crop)
    if not tiles:
        return
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % COLUMNS)
    rows = [np.hstack(tiles[r : r + COLUMNS]) for r in range(0, len(tiles), COLUMNS)]
    cv2.imwrite(path, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 75])  # ignored for .png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--source", choices=("gtsdb", "markings", "lights"), default="gtsdb")
    ap.add_argument("--min-score", type=float, default=0.7, help="one decoder threshold for every class")
    ap.add_argument("--figure", default="", help="write crops around the false detections here (.png/.jpg)")
    ap.add_argument("--max-tiles", type=int, default=96)
    ap.add_argument("--csv", default="", help="write the false detections here")
    args = ap.parse_args(argv)

    found = unmatched(Path(args.model), args.source, args.min_score)
    print(f"{args.source}: {len(found)} false detections scoring >= {args.min_score}")
    names = sorted({d["cls"] for d in found})
    bands = [b for b in BANDS if b >= args.min_score] or [args.min_score]
    print(f"{'class':14s}" + "".join(f"  >= {b:<5}" for b in bands))
    for name in names:
        scores = np.array([d["score"] for d in found if d["cls"] == name])
        print(f"{name:14s}" + "".join(f"  {int(np.sum(scores >= b)):8d}" for b in bands))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["image", "cls", "score", "x", "y"])
            w.writeheader()
            w.writerows(found)
    if args.figure:
        tile(found, args.figure, args.max_tiles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
