"""The shipped detector on the fixed real validation splits, per source, against the product's bars.

    python benchmarks/bench_real.py                                   # android_demo_assets/model_int8.tflite
    python benchmarks/bench_real.py --model runs/real/model.keras --name real_keras
    python benchmarks/bench_real.py --score-threshold 0.4             # another operating point

Splits (fixed before tuning, keras_lmk/data/sources.py): GTSDB images 00500-00599, road-marking frames
1001-1100, the last 15 % of the traffic-light photos (all three copies of a photo on one side). Per source it
runs ``keras_lmk.evaluation.evaluate`` (metrics.json, per-frame CSV and plots under --out/<source>/) and
prints:

- gtsdb: point-mAP at the adaptive tolerance max(4 px, 0.5 sqrt(area)) (bar >= 0.85), mAP at 4 px;
- markings (and markings_street, the street-level split 957-1100): share of labelled markings found within
  10 px at the operating threshold (bar >= 80 %) and the median point error of those (bar <= 4 px);
- lights: signal point-AP at the adaptive tolerance (bar >= 0.60);
- kr_streets: the same light photos' validation scenes with all six classes labelled (the project's own
  labels of signs, plates and road paint, ``data.kr_labels``): point-AP per class (no bar yet);
- gtsdb also: auxiliary-plate point-AP on the project's own plate labels (keras_lmk/data/labels/); the
  sign point-mAP above is the mean over the three sign classes only;
- every source: false detections per frame at the operating threshold, counting only the classes that
  source labels (a prediction of a class the source never annotates is neither right nor wrong). Markings
  label one marking per frame, so their count includes real but unlabelled paint;
- every source: precision and recall per labelled class at the operating threshold, and all detections per
  frame (every class, labelled or not): what a user sees.

Writes benchmarks/results/<name>.json and .md (numbers for docs/results.md and the README).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# evaluation-only sources: a loader and the DataConfig settings it is read with
VARIANTS = {"kr_streets": ("lights", {"kr_labels": "kr_landmarks.csv"})}
BARS = {"gtsdb": 0.85, "markings_found": 0.80, "markings_median_px": 4.0, "lights": 0.60, "auxiliary": 0.60}
SIGNS = ("warning", "regulatory", "indicating")


def _fp_per_frame(s: dict, tol: str) -> float:
    per = s["tolerances"][tol]["per_class"]
    return sum(c["fp"] for c in per.values()) / max(1, s["frames"])


def source_row(s: dict, source: str) -> dict:
    """One source's row of the table from its evaluation summary (``evaluate.run`` or
    ``PointEvaluator.summary``): the numbers this script prints and writes; the peer benchmark
    (benchmarks/peer_yolo/) builds its rows with it too."""
    primary = "10px" if source.startswith("markings") else "adaptive"
    t = s["tolerances"]
    row = {
        "frames": s["frames"],
        "landmarks": sum(s["num_gt"].values()),
        "operating_threshold": s["operating_threshold"],
        "false_detections_per_frame": round(_fp_per_frame(s, primary), 3),
        "frames_per_s": round(s["frames_per_s"], 2),
        "mAP_adaptive": t["adaptive"]["mAP"],
        "mAP_4px": t["4px"]["mAP"],
        "mAP_2px": t["2px"]["mAP"],
        "recall_adaptive": t["adaptive"]["recall"],
        "precision_adaptive": t["adaptive"]["precision"],
        "point_error_median_px": s["point_error_px"]["median"],
        "point_error_p90_px": s["point_error_px"]["p90"],
        "per_class_AP_adaptive": {k: v["AP"] for k, v in t["adaptive"]["per_class"].items()},
    }
    per = t[primary]["per_class"]
    row["precision_recall"] = {k: [v["precision"], v["recall"]] for k, v in per.items() if v["num_gt"]}
    shown = sum(v["num_pred"] for v in per.values()) + sum(s["unlabelled_predictions"].values())
    row["detections_per_frame"] = round(shown / max(1, s["frames"]), 3)
    if source == "gtsdb":
        aps = row["per_class_AP_adaptive"]
        # NaN when a sign class has no ground truth (only in a subset of the split, as in a smoke test)
        row["sign_mAP_adaptive"] = sum(aps.get(k, float("nan")) for k in SIGNS) / len(SIGNS)
        aux = aps.get("auxiliary", float("nan"))
        row["bar"] = (
            f"sign point-mAP {row['sign_mAP_adaptive']:.3f} (>= {BARS['gtsdb']}), plate AP {aux:.3f} "
            f"(>= {BARS['auxiliary']})"
        )
        row["bar_met"] = row["sign_mAP_adaptive"] >= BARS["gtsdb"] and aux >= BARS["auxiliary"]
    elif source.startswith("markings"):
        row["found_within_10px"] = t["10px"]["recall"]
        row["bar"] = (
            f"found within 10 px {100 * t['10px']['recall']:.1f} % (>= 80 %), median error "
            f"{row['point_error_median_px']:.2f} px (<= 4)"
        )
        row["bar_met"] = (
            t["10px"]["recall"] >= BARS["markings_found"]
            and row["point_error_median_px"] <= BARS["markings_median_px"]
        )
    elif source == "lights":
        ap_sig = row["per_class_AP_adaptive"].get("signal", float("nan"))
        row["bar"] = f"signal point-AP {ap_sig:.3f} (>= {BARS['lights']})"
        row["bar_met"] = ap_sig >= BARS["lights"]
    elif source == "kr_streets":
        n_gt = s["num_gt"]
        row["bar"] = "point-AP " + ", ".join(
            f"{k} {ap:.3f} ({n_gt.get(k, 0)})"
            for k, ap in row["per_class_AP_adaptive"].items()
            if n_gt.get(k)
        )
    return row


def validation_records(source: str, taxonomy) -> list:
    """The fixed validation split of ``source`` (a loader of keras_lmk.data.sources, or a ``VARIANTS`` name)
    as every row of this benchmark is measured on."""
    from keras_lmk.data.sources import LOADERS
    from keras_lmk.training.config import DataConfig

    loader, settings = VARIANTS.get(source, (source, {}))
    return LOADERS[loader](DataConfig(**settings), taxonomy)[1]


def evaluate_source(model: Path, source: str, out: Path, score_threshold, tolerances, snap=False) -> dict:
    from keras_lmk.data.coco import write_coco
    from keras_lmk.detector.card import load_model_card
    from keras_lmk.evaluation.evaluate import run

    taxonomy = load_model_card(model).taxonomy
    val = validation_records(source, taxonomy)
    if snap and source == "lights":
        from keras_lmk.data.lamp_snap import snap_record

        val = [snap_record(r) for r in val]
    (out / source).mkdir(parents=True, exist_ok=True)
    data = write_coco(val, taxonomy, out / source / "val.json")
    return run(
        model,
        data,
        out / source,
        score_threshold=score_threshold,
        progress=False,
        tolerances=tolerances,
    )


def main(argv=None) -> int:
    from keras_lmk.evaluation.matching import tolerances_with_primary
    from keras_lmk.evaluation.metrics import format_threshold

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "android_demo_assets" / "model_int8.tflite"))
    ap.add_argument("--out", default=str(REPO / "bench_out" / "real"))
    ap.add_argument("--name", default="real_shipped", help="results file stem in benchmarks/results/")
    ap.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"), help="where results go")
    ap.add_argument("--score-threshold", type=float, help="operating threshold (default: the model card's)")
    ap.add_argument(
        "--sources", nargs="+", default=["gtsdb", "markings", "markings_street", "lights", "kr_streets"]
    )
    ap.add_argument(
        "--snap-light-labels",
        action="store_true",
        help="diagnostic, not a bar: score the lights against their validation labels moved onto the lit "
        "lamp (keras_lmk/data/lamp_snap.py), i.e. what the published labels' offsets cost",
    )
    args = ap.parse_args(argv)
    model, out = Path(args.model), Path(args.out)

    rows = {}
    for source in args.sources:
        primary = "10px" if source.startswith("markings") else "adaptive"
        s = evaluate_source(
            model, source, out, args.score_threshold, tolerances_with_primary(primary), args.snap_light_labels
        )
        row = source_row(s, source)
        rows[source] = row
        pr = ", ".join(f"{k} P {p:.2f} R {r:.2f}" for k, (p, r) in row["precision_recall"].items())
        print(
            f"{source:9s} {row.get('bar', '')}; {pr}; {row['detections_per_frame']:.2f} detections/frame; "
            f"{row['false_detections_per_frame']:.2f} false detections/frame "
            f"at {format_threshold(row['operating_threshold'])}; {row['frames']} frames, "
            f"{row['frames_per_s']:.1f} frames/s",
            flush=True,
        )

    result = {"model": str(model), "score_threshold": args.score_threshold, "sources": rows}
    if args.snap_light_labels:
        result["light_labels"] = "snapped to the lit lamp (diagnostic)"
    res_dir = Path(args.results_dir)
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# {args.name}: {model.name} on the fixed real validation splits",
        "",
        *(["Light labels snapped to the lit lamp: a diagnostic, not the bar.", ""] * args.snap_light_labels),
        "| source | frames | bar | met | false det./frame | all det./frame | precision / recall per class "
        "| mAP adaptive | mAP 4 px | mAP 2 px | median err px |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for source, r in rows.items():
        lines.append(
            f"| {source} | {r['frames']} | {r.get('bar', '')} | {'yes' if r.get('bar_met') else 'no'} | "
            f"{r['false_detections_per_frame']:.2f} | {r['detections_per_frame']:.2f} | "
            + ", ".join(f"{k} {p:.2f} / {q:.2f}" for k, (p, q) in r["precision_recall"].items())
            + f" | {r['mAP_adaptive']:.3f} | {r['mAP_4px']:.3f} | "
            f"{r['mAP_2px']:.3f} | {r['point_error_median_px']:.2f} |"
        )
    (res_dir / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
