"""Landmark tracking on generated drives: the tracker's identities and points against the raw detections.

    python benchmarks/bench_tracking.py --model android_demo_assets/model_int8.tflite --threshold 0.5 \\
        --json bench_out/tracking.json --md bench_out/tracking.md

For each drive seed (the 300-frame 640x360 drives of bench_localize.py, generated once into ``--work``) the
model runs once; its detections are then scored raw and through ``keras_lmk.inference.tracking`` with each
tracker setting (TrackerConfig's defaults, and the variants in VARIANTS), against the drive's ground truth
with landmark identities (keras_lmk/evaluation/tracking_metrics.py, matched within ``--tolerance`` px).
Prints one row per setting, summed over the drives: recall, precision, false reports per frame, MOTA, ID
switches (per 100 matches), track recall, mostly tracked, tracks per landmark, median / p90 point error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_localize import DEFAULT_DRIVES, drive_dir  # noqa: E402

VARIANTS = {
    "duplicate_frac 0 (duplicate votes start tracks)": {"duplicate_frac": 0.0},
    "point filter alpha 0.7, beta 0.3": {"alpha": 0.7, "beta": 0.3},
    "min_hits 3": {"min_hits": 3},
    "max_age 6": {"max_age": 6},
}


def score(dets, records, config, tolerance: float, width: int) -> dict:
    """Tracking metrics of one drive: of the tracks (``config``) or, with ``config`` None, of the raw
    detections, each its own identity (identity metrics do not apply), as ``evaluate --track`` scores them."""
    from keras_lmk.detector.decode import Detections
    from keras_lmk.evaluation.tracking_metrics import SequenceTracking
    from keras_lmk.inference.tracking import TrackerConfig

    seq = SequenceTracking(config or TrackerConfig(), tolerance)
    for (_, points, classes, scores), rec in zip(dets, records, strict=True):
        seq.add_frame(rec, Detections(classes, points, scores), width)
    return (seq.tracks if config is not None else seq.raw).summary()


def merge(summaries: list[dict]) -> dict:
    """Frame-weighted means over drives (counts summed)."""
    frames = np.array([s["frames"] for s in summaries], float)

    def mean(key, sub=None):
        v = np.array([np.nan if (s[key] if sub is None else s[key][sub]) is None else
                      (s[key] if sub is None else s[key][sub]) for s in summaries], float)  # fmt: skip
        ok = ~np.isnan(v)
        return float(np.average(v[ok], weights=frames[ok])) if ok.any() else float("nan")

    return {
        "recall": mean("recall"),
        "precision": mean("precision"),
        "false_per_frame": mean("false_per_frame"),
        "mota": mean("mota"),
        "id_switches": int(sum(s["id_switches"] for s in summaries)),
        "id_switches_per_100_matches": mean("id_switches_per_100_matches"),
        "track_recall": mean("track_recall"),
        "mostly_tracked": mean("mostly_tracked"),
        "tracks_per_landmark": mean("tracks_per_landmark"),
        "median_err_px": mean("point_error_px", "median"),
        "p90_err_px": mean("point_error_px", "p90"),
    }


def table(rows: dict) -> str:
    head = (
        "| detections | recall | precision | false/frame | MOTA | ID switches (/100 matches) "
        "| track recall | mostly tracked | tracks/landmark | point err median / p90 px |"
    )
    lines = [head, "|---" * 10 + "|"]
    for name, r in rows.items():
        raw = name == "raw detections"
        ident = "-" if raw else f"{r['id_switches']} ({r['id_switches_per_100_matches']:.1f})"
        tr, mt, tpl = r["track_recall"], r["mostly_tracked"], r["tracks_per_landmark"]
        per = "- | - | -" if raw else f"{tr:.3f} | {mt:.3f} | {tpl:.2f}"
        mota = "-" if raw else f"{r['mota']:.3f}"
        lines.append(
            f"| {name} | {r['recall']:.3f} | {r['precision']:.3f} | {r['false_per_frame']:.2f} | {mota} | "
            f"{ident} | {per} | {r['median_err_px']:.2f} / {r['p90_err_px']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model (.tflite/.keras, model card beside it)")
    ap.add_argument("--drives", type=int, nargs="+", default=list(DEFAULT_DRIVES), help="drive seeds")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=None, help="detector threshold (default: the card's)")
    ap.add_argument("--tolerance", type=float, default=8.0, help="match radius (px)")
    ap.add_argument("--work", default="/tmp/keras_lmk_bench_localize", help="generated drives (reused)")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--md", help="write the table here")
    args = ap.parse_args(argv)

    from keras_lmk.data.coco_reader import CocoReader
    from keras_lmk.geometry.camera import load_camera
    from keras_lmk.inference.tracking import TrackerConfig
    from keras_lmk.localization.inputs import model_detections

    t0 = time.perf_counter()
    settings = {"raw detections": None, "tracked (defaults)": TrackerConfig()}
    settings.update({k: TrackerConfig(**v) for k, v in VARIANTS.items()})
    per_setting: dict[str, list[dict]] = {k: [] for k in settings}
    for ds in args.drives:
        drive = drive_dir(Path(args.work), ds, args.frames)
        camera = load_camera(drive / "camera.json")
        holder: list = []
        dets = list(model_detections(args.model, drive, camera, holder, args.threshold))
        records = list(CocoReader(drive / "annotations.json", holder[0]))
        for name, cfg in settings.items():
            per_setting[name].append(score(dets, records, cfg, args.tolerance, camera.width))
        print(f"drive {ds}: {len(dets)} frames ({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = {name: merge(s) for name, s in per_setting.items()}
    md = table(rows)
    print(md)
    if args.json:
        from keras_lmk.atomic import atomic_write_json

        atomic_write_json(Path(args.json), {"args": vars(args), "rows": rows, "per_drive": per_setting})
    if args.md:
        from keras_lmk.atomic import atomic_write_text

        atomic_write_text(Path(args.md), md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
