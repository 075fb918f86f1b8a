"""What the localizer is fed: a simulated coarse prior (GNSS-like drifting error), oracle detections
(ground truth plus noise) and a trained detector's detections with its solver profile.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.geometry.camera import Camera, GeometryError, Pose
from keras_lmk.geometry.map_ground_truth import LandmarkMap, frame_ground_truth
from keras_lmk.localization.pose_solver import SolverConfig

PRIOR_CORRELATION = 0.95  # frame-to-frame correlation of the simulated prior error (GPS errors drift slowly)
DETECTOR_SOLVER = {
    "reproj_px": 12.0,  # about the p90 point error: RANSAC keeps the right pairs
    "base_gate_px": 15.0,
    "min_pnp_inliers": 6,  # 4-5 pair fixes from a noisy detector are wrong more often than right
    "min_planar_inliers": 5,
    "score_weight": 0.5,  # association prefers the confident detection among those in a gate
}
DETECTOR_DEDUP_PX = 30.0  # per 640 px of image width: same-class detections closer keep the most confident


def detector_dedup_px(camera: Camera) -> float:
    """Default duplicate-suppression radius for --model: DETECTOR_DEDUP_PX scaled to the image width."""
    return DETECTOR_DEDUP_PX * camera.width / 640.0


def detector_profile(
    camera: Camera,
    *,
    oracle: bool = False,
    reproj_px: float | None = None,
    gate_px: float | None = None,
    dedup_px: float | None = None,
) -> tuple[SolverConfig, float]:
    """(solver settings, duplicate-suppression radius px) for a detector's detections on ``camera``'s images:
    :data:`DETECTOR_SOLVER` and :func:`detector_dedup_px` (scaled to the image width) for a trained detector,
    the solver defaults and no suppression for oracle detections; explicit arguments override. The one
    place the CLI and ``benchmarks/bench_localize.py`` take these from."""
    profile = {} if oracle else dict(DETECTOR_SOLVER)
    if reproj_px is not None:
        profile["reproj_px"] = reproj_px
    if gate_px is not None:
        profile["base_gate_px"] = gate_px
    if dedup_px is None:
        dedup_px = 0.0 if oracle else detector_dedup_px(camera)
    return SolverConfig(**profile), float(dedup_px)


def make_prior(poses: list[Pose], noise_m: float, noise_deg: float, seed: int = 0) -> list[Pose]:
    """GPS/IMU-like prior: each pose plus a stationary AR(1) error (correlation PRIOR_CORRELATION per frame).

    1-sigma ``noise_m`` on x, y and ``noise_deg`` on yaw (GNSS position and heading); a tenth of those on z
    (height taken from the map's road surface) and on pitch and roll (an IMU's gravity vector)."""
    rng = np.random.default_rng([seed, 8])
    sig = np.array([noise_m, noise_m, 0.1 * noise_m] + [math.radians(noise_deg) * f for f in (1.0, 0.1, 0.1)])
    rho = PRIOR_CORRELATION
    e = rng.normal(size=6) * sig
    out = []
    for p in poses:
        out.append(Pose(*(np.array([p.x, p.y, p.z, p.yaw, p.pitch, p.roll]) + e)))
        e = rho * e + math.sqrt(1 - rho**2) * rng.normal(size=6) * sig
    return out


def oracle_detections(
    lmap: LandmarkMap, camera: Camera, pose: Pose, taxonomy: Taxonomy, rng: np.random.Generator, *,
    noise_px: float = 1.0, miss: float = 0.1, false_rate: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Detections a perfect-but-noisy detector would give: ground-truth reference points
    (geometry/map_ground_truth.py) with Gaussian pixel noise, each missed with probability ``miss``, plus
    Poisson(``false_rate``) false ones of a random class anywhere in the image. Returns (points float
    [D, 2] px, classes int [D])."""
    gt = frame_ground_truth(lmap, camera, pose, taxonomy=taxonomy)
    keep = rng.random(gt.num_landmarks) >= miss
    pts = gt.points[keep].astype(np.float64) + rng.normal(scale=noise_px, size=(int(keep.sum()), 2))
    n_false = int(rng.poisson(false_rate))
    fp = rng.uniform([0, 0], [camera.width, camera.height], size=(n_false, 2))
    fc = rng.integers(1, taxonomy.num_classes, size=n_false)
    return np.concatenate([pts, fp]), np.concatenate([gt.classes[keep], fc]).astype(np.int64)


def model_detections(
    model: str,
    drive: Path,
    camera: Camera,
    taxonomy_out: list,
    score_threshold: float | None = None,
    ignore_classes: tuple[str, ...] = (),
):
    """Yield (frame index, points [D, 2], classes [D], scores [D]) from the model on the drive's frames (lazy
    imports: TensorFlow / LiteRT load only here). The threshold is ``score_threshold``, else the model card's
    localization threshold (``localization.score_threshold``), else its decoder threshold."""
    from keras_lmk.data.frames import FrameSource, drive_frames
    from keras_lmk.inference.runtime import open_runner, with_threshold

    runner = open_runner(model)
    if score_threshold is None:
        score_threshold = runner.card.localization_threshold
    runner.decoder = with_threshold(runner.decoder, score_threshold)
    ignored = [runner.taxonomy.class_id(name) for name in ignore_classes]
    taxonomy_out.append(runner.taxonomy)
    for frame in FrameSource(drive_frames(drive)):
        h, w = frame.image.shape[:2]
        if (w, h) != (camera.width, camera.height):
            raise GeometryError(
                f"{frame.name}: frame is {w}x{h} but camera.json says {camera.width}x{camera.height}"
            )
        dets = runner.predict_frame(frame.image)
        keep = ~np.isin(dets.classes, ignored)
        yield frame.index, dets.points[keep], dets.classes[keep], dets.scores[keep]


def tracked_detections(dets, config, image_width: int):
    """Pass (frame index, points, classes, scores) per frame through a
    :class:`~keras_lmk.inference.tracking.LandmarkTracker`: yields the same layout with only the confirmed
    tracks matched in each frame (their points and voted classes), so one-frame false detections and
    duplicate votes never reach the pose."""
    from keras_lmk.inference.tracking import LandmarkTracker

    tracker = LandmarkTracker(config)
    for index, points, classes, scores in dets:
        t = tracker.update(points, classes, scores, image_width)
        yield index, t.points.astype(np.float64), t.classes.astype(np.int64), t.scores
