"""How confidently models find each labelled landmark of a real split (small signs by default): a diagnostic.

    python benchmarks/diagnostics/sign_scores.py --model OLD.tflite \
        --model android_demo_assets/model_int8.tflite
    python benchmarks/diagnostics/sign_scores.py --max-width 30 --source gtsdb --md /tmp/small_signs.md

For every labelled landmark no wider than ``--max-width`` px (original image) of one validation split, the
best score any detection of the landmark's own class reaches within the evaluation's adaptive tolerance
max(4 px, 0.5 sqrt(area)), decoded with one low threshold (0.05, the card's per-class thresholds dropped; its
refinement kept); 0 where there is none. With two models it counts the landmarks whose score rose and fell.
mAP moves by whole landmarks crossing other detections' scores; these scores show whether a change lifts the
small signs it was aimed at.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FLOOR = 0.05


def own_class_scores(model: str, source: str, max_width: float) -> list[tuple[str, str, float, float]]:
    """(image name, class name, box width px, best own-class score) per landmark no wider than max_width."""
    from keras_lmk.data.frames import require_image_rgb
    from keras_lmk.data.sources import LOADERS
    from keras_lmk.evaluation.matching import Tolerance
    from keras_lmk.inference.runtime import open_runner, with_threshold
    from keras_lmk.training.config import DataConfig

    runner = open_runner(model)
    decoder = with_threshold(runner.decoder, FLOOR)
    _, val = LOADERS[source](DataConfig(), runner.taxonomy)
    rows = []
    for rec in val:
        widths = rec.boxes[:, 2] - rec.boxes[:, 0]
        wanted = np.flatnonzero(widths <= max_width)
        if not len(wanted):
            continue
        rgb = require_image_rgb(rec.image_path)
        dets = runner.predict_frame(rgb, decoder)
        radii = Tolerance("adaptive").radii(rec.boxes)
        for i in wanted:
            near = np.linalg.norm(dets.points - rec.points[i], axis=1) <= radii[i]
            same = near & (dets.classes == rec.classes[i])
            best = float(dets.scores[same].max()) if same.any() else 0.0
            name = runner.taxonomy.names[int(rec.classes[i])]
            rows.append((Path(rec.image_path).name, name, float(widths[i]), best))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="model (.tflite/.keras); at most two")
    ap.add_argument("--source", default="gtsdb", help="fixed validation split (data/sources.py)")
    ap.add_argument("--max-width", type=float, default=30.0, help="landmarks at most this wide (px)")
    ap.add_argument("--md", help="also write the table here")
    args = ap.parse_args(argv)
    models = args.model or [str(REPO / "android_demo_assets" / "model_int8.tflite")]
    if len(models) > 2:
        ap.error("at most two --model")
    runs = [own_class_scores(m, args.source, args.max_width) for m in models]
    names = " | ".join(f"{Path(m).parent.name}/{Path(m).name}" for m in models)
    lines = [f"| image | class | width px | {names} |", "|---|---|---|" + "---|" * len(models)]
    for cols in zip(*runs, strict=True):
        scores = " | ".join(f"{c[3]:.2f}" for c in cols)
        lines.append(f"| {cols[0][0]} | {cols[0][1]} | {cols[0][2]:.0f} | {scores} |")
    summary = f"{len(runs[0])} landmarks <= {args.max_width:g} px on {args.source}"
    for m, rows in zip(models, runs, strict=True):
        scores = np.array([r[3] for r in rows])
        summary += f"; {m}: median {np.median(scores):.2f}, none {int((scores == 0).sum())}"
    if len(runs) == 2:
        a, b = np.array([r[3] for r in runs[0]]), np.array([r[3] for r in runs[1]])
        summary += f"; second vs first: rose {int((b > a + 0.005).sum())}, fell {int((b < a - 0.005).sum())}"
    text = "\n".join(lines) + "\n\n" + summary + "\n"
    print(text)
    if args.md:
        Path(args.md).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
