"""Regenerate the mobile integration kit (android_demo_assets/) from a trained run.

    python -m keras_lmk.demo_assets --run runs/exp --out android_demo_assets [--calib-steps 100]
    python -m keras_lmk.demo_assets --check android_demo_assets      # re-run and compare with the goldens
    python -m keras_lmk.demo_assets --run runs/exp --calibrate-on real_val.json  # int8 model's thresholds
    python -m keras_lmk.demo_assets --run runs/exp --input-size 1664x992  # deploy at another input size

Writes: ``model_int8.tflite`` (uint8 RGB in, int8 out), ``model_int8.json`` (model card: input size/type,
normalisation, each output's name/shape/dtype/scale/zero point read from the interpreter, grid stride, anchor
positions, classes with reference-point rules, decoder thresholds), ``labels.txt`` (line i = class id i),
``samples/<name>.png`` with ``samples/<name>.expected.json`` (decoded landmarks): ``--samples`` validation
frames of each data source, those where the kit's model finds a labelled landmark with the fewest other
detections (keras_lmk/deploy/kit_samples.py), then a 1920x1080 phone frame made from the first, which the
letterbox shrinks; for the first sample and the phone frame ``golden/<name>_input.npy`` (letterboxed uint8
input) and ``golden/<name>_{class_logits,points}.npy`` (raw int8 outputs). How to use them on a phone:
android_demo_assets/README.md. The shipped kit's settings:

    python -m keras_lmk.demo_assets --run RUN --out android_demo_assets --samples 1 --lamp-refine
        --side-balanced --merge-across-classes --suppress-radius 16 --score-threshold 0.5
        --localization-threshold 0.5
"""

from __future__ import annotations

import sys

from keras_lmk.cli import command, input_size, make_parser, start_tensorflow


@command
def main(argv=None) -> int:
    p = make_parser("python -m keras_lmk.demo_assets", __doc__)
    p.add_argument("--run", metavar="DIR", help="run folder (model.keras, model_card.json, config.yaml)")
    p.add_argument("--out", default="android_demo_assets", metavar="DIR", help="output folder of the kit")
    p.add_argument(
        "--samples", type=int, default=2, help="validation images with landmarks per data source of the run"
    )
    p.add_argument("--calib-steps", type=int, default=100, help="int8 calibration images")
    p.add_argument(
        "--localization-threshold",
        type=float,
        help="score threshold localize uses with this model (card: localization.score_threshold); "
        "default: none, localize uses the decoder's",
    )
    p.add_argument(
        "--calibrate-on",
        metavar="JSON",
        help="COCO validation file: set the int8 model's display thresholds (pooled and per class) from its "
        "best F1 there; default: the run's card",
    )
    p.add_argument(
        "--lamp-refine",
        action="store_true",
        help="card: move traffic-light points onto the lit lamp after decoding (lamp_refine, default "
        "settings: docs/evaluation.md); default: the run card's (none unless added there)",
    )
    p.add_argument(
        "--side-balanced",
        action="store_true",
        help="card: merge the points of edge-point classes (a road marking's lower-right end) from both "
        "sides of each cluster (decoder.side_balanced_classes); default: the run card's (none unless added)",
    )
    p.add_argument(
        "--input-size",
        type=input_size,
        metavar="WxH",
        help="deploy the run's weights at this input size instead of the trained one (the model is fully "
        "convolutional; a multiple of the grid stride), e.g. 1664x992; default: the run's",
    )
    p.add_argument(
        "--merge-across-classes",
        action="store_true",
        help="card: votes of any class within the merge radius are one landmark, of the seed's class "
        "(decoder.merge_across_classes); default: per class",
    )
    p.add_argument(
        "--suppress-radius",
        type=float,
        metavar="PX",
        help="card: after the merge, a detection within PX model-input px of a stronger one of its class is "
        "dropped (decoder.suppress_radius_px); default: the run card's (0, off)",
    )
    p.add_argument(
        "--score-threshold",
        type=float,
        metavar="T",
        help="card: one display threshold T for every class, fitted on nothing (instead of --calibrate-on)",
    )
    p.add_argument("--check", metavar="DIR", help="compare DIR's model with its goldens instead")
    args = p.parse_args(argv)
    start_tensorflow()  # the kit is built and checked with Keras and TFLite
    from keras_lmk.deploy.demo_kit import build, check
    from keras_lmk.detector.lamp_refine import LampRefineConfig

    if args.check:
        problems = check(args.check)
        print("\n".join(problems) or "goldens reproduce")
        return 1 if problems else 0
    if not args.run:
        p.error("--run is required (or --check DIR)")
    build(
        args.run,
        args.out,
        samples=args.samples,
        calib_steps=args.calib_steps,
        localization_threshold=args.localization_threshold,
        calibrate_on=args.calibrate_on,
        lamp_refine=LampRefineConfig() if args.lamp_refine else None,
        side_balanced=args.side_balanced,
        input_size=args.input_size,
        merge_across_classes=args.merge_across_classes,
        score_threshold=args.score_threshold,
        suppress_radius=args.suppress_radius,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
