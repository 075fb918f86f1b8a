"""Map-based vehicle localization: detected landmark reference points + the HD map -> vehicle poses.

The library behind ``python -m keras_lmk.localize``; usage, options and outputs: :mod:`keras_lmk.localize`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from keras_lmk.atomic import atomic_write_json, atomic_write_text, check_writable_dir
from keras_lmk.data.frames import FrameSource, drive_frames
from keras_lmk.data.taxonomy import Taxonomy, load_taxonomy
from keras_lmk.geometry.camera import Camera, GeometryError, Pose, load_camera, load_poses
from keras_lmk.geometry.map_ground_truth import LandmarkMap, facing_normals, load_map
from keras_lmk.localization.inputs import (
    detector_profile,
    make_prior,
    model_detections,
    oracle_detections,
    tracked_detections,
)
from keras_lmk.localization.pose_filter import FilterConfig, PoseFilter, diag_cov
from keras_lmk.localization.pose_solver import (
    SolverConfig,
    pose_covariance,
    solve_frame,
    suppress_duplicates,
)
from keras_lmk.localization.report import TRAJECTORY_FIELDS, _csv, evaluate, plot_trajectory
from keras_lmk.localization.tight_filter import TightConfig, tight_update

ATTITUDE_SIGMA_RAD = math.radians(1.0)  # pitch/roll uncertainty once a 6-DoF fix has set them
RESET_MIN_INLIERS = 6
RESET_AFTER = 2
# Solver settings with a real detector (--model). SolverConfig's own defaults suit --oracle-detections (1 px
# noise); the shipped model's points are off by 5.0 px median, 12.6 px p90 on a 640x360 drive, and it adds
# same-class duplicates a few pixels from a landmark and paint the map lacks. See docs/results.md.
ESTIMATORS = ("tight", "loose")
# The tightly coupled filter (keras_lmk/localization/tight_filter.py; TightConfig's defaults suit the
# detector): it allows
# 0.1 m/frame^2 speed changes and ~2 deg of sideslip at the synthetic drives' 2.6 m/frame. Chosen on drives of
# seeds 8 and 9, checked on 7, 10 and 11 (docs/results.md, issue 8).
TIGHT_FILTER = {"accel_m": 0.1, "sideslip_m": 0.1}
REACQUIRE_AFTER = 3  # frames without a tight update before a PnP fix from the prior may restart the filter


def default_filter(estimator: str) -> FilterConfig:
    """The filter settings each estimator was tuned with (FilterConfig's own defaults for loose)."""
    return FilterConfig(**(TIGHT_FILTER if estimator == "tight" else {}))


def localize(
    camera: Camera, lmap: LandmarkMap, taxonomy: Taxonomy, detections, prior: list[Pose], *,
    prior_noise_m: float, prior_noise_deg: float,
    solver: SolverConfig | None = None, filt_cfg: FilterConfig | None = None, dedup_px: float = 0.0,
    estimator: str = "tight", tight: TightConfig | None = None,
) -> list[dict]:  # fmt: skip
    """Track the vehicle over ``detections`` (iterable of (frame, points float [D, 2] px, classes int [D]) or
    (frame, points, classes, scores float [D])). With scores and ``dedup_px`` > 0, same-class detections
    closer than ``dedup_px`` are reduced to the most confident (:func:`suppress_duplicates`), and the scores
    go to the association (``solver.score_weight``).

    Per frame: predict the filter; solve from the prediction (gates from the filter covariance); if that
    gives no fix or the filter rejects it, solve again from the prior (gates from the prior noise). A fix
    updates the filter with its own covariance (:func:`pose_covariance`); RESET_AFTER strong fixes
    (>= RESET_MIN_INLIERS inliers) rejected in a row restart the filter there (it had diverged). The prior
    then updates it too, weakly. Returns one row per frame: TRAJECTORY_FIELDS plus ``pose`` (estimate),
    ``vision`` (the accepted fix or None) and ``solve_ms``.

    ``estimator="tight"`` replaces the per-frame fix by
    :func:`keras_lmk.localization.tight_filter.tight_update` (the
    detections update the filter directly; status ``tight``, ``vision`` is the updated pose); after
    REACQUIRE_AFTER frames without an update a PnP fix from the prior (>= RESET_MIN_INLIERS inliers) updates
    or restarts the filter (status ``pnp`` / ``reset``). ``filt_cfg.sideslip_m`` applies in both.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    solver = solver or SolverConfig()
    filt_cfg = filt_cfg or default_filter(estimator)
    names = set(taxonomy.names)
    map_pts = np.array([lm.point for lm in lmap.landmarks]).reshape(-1, 3)
    map_cls = np.array(
        [taxonomy.class_id(lm.cls) if lm.cls in names else -1 for lm in lmap.landmarks], np.int64
    )
    normals = facing_normals(lmap)
    p_sig, a_sig = prior_noise_m, math.radians(prior_noise_deg)
    prior_cov = diag_cov(p_sig, a_sig)
    if estimator == "tight":
        return _localize_tight(
            camera, map_pts, map_cls, normals, detections, prior, prior_cov, p_sig, a_sig, solver, filt_cfg,
            tight or TightConfig(), dedup_px,
        )  # fmt: skip
    filt, last, att_sig, strong_rejects = None, -1, a_sig, 0
    rows = []
    for index, det_pts, det_cls, det_scores in _frames(detections, prior, dedup_px):
        filt = _advance(filt, index - last, prior[index], prior_cov, filt_cfg)
        last = index
        t0 = time.perf_counter()
        pos_s, yaw_s = filt.sigmas
        status, vision, sol, n_matches = "prior", None, None, 0
        for start, s_pos, s_ang in ((filt.pose, pos_s, yaw_s + att_sig), (prior[index], p_sig, 2 * a_sig)):
            sol = solve_frame(map_pts, map_cls, det_pts, det_cls, camera, start, sigma_pos_m=s_pos,
                              sigma_ang_rad=s_ang, cfg=solver, map_normals=normals,
                              det_scores=det_scores)  # fmt: skip
            n_matches = max(n_matches, sol.n_matches)
            if sol.pose is None:
                continue
            inl = sol.inliers
            obj, img = map_pts[sol.map_index[inl]], det_pts[sol.det_index[inl]]
            planar = sol.status == "planar"
            cov = pose_covariance(obj, img, camera, sol.pose, pixel_sigma=filt_cfg.pixel_sigma, planar=planar)
            cov = cov + diag_cov(filt_cfg.fix_floor_m, filt_cfg.fix_floor_rad)
            if filt.update(sol.pose, cov):
                status, vision = sol.status, sol.pose
                break
            status = "rejected"
            if sol.status == "pnp" and inl.sum() >= RESET_MIN_INLIERS:
                strong_rejects += 1
                if strong_rejects >= RESET_AFTER:
                    filt.reset(sol.pose, cov, velocity=filt.velocity)
                    status, vision = "reset", sol.pose
                    break
        if status != "rejected":
            strong_rejects = 0
        if vision is not None and sol.status == "pnp":
            filt.set_attitude(vision.pitch, vision.roll)
            att_sig = ATTITUDE_SIGMA_RAD
        filt.update(prior[index], prior_cov, gate=False)
        n_inliers = int(sol.inliers.sum()) if vision else 0
        rows.append(_row(index, filt.pose, n_matches, n_inliers, status, vision, t0))
    return rows


def _frames(detections, prior: list[Pose], dedup_px: float):
    """(index, points [D, 2], classes [D], scores [D] or None) per frame, duplicates suppressed."""
    for index, det_pts, det_cls, *rest in detections:
        det_scores = rest[0] if rest else None
        if index >= len(prior):
            raise GeometryError(f"frame {index} has no prior pose (the prior has {len(prior)})")
        det_pts = np.asarray(det_pts, np.float64).reshape(-1, 2)
        det_cls = np.asarray(det_cls).reshape(-1)
        if det_scores is not None and dedup_px > 0:
            k = suppress_duplicates(det_pts, det_cls, det_scores, dedup_px)
            det_pts, det_cls, det_scores = det_pts[k], det_cls[k], np.asarray(det_scores)[k]
        yield index, det_pts, det_cls, det_scores


def _advance(filt: PoseFilter | None, frames: int, prior: Pose, prior_cov, cfg: FilterConfig) -> PoseFilter:
    """The filter at the next frame: started at the prior the first time, else predicted ``frames`` (>= 1)
    frames ahead and, when ``cfg.sideslip_m`` > 0, held to the direction of travel."""
    if filt is None:
        return PoseFilter(prior, prior_cov, cfg)
    for _ in range(max(frames, 1)):
        filt.predict()
    if cfg.sideslip_m > 0:
        filt.constrain_sideslip(cfg.sideslip_m)
    return filt


def _row(index: int, est: Pose, n_matches: int, n_inliers: int, status: str, vision, t0: float) -> dict:
    """One trajectory row (TRAJECTORY_FIELDS plus pose, vision and solve_ms since ``t0``)."""
    return {
        "frame": index, "x": est.x, "y": est.y, "z": est.z, "yaw": est.yaw, "pitch": est.pitch,
        "roll": est.roll, "n_matches": n_matches, "n_inliers": n_inliers, "status": status, "pose": est,
        "vision": vision, "solve_ms": (time.perf_counter() - t0) * 1000,
    }  # fmt: skip


def _localize_tight(
    camera: Camera, map_pts, map_cls, normals, detections, prior: list[Pose], prior_cov, p_sig: float,
    a_sig: float, solver: SolverConfig, filt_cfg: FilterConfig, tight: TightConfig, dedup_px: float,
) -> list[dict]:  # fmt: skip
    """The ``estimator="tight"`` loop of :func:`localize` (same rows)."""
    att_sig = 0.1 * a_sig  # the prior's pitch and roll: an IMU's gravity vector (see make_prior)
    filt, last, idle, rows = None, -1, 0, []
    for index, det_pts, det_cls, det_scores in _frames(detections, prior, dedup_px):
        filt = _advance(filt, index - last, prior[index], prior_cov, filt_cfg)
        last = index
        t0 = time.perf_counter()
        res = tight_update(filt, prior[index], att_sig, map_pts, map_cls, det_pts, det_cls, camera, tight,
                           map_normals=normals)  # fmt: skip
        status, n_used = ("tight", len(res.map_index)) if res.status == "tight" else (res.status, 0)
        if status != "tight":
            idle += 1
            filt.set_attitude(prior[index].pitch, prior[index].roll)
            if idle >= REACQUIRE_AFTER:
                sol = solve_frame(map_pts, map_cls, det_pts, det_cls, camera, prior[index], sigma_pos_m=p_sig,
                                  sigma_ang_rad=2 * a_sig, cfg=solver, map_normals=normals,
                                  det_scores=det_scores)  # fmt: skip
                if sol.status == "pnp" and sol.inliers.sum() >= RESET_MIN_INLIERS:
                    inl = sol.inliers
                    obj, img = map_pts[sol.map_index[inl]], det_pts[sol.det_index[inl]]
                    cov = pose_covariance(obj, img, camera, sol.pose, pixel_sigma=tight.pixel_sigma)
                    status, n_used, idle = "pnp", int(inl.sum()), 0
                    if not filt.update(sol.pose, cov):
                        filt.reset(sol.pose, cov + diag_cov(0.1, math.radians(0.1)), velocity=filt.velocity)
                        status = "reset"
                    filt.set_attitude(sol.pose.pitch, sol.pose.roll)
        else:
            idle = 0
        filt.update(prior[index], prior_cov, gate=False)
        est = filt.pose
        rows.append(_row(index, est, res.n_matches, n_used, status, est if n_used else None, t0))
    return rows


def run(
    drive: str | Path,
    out_dir: str | Path,
    *,
    model: str | Path | None = None,
    oracle: bool = False,
    prior: str | Path | None = None,
    estimator: str = "tight",
    prior_noise_m: float = 2.0,
    prior_noise_deg: float = 2.0,
    oracle_noise_px: float = 1.0,
    oracle_miss: float = 0.1,
    oracle_false: float = 0.25,
    max_frames: int = 0,
    seed: int = 0,
    score_threshold: float | None = None,
    reproj_px: float | None = None,
    gate_px: float | None = None,
    dedup_px: float | None = None,
    ignore_classes: tuple[str, ...] = (),
    progress: bool = True,
    track=None,
) -> dict:
    """Localize the vehicle along ``drive`` and write trajectory.csv, errors.csv (with ground truth),
    summary.json and trajectory.png into ``out_dir``; returns the summary.

    Detections come from ``model`` (.tflite or .keras, model card beside it) or, with ``oracle``, from the
    projected ground truth with ``oracle_noise_px`` pixel noise, ``oracle_miss`` misses and ``oracle_false``
    false detections per frame. The prior is ``prior`` (poses.json layout), else ``drive/prior.json``, else
    ``drive/poses.json`` plus simulated noise (:func:`make_prior`, seeded by ``seed``); ``prior_noise_m`` and
    ``prior_noise_deg`` are its 1-sigma. ``reproj_px``, ``gate_px`` and ``dedup_px`` override the detector
    profile (:func:`detector_profile`); ``score_threshold`` the model card's; ``ignore_classes`` are
    detected classes left out of the pose. ``track`` (a TrackerConfig, with ``model``) feeds the pose only
    the confirmed landmark tracks (:func:`tracked_detections`). ``max_frames`` > 0 stops early.
    ``progress`` shows a progress bar (tqdm, on stderr). The options are those of
    ``python -m keras_lmk.localize`` (:mod:`keras_lmk.localize`)."""
    if prior_noise_m <= 0 or prior_noise_deg <= 0:
        raise ValueError("prior_noise_m and prior_noise_deg must be positive")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    if oracle and track is not None:
        raise ValueError("--track tracks a model's detections: use it with --model")
    drive = Path(drive)
    if not drive.is_dir():
        raise FileNotFoundError(f"{drive}: no such drive folder (one with camera.json, map.json and frames)")
    for name in ("camera.json", "map.json"):
        if not (drive / name).is_file():
            raise FileNotFoundError(f"{drive}: drive folder without {name}")
    out = check_writable_dir(out_dir)
    camera = load_camera(drive / "camera.json")
    lmap = load_map(drive / "map.json")
    truth = load_poses(drive / "poses.json") if (drive / "poses.json").is_file() else None
    prior_path = Path(prior) if prior else drive / "prior.json"
    if prior_path.is_file():
        prior_poses = load_poses(prior_path)
    elif truth is not None:
        prior_poses = make_prior(truth, prior_noise_m, prior_noise_deg, seed)
    else:
        raise FileNotFoundError(f"{drive}: no poses.json to simulate a prior from; pass --prior")
    if oracle:
        if truth is None:
            raise FileNotFoundError(
                f"{drive}/poses.json: --oracle-detections projects the map from true poses"
            )
        taxonomy = load_taxonomy(lmap.taxonomy_name)
        rng = np.random.default_rng([seed, 9])
        kw = {"noise_px": oracle_noise_px, "miss": oracle_miss, "false_rate": oracle_false}
        n = min(len(truth), max_frames or len(truth))
        dets = ((i, *oracle_detections(lmap, camera, truth[i], taxonomy, rng, **kw)) for i in range(n))
    else:
        if not model:
            raise ValueError("pass --model M (.tflite or .keras) or --oracle-detections")
        holder: list = []
        gen = model_detections(model, drive, camera, holder, score_threshold, tuple(ignore_classes))
        first = next(gen, None)
        if first is None:
            raise FileNotFoundError(f"{drive}: no readable frames")
        taxonomy = holder[0]
        dets = _chain_first(first, gen, max_frames)
        if track is not None:
            dets = tracked_detections(dets, track, camera.width)
        n = len(FrameSource(drive_frames(drive)))  # a video's count is the container's (may be approximate)
        n = min(n, max_frames or n)
    dets = tqdm(dets, total=n, unit="frame", disable=not progress, desc="localize")
    solver, dedup = detector_profile(
        camera, oracle=oracle, reproj_px=reproj_px, gate_px=gate_px, dedup_px=dedup_px
    )
    tight = TightConfig(pixel_sigma=max(oracle_noise_px, 1.0)) if oracle else TightConfig()
    filt_cfg = default_filter(estimator)
    rows = localize(camera, lmap, taxonomy, dets, prior_poses, prior_noise_m=prior_noise_m,
                    prior_noise_deg=prior_noise_deg, solver=solver, filt_cfg=filt_cfg, dedup_px=dedup,
                    estimator=estimator, tight=tight)  # fmt: skip
    errs, summary = evaluate(rows, truth, prior_poses)
    summary.update(
        {
            "drive": str(drive),
            "mode": "oracle" if oracle else f"model {model}",
            "prior_noise_m": prior_noise_m,
            "prior_noise_deg": prior_noise_deg,
            "seed": seed,
            "estimator": estimator,
            "solver": dict(solver.__dict__),
            "tight": dict(tight.__dict__) if estimator == "tight" else None,
            "filter": dict(filt_cfg.__dict__),
            "dedup_px": dedup,
            "track": dict(track.__dict__) if track is not None else None,
        }
    )
    atomic_write_text(out / "trajectory.csv", _csv(rows, TRAJECTORY_FIELDS))
    if errs:
        atomic_write_text(out / "errors.csv", _csv(errs, list(errs[0])))
    atomic_write_json(out / "summary.json", summary)
    plot_trajectory(out / "trajectory.png", lmap, taxonomy, rows, truth, prior_poses)
    return summary


def _chain_first(first, rest, max_frames):
    yield first
    for k, item in enumerate(rest, start=2):
        if max_frames and k > max_frames:
            return
        yield item
