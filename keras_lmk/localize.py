"""Map-based vehicle localization: detected landmark reference points + the HD map -> vehicle poses.

    python -m keras_lmk.localize --model run/model.tflite --drive DRIVE --out OUTDIR [--prior PRIOR.json]
    python -m keras_lmk.localize --oracle-detections --drive DRIVE --out OUTDIR [--oracle-miss 0.1]

DRIVE holds ``camera.json``, ``map.json`` and frames (``images/`` or one video), plus ``poses.json`` (ground
truth; optional with a model and ``--prior``). The coarse prior (a GPS-like pose per frame) is ``--prior``
(poses.json layout) or ``DRIVE/prior.json`` when present, else ``poses.json`` with correlated noise added
(:func:`make_prior`). ``--prior-noise-m`` / ``--prior-noise-deg`` are the prior's 1-sigma either way: the
filter weighs the prior with them. ``--oracle-detections`` replaces the detector by the projected ground
truth with pixel noise, misses and false detections, so localization can be judged without a model.
With ``--model`` the solver uses :data:`DETECTOR_SOLVER` (thresholds for a detector's few-pixel point error)
and the detection scores (duplicate suppression, score-aware association); the oracle keeps SolverConfig's
defaults. ``--reproj-px``, ``--gate-px``, ``--dedup-px`` and ``--score-threshold`` override them.
``--track`` (with ``--model``) tracks the landmarks over the frames (keras_lmk/inference/tracking.py) and
feeds the pose only confirmed tracks: no one-frame false detections, no duplicate votes.

Per frame, ``--estimator tight`` (default, keras_lmk/localization/tight_filter.py): predict the
constant-velocity filter
(non-holonomic sideslip constraint), associate detections to the map landmarks in view by class and
Mahalanobis distance, 2-point RANSAC, iterated EKF update on the consistent pairs. ``--estimator loose``
(keras_lmk/localization/pose_solver.py): the same association by a pixel gate, a PnP fix (RANSAC + LM; planar
x, y, yaw
with 3 inliers) that updates the filter. Either way the prior then updates it weakly. Writes into OUTDIR:

    trajectory.csv   frame, x, y, z (m), yaw, pitch, roll (rad, geometry/camera.py), n_matches, n_inliers,
                     status (tight | none | pnp | planar | reset | rejected | prior)
    errors.csv       per frame, when poses.json is there: estimate and prior horizontal / along / cross /
                     height error (m) and heading error (deg)
    summary.json     median / p90 position and heading error of the estimate, the raw vision fixes (tight:
                     the estimate at frames with a vision update), the prior
    trajectory.png   top view: map landmarks, true, prior and estimated trajectory; error per frame
"""

from __future__ import annotations

import sys

from keras_lmk.cli import add_tracking_arguments, command, make_parser, tracker_config
from keras_lmk.localization.inputs import DETECTOR_DEDUP_PX, DETECTOR_SOLVER
from keras_lmk.localization.localize import ESTIMATORS, run
from keras_lmk.localization.pose_solver import SolverConfig


@command
def main(argv=None) -> int:
    ap = make_parser("python -m keras_lmk.localize", __doc__)
    ap.add_argument("--drive", required=True, help="folder with camera.json, map.json, images/ or a video")
    ap.add_argument("--out", required=True, metavar="DIR", help="output folder")
    ap.add_argument("--model", help="model.tflite or model.keras (model card beside it); default: none")
    ap.add_argument(
        "--oracle-detections", action="store_true", help="projected ground truth instead of a model"
    )
    ap.add_argument(
        "--prior", help="prior poses JSON (poses.json layout); default DRIVE/prior.json if present"
    )
    ap.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="tight",
        help="tight: detections update the pose filter directly (default); loose: a PnP fix per frame "
        "feeds the filter (needs >= 6 inliers with a model)",
    )
    ap.add_argument("--prior-noise-m", type=float, default=2.0, help="prior position 1-sigma (m)")
    ap.add_argument("--prior-noise-deg", type=float, default=2.0, help="prior angle 1-sigma (deg)")
    ap.add_argument(
        "--oracle-noise-px", type=float, default=1.0, help="oracle detections: point noise 1-sigma (px)"
    )
    ap.add_argument("--oracle-miss", type=float, default=0.1, help="probability a landmark is not detected")
    ap.add_argument("--oracle-false", type=float, default=0.25, help="mean false detections per frame")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated prior and oracle detections")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="detector threshold (default: the model card's); association gating rejects false detections, "
        "so a lower threshold than for display usually localises better",
    )
    ap.add_argument(
        "--reproj-px",
        type=float,
        default=None,
        help=f"RANSAC inlier threshold in pixels, about the detector's p90 point error (default "
        f"{DETECTOR_SOLVER['reproj_px']:g} with --model, {SolverConfig.reproj_px:g} with the oracle)",
    )
    ap.add_argument(
        "--gate-px",
        type=float,
        default=None,
        help=f"association gate in pixels on top of the pose-uncertainty gate (default "
        f"{DETECTOR_SOLVER['base_gate_px']:g} with --model, {SolverConfig.base_gate_px:g} with the oracle)",
    )
    ap.add_argument(
        "--dedup-px",
        type=float,
        default=None,
        help=f"keep only the most confident of same-class detections closer than this (default with "
        f"--model: {DETECTOR_DEDUP_PX:g} px per 640 px of image width; 0: off)",
    )
    ap.add_argument(
        "--ignore-classes",
        nargs="*",
        default=[],
        metavar="CLASS",
        help="detected classes not used for the pose (e.g. road_marking when the map lacks some paint)",
    )
    add_tracking_arguments(ap)
    args = ap.parse_args(argv)
    track = tracker_config(args)
    if args.prior_noise_m <= 0 or args.prior_noise_deg <= 0:
        ap.error("--prior-noise-m and --prior-noise-deg must be positive")
    s = run(
        args.drive,
        args.out,
        model=args.model,
        oracle=args.oracle_detections,
        prior=args.prior,
        estimator=args.estimator,
        prior_noise_m=args.prior_noise_m,
        prior_noise_deg=args.prior_noise_deg,
        oracle_noise_px=args.oracle_noise_px,
        oracle_miss=args.oracle_miss,
        oracle_false=args.oracle_false,
        max_frames=args.max_frames,
        seed=args.seed,
        score_threshold=args.score_threshold,
        reproj_px=args.reproj_px,
        gate_px=args.gate_px,
        dedup_px=args.dedup_px,
        ignore_classes=tuple(args.ignore_classes),
        progress=not args.no_progress,
        track=track,
    )
    msg = f"{s['frames']} frames, status {s['status_counts']}"
    if "estimate" in s:
        est, pri = s["estimate"], s["prior"]
        pm, hd = "position_m", "heading_deg"
        msg += (
            f"; position error median/p90 {est[pm]['median']:.2f}/{est[pm]['p90']:.2f} m "
            f"(prior {pri[pm]['median']:.2f}/{pri[pm]['p90']:.2f}), heading "
            f"{est[hd]['median']:.2f}/{est[hd]['p90']:.2f} deg "
            f"(prior {pri[hd]['median']:.2f}/{pri[hd]['p90']:.2f})"
        )
    print(f"{msg} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
