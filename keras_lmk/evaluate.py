"""Evaluate a detector on annotated images: point-matching AP, P/R/F1, point error, confusion, frames/s.

    python -m keras_lmk.evaluate --model run/model.tflite --input data/val.json [--images DIR] --out eval/
    python -m keras_lmk.evaluate --model run/model.keras --input synth/drive_000 --out eval/
    python -m keras_lmk.evaluate --model run/model.tflite --input gt.json --video drive.mp4 --out eval/
    python -m keras_lmk.evaluate --model run/model.keras --input val.json --out eval/ --calibrate

``--calibrate`` writes the operating thresholds found on this data into the model's card (the one beside
the model): ``decoder.score_threshold`` = the score of best pooled F1 and, for each class with at least 5
landmarks here, ``decoder.class_score_thresholds`` = the score of that class's own best F1
(keras_lmk/evaluation/calibration.py). Training does the same on its held-out split.

``--input`` (formerly ``--data``, still accepted) is a COCO keypoint JSON (keras_lmk.data.coco layout; images
relative to the JSON or to --images) or a synthetic drive directory (map.json, camera.json, poses.json,
annotations.json: the ground truth there was projected from the map and is read from annotations.json; its
frames are images/ or, without that folder, the video in it). With ``--video`` the COCO images are frames of
that video: image entry k is frame ``frame_index`` when it has that field, else frame k (its position in the
list). Only frames with an image entry are evaluated; corrupt or missing ones are skipped and counted.
Metric definitions: keras_lmk/evaluation/metrics.py and docs/evaluation.md.

``--track`` (a drive: frames in order, landmark ids in the ground truth) also tracks the operating-point
detections (keras_lmk/inference/tracking.py) and adds ``tracking`` to metrics.json: the tracks' recall,
precision, MOTA, ID switches, track recall, mostly-tracked share and point error within --track-tolerance,
beside the raw detections' recall, precision and point error (keras_lmk/evaluation/tracking_metrics.py).

Writes into --out: metrics.json, per_frame.csv, pr_curves.png, point_errors.png, confusion.png.
Frames are streamed: the ground truth is read by a streaming parser into compact arrays
(keras_lmk/data/coco_reader.py), per-frame rows go straight to disk, and the metrics keep fixed-size score
histograms (keras_lmk/evaluation/metrics.py), so memory stays flat with the drive's length. Each frame is
decoded
twice from the same raw outputs: at the operating threshold (card's decoder threshold, or --score-threshold)
for P/R/F1, point error and confusion, and at --curve-threshold (default 0.05) for the PR curves and AP;
a card with a decoder.vote_threshold starts the curves at that gate instead, so a threshold read off them is
exactly what the decoder gives at it.
"""

from __future__ import annotations

import sys

from keras_lmk.cli import (
    add_input_argument,
    add_runner_arguments,
    add_tracking_arguments,
    command,
    make_parser,
    start_tensorflow,
    tracker_config,
)
from keras_lmk.evaluation.evaluate import run
from keras_lmk.evaluation.matching import tolerances_with_primary
from keras_lmk.evaluation.metrics import format_threshold


@command
def main(argv=None) -> int:
    ap = make_parser("python -m keras_lmk.evaluate", __doc__)
    ap.add_argument("--model", required=True, help="model.keras or model.tflite (model card beside it)")
    add_input_argument(ap, "ground truth: COCO keypoint JSON or synthetic drive folder", old=("--data",))
    ap.add_argument("--images", help="image root for the COCO file names (default: the JSON's folder)")
    ap.add_argument("--video", help="frames from this video: the COCO images are its frames (frame_index)")
    ap.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (metrics.json, per_frame.csv, plots)"
    )
    ap.add_argument(
        "--curve-threshold",
        type=float,
        default=0.05,
        help="lowest score kept for PR/AP (cards with a vote threshold: that gate)",
    )
    ap.add_argument(
        "--primary-tolerance",
        default="adaptive",
        help="match radius for point errors, confusion and best F1: adaptive or <N>px, e.g. 10px",
    )
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="write the best-F1 thresholds (pooled and per class) into the model card beside --model",
    )
    ap.add_argument(
        "--one-threshold", action="store_true", help="with --calibrate: the pooled threshold only"
    )
    add_runner_arguments(ap)
    add_tracking_arguments(ap)
    ap.add_argument(
        "--track-tolerance",
        metavar="PX",
        type=float,
        default=8.0,
        help="match radius of the tracking metrics",
    )
    args = ap.parse_args(argv)
    track = tracker_config(args)
    if args.model.endswith(".keras"):  # a .tflite model runs without TensorFlow
        start_tensorflow()
    tolerances = tolerances_with_primary(args.primary_tolerance)
    s = run(
        args.model,
        args.input,
        args.out,
        images=args.images,
        video=args.video,
        score_threshold=args.score_threshold,
        curve_threshold=args.curve_threshold,
        threads=args.threads,
        progress=not args.no_progress,
        tolerances=tolerances,
        track=track,
        track_tolerance_px=args.track_tolerance,
    )
    t = s["tolerances"][s["primary_tolerance"]]
    pe = s["point_error_px"]
    print(
        f"{s['frames']} frames, mAP {t['mAP']:.3f} (tolerance {s['primary_tolerance']}), "
        f"P {t['precision']:.3f} "
        f"R {t['recall']:.3f} F1 {t['f1']:.3f} @ {format_threshold(s['operating_threshold'])}, "
        f"point error median "
        f"{pe['median']:.2f} px p90 {pe['p90']:.2f} px, {s['frames_per_s']:.1f} frames/s -> {args.out}"
    )
    if s["best_f1"]:
        b = s["best_f1"]
        print(
            f"best F1 {b['f1']:.3f} (P {b['precision']:.3f} R {b['recall']:.3f}) at score threshold "
            f"{b['threshold']:g}"
        )
    if args.calibrate:
        from keras_lmk.detector.card import find_model_card
        from keras_lmk.evaluation.calibration import calibrate_card, named

        card = find_model_card(args.model)
        point = calibrate_card(card, s, per_class=not args.one_threshold)
        if point is None:
            print(f"nothing found on {args.input}: {card} left as it was")
        else:
            per = format_threshold(named(point.get("class_thresholds"), s["confusion"]["labels"]))
            print(
                f"wrote {card}: score_threshold {point['threshold']:g}"
                + (f"; per class: {per}" if per else "")
            )
    if track is not None:
        print(tracking_line(s["tracking"]))
    if s["unlabelled_classes"]:
        print(f"unlabelled (no ground truth, predictions not counted): {', '.join(s['unlabelled_classes'])}")
    return 0


def tracking_line(t: dict) -> str:
    def f(v, spec=".3f"):
        return "n/a" if v is None else format(v, spec)

    k, d = t["tracks"], t["detections"]
    return (
        f"tracks (within {k['tolerance_px']:g} px): recall {f(k['recall'])} precision {f(k['precision'])} "
        f"MOTA {f(k['mota'])}, {k['id_switches']} ID switches, track recall {f(k['track_recall'])}, "
        f"mostly tracked {f(k['mostly_tracked'])}, "
        f"median point error {f(k['point_error_px']['median'], '.2f')} px; "
        f"raw detections: recall {f(d['recall'])} precision {f(d['precision'])}, "
        f"median point error {f(d['point_error_px']['median'], '.2f')} px"
    )


if __name__ == "__main__":
    sys.exit(main())
