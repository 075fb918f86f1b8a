"""How well the per-class display thresholds carry to unseen frames: a two-fold check on the real splits.

    python benchmarks/diagnostics/threshold_xval.py          # android_demo_assets/model_int8.tflite

Each real validation split (keras_lmk/data/sources.py) is cut into two blocks (GTSDB 00500-00549 /
00550-00599, marking frames 1001-1050 / 1051-1100, the first / last half of the light photos with all copies
of a photo together). The thresholds are calibrated on one block of every source pooled (as
``demo_assets --calibrate-on`` does: best F1, pooled and per class) and the operating point is measured on
the same block and on the other; then the blocks swap. A threshold that holds on the other block is one to
trust on held-out data. Each row also gives every labelled class's recall at that point.

    python benchmarks/diagnostics/threshold_xval.py --model KIT/model_int8.tflite --one-threshold
    python benchmarks/diagnostics/threshold_xval.py --model KIT/model_int8.tflite --fixed 0.5

``--one-threshold`` calibrates the pooled threshold only (one for every class); ``--fixed T`` fits nothing
and measures one threshold T for every class on both blocks. Writes benchmarks/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SOURCES = ("gtsdb", "markings", "lights")


def halves(taxonomy):
    """{0: {source: records}, 1: {...}}: the two blocks of each source's validation split."""
    from keras_lmk.data.sources import LOADERS, number_of, photo_of
    from keras_lmk.training.config import DataConfig

    out = {0: {}, 1: {}}
    for s in SOURCES:
        val = LOADERS[s](DataConfig(), taxonomy)[1]
        if s == "lights":
            photos = sorted({photo_of(r.image_path) for r in val})
            first = set(photos[: len(photos) // 2])
            block = [0 if photo_of(r.image_path) in first else 1 for r in val]
        else:
            nums = sorted(number_of(r.image_path) for r in val)
            block = [0 if number_of(r.image_path) < nums[len(nums) // 2] else 1 for r in val]
        for h in (0, 1):
            out[h][s] = [r for r, b in zip(val, block, strict=True) if b == h]
    return out


def main(argv=None) -> int:
    from keras_lmk.data.coco import write_coco
    from keras_lmk.detector.card import load_model_card
    from keras_lmk.evaluation.calibration import calibrate_card, named
    from keras_lmk.evaluation.evaluate import run
    from keras_lmk.evaluation.matching import tolerances_with_primary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--name", default="threshold_xval", help="results file stem in benchmarks/results/")
    ap.add_argument("--one-threshold", action="store_true", help="calibrate one pooled threshold only")
    ap.add_argument("--fixed", type=float, help="no calibration: this threshold for every class")
    args = ap.parse_args(argv)
    model = Path(args.model)
    taxonomy = load_model_card(model).taxonomy
    blocks = halves(taxonomy)

    rows, thresholds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for cal in (0, 1):
            kit = tmp / f"cal{cal}"
            kit.mkdir()
            shutil.copy(model, kit / model.name)
            shutil.copy(model.with_suffix(".json"), kit / model.with_suffix(".json").name)
            pooled = write_coco(
                [r for s in SOURCES for r in blocks[cal][s]], taxonomy, tmp / f"block{cal}.json"
            )
            if args.fixed is None:
                point = calibrate_card(
                    kit / model.with_suffix(".json").name,
                    run(kit / model.name, pooled, tmp / "e", progress=False),
                    per_class=not args.one_threshold,
                )
                thresholds[cal] = {
                    "pooled": point["threshold"],
                    **named(point.get("class_thresholds"), list(taxonomy.names)),
                }
            else:
                thresholds[cal] = {"pooled": args.fixed}
            for test in (cal, 1 - cal):
                for s in SOURCES:
                    primary = "10px" if s == "markings" else "adaptive"
                    data = write_coco(blocks[test][s], taxonomy, tmp / f"{s}{test}.json")
                    m = run(
                        kit / model.name,
                        data,
                        tmp / "e",
                        score_threshold=args.fixed,
                        progress=False,
                        tolerances=tolerances_with_primary(primary),
                    )
                    t = m["tolerances"][primary]
                    rows.append(
                        {
                            "calibrated_on": cal,
                            "measured_on": "same block" if test == cal else "other block",
                            "source": s,
                            "recall": t["recall"],
                            "precision": t["precision"],
                            "false_per_frame": sum(c["fp"] for c in t["per_class"].values()) / m["frames"],
                            "class_recall": {
                                k: c["recall"] for k, c in t["per_class"].items() if c["num_gt"]
                            },
                        }
                    )
    res = REPO / "benchmarks" / "results"
    (res / f"{args.name}.json").write_text(
        json.dumps({"thresholds": thresholds, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        f"# {args.name}: {model.name}, thresholds calibrated on one block of the real splits",
        "",
        *(f"- block {c}: " + ", ".join(f"{k} {v:g}" for k, v in th.items()) for c, th in thresholds.items()),
        "",
        "| calibrated on | measured on | source | recall (markings: found within 10 px) | precision "
        "| false det./frame | recall per class |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| block {r['calibrated_on']} | {r['measured_on']} | {r['source']} | {r['recall']:.3f} | "
            f"{r['precision']:.3f} | {r['false_per_frame']:.2f} | "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["class_recall"].items())
            + " |"
            for r in rows
        ),
    ]
    (res / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
