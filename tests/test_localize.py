"""Localization CLI: simulated prior, oracle detections, end to end on tiny drives (no model, no images)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.geometry.camera import Camera, Mount, Pose, save_camera, save_poses
from keras_lmk.geometry.map_ground_truth import LandmarkMap, frame_ground_truth, make_landmark, save_map
from keras_lmk.localization.inputs import DETECTOR_SOLVER, detector_dedup_px, make_prior, oracle_detections
from keras_lmk.localization.localize import localize, run
from keras_lmk.localization.pose_solver import SolverConfig, pose_error
from keras_lmk.localization.report import TRAJECTORY_FIELDS
from keras_lmk.localize import main

TAX = load_taxonomy()


def _sign(i: int, cls: str, x: float, y: float, h: float) -> object:
    """A 0.6 m square sign face at (x, y, h) facing west (towards a vehicle driving east)."""
    half = 0.3
    # counter-clockwise seen from the west (looking east): y decreases to the viewer's right
    lo, hi = h - half, h + half
    outline = [[x, y + half, lo], [x, y - half, lo], [x, y - half, hi], [x, y + half, hi]]
    return make_landmark(i, cls, [x, y, h], outline, taxonomy=TAX)


def _marking(i: int, x: float, y: float) -> object:
    outline = [[x, y, 0.0], [x + 3, y, 0.0], [x + 3, y + 0.5, 0.0], [x, y + 0.5, 0.0]]
    return make_landmark(i, "road_marking", [x, y, 0.0], outline, taxonomy=TAX)


def _straight_drive(tmp_path, frames: int = 30):
    """Vehicle driving east at 2 m / frame, signs every 6-14 m on both sides, markings in the lane."""
    lms, k = [], 0
    rng = np.random.default_rng(7)  # irregular spacing: a periodic map is ambiguous along the road
    for x in np.cumsum(rng.uniform(6.0, 14.0, size=frames // 2 + 10)):
        lms += [_sign(k, "regulatory", x, -5.0, 2.5), _sign(k + 1, "warning", x + 4, 5.5, 3.2)]
        lms += [_marking(k + 2, x + 2, -1.0)]
        k += 3
    lmap = LandmarkMap(tuple(lms), TAX.name)
    cam = Camera.from_fov(320, 180, 70.0, mount=Mount(x=1.8, z=1.4, pitch=0.03), near=0.3)
    poses = [Pose(2.0 * i, -1.8, 0.0, 0.0, 0.0, 0.0) for i in range(frames)]
    save_camera(cam, tmp_path / "camera.json")
    save_poses(poses, tmp_path / "poses.json")
    save_map(lmap, tmp_path / "map.json")
    return cam, lmap, poses


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_make_prior_has_the_requested_noise_and_is_correlated():
    truth = [Pose(float(i), 0.0, 0.0, 0.3) for i in range(4000)]
    prior = make_prior(truth, 2.0, 3.0, seed=1)
    ex = np.array([p.x - t.x for p, t in zip(prior, truth, strict=True)])
    eyaw = np.degrees([p.yaw - t.yaw for p, t in zip(prior, truth, strict=True)])
    assert ex.std() == pytest.approx(2.0, rel=0.25)
    assert eyaw.std() == pytest.approx(3.0, rel=0.25)
    assert np.corrcoef(ex[:-1], ex[1:])[0, 1] > 0.85  # GPS-like: drifts, not white
    assert make_prior(truth[:5], 2.0, 3.0, seed=1) == prior[:5]  # seeded


def test_oracle_detections_are_the_projected_ground_truth(tmp_path):
    cam, lmap, poses = _straight_drive(tmp_path, 5)
    rng = np.random.default_rng(0)
    pts, cls = oracle_detections(lmap, cam, poses[2], TAX, rng, noise_px=0.0, miss=0.0, false_rate=0.0)
    gt = frame_ground_truth(lmap, cam, poses[2], taxonomy=TAX)
    assert gt.num_landmarks >= 4
    np.testing.assert_allclose(pts, gt.points, atol=1e-3)
    assert cls.tolist() == gt.classes.tolist()
    pts, cls = oracle_detections(lmap, cam, poses[2], TAX, rng, noise_px=1.0, miss=1.0, false_rate=3.0)
    assert len(cls) == len(pts) and (pts >= 0).all() and (pts <= [cam.width, cam.height]).all()


@pytest.mark.parametrize("estimator, vision_status", [("tight", "tight"), ("loose", "pnp")])
def test_cli_oracle_end_to_end_on_a_straight_drive(tmp_path, capsys, estimator, vision_status):
    _straight_drive(tmp_path / "drive", 30)
    out = tmp_path / "out"
    args = ["--drive", str(tmp_path / "drive"), "--out", str(out), "--oracle-detections", "--seed", "3"]
    rc = main([*args, "--estimator", estimator])
    assert rc == 0, capsys.readouterr().err
    rows = _read_csv(out / "trajectory.csv")
    assert list(rows[0]) == TRAJECTORY_FIELDS and len(rows) == 30
    assert sum(r["status"] == vision_status for r in rows) >= 20
    errs = _read_csv(out / "errors.csv")
    assert len(errs) == 30 and {"pos_err_m", "heading_err_deg", "prior_pos_err_m"} <= set(errs[0])
    s = json.loads((out / "summary.json").read_text())
    # the oracle keeps the solver's own (1 px noise) defaults, no duplicate suppression
    assert s["solver"]["reproj_px"] == 4.0 and s["dedup_px"] == 0.0 and s["estimator"] == estimator
    est, prior = s["estimate"], s["prior"]
    assert est["position_m"]["median"] < 0.3 < prior["position_m"]["median"]
    assert est["heading_deg"]["median"] < 0.3
    assert (out / "trajectory.png").stat().st_size > 10_000
    assert "position error median/p90" in capsys.readouterr().out


def test_localize_with_scores_drops_a_detector_s_duplicates(tmp_path):
    """A detector that reports each landmark twice, 8 px apart, the wrong copy less confident: the detector
    profile suppresses the copies and stays near the truth; without suppression they ruin the track."""
    cam, lmap, poses = _straight_drive(tmp_path, 24)
    prior = make_prior(poses, 1.0, 1.0, seed=2)
    assert detector_dedup_px(cam) == pytest.approx(15.0)  # 30 px per 640 px of width

    def run(dedup_px: float) -> list[dict]:
        rng = np.random.default_rng(1)

        def dets():
            for i, p in enumerate(poses):
                pts, cls = oracle_detections(lmap, cam, p, TAX, rng, noise_px=0.5, miss=0.0, false_rate=0.0)
                both = np.vstack([pts + [8.0, 0.0], pts]), np.concatenate([cls, cls])
                yield i, *both, np.repeat([0.6, 0.9], len(cls))

        rows = localize(cam, lmap, TAX, dets(), prior, prior_noise_m=1.0, prior_noise_deg=1.0,
                        solver=SolverConfig(**DETECTOR_SOLVER), dedup_px=dedup_px,
                        estimator="loose")  # fmt: skip
        return [pose_error(r["pose"], poses[r["frame"]]) for r in rows[6:]]  # truth is the reference

    err = run(detector_dedup_px(cam))
    assert np.median([e["pos_err_m"] for e in err]) < 0.1
    assert np.median([e["heading_err_deg"] for e in err]) < 0.25
    assert np.median([e["pos_err_m"] for e in run(0.0)]) > 1.0


def test_cli_uses_a_given_prior_file(tmp_path, capsys):
    _, _, poses = _straight_drive(tmp_path / "drive", 12)
    # a prior with a constant 1.5 m offset north: the estimate must come back to the truth
    save_poses([Pose(p.x, p.y + 1.5, p.z, p.yaw) for p in poses], tmp_path / "prior.json")
    out = tmp_path / "out"
    args = ["--drive", str(tmp_path / "drive"), "--out", str(out), "--oracle-detections"]
    assert main([*args, "--prior", str(tmp_path / "prior.json")]) == 0, capsys.readouterr().err
    errs = _read_csv(out / "errors.csv")
    assert float(errs[0]["prior_pos_err_m"]) == pytest.approx(1.5, abs=1e-3)
    assert float(errs[-1]["pos_err_m"]) < 0.3


def test_run_takes_typed_options_without_a_command_line(tmp_path):
    _straight_drive(tmp_path / "drive", 12)
    out = tmp_path / "out"
    s = run(tmp_path / "drive", out, oracle=True, max_frames=8, seed=3, dedup_px=4.0, estimator="loose")
    assert (s["frames"], s["mode"], s["estimator"], s["seed"]) == (8, "oracle", "loose", 3)
    assert s["dedup_px"] == 4.0 and s["tight"] is None  # the explicit radius beats the oracle's 0
    assert len(_read_csv(out / "trajectory.csv")) == 8
    with pytest.raises(ValueError, match="positive"):
        run(tmp_path / "drive", out, oracle=True, prior_noise_deg=0.0)
    with pytest.raises(ValueError, match="estimator"):
        run(tmp_path / "drive", out, oracle=True, estimator="kalman")
    with pytest.raises(ValueError, match="model"):
        run(tmp_path / "drive", out)


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["--drive", str(tmp_path), "--out", str(tmp_path / "o"), "--oracle-detections"]) == 2
    assert "camera.json" in capsys.readouterr().err
    _straight_drive(tmp_path, 3)
    assert main(["--drive", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--model" in capsys.readouterr().err


def test_cli_oracle_on_a_synthetic_drive(tmp_path, capsys):
    """The synthetic world (curves, lane changes, pitch/roll jitter), geometry only: no rendering."""
    from keras_lmk.synth.drive import make_camera
    from keras_lmk.synth.road import drive
    from keras_lmk.synth.world import build_world

    rng = np.random.default_rng([5, 0])
    cam = make_camera(320, 180, rng)
    world = build_world(260.0, 5)
    poses, _ = drive(world.road, 60, rng, step=2.6)
    d = tmp_path / "drive"
    d.mkdir()
    save_camera(cam, d / "camera.json")
    save_poses(poses, d / "poses.json")
    save_map(world.map, d / "map.json")
    assert main(["--drive", str(d), "--out", str(tmp_path / "out"), "--oracle-detections"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["estimate"]["position_m"]["median"] < 0.5 * s["prior"]["position_m"]["median"]
    assert s["estimate"]["heading_deg"]["median"] < 0.5
    assert math.isfinite(s["solve_ms_median"])


def test_a_missing_drive_or_drive_file_is_named(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["--drive", str(missing), "--out", str(tmp_path / "o"), "--oracle-detections"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {missing}: no such drive folder (one with camera.json, map.json and frames)\n"
    assert not (tmp_path / "o").exists()  # refused before the output folder was made
    _straight_drive(tmp_path / "d", 3)
    (tmp_path / "d" / "map.json").unlink()
    assert main(["--drive", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--oracle-detections"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'd'}: drive folder without map.json\n"


def test_progress_bar_counts_frames_unless_no_progress(tmp_path, capsys):
    _straight_drive(tmp_path / "drive", 5)
    args = ["--drive", str(tmp_path / "drive"), "--oracle-detections", "--estimator", "loose"]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert main([*args, "--out", str(tmp_path / "b"), "--max-frames", "4"]) == 0
    err = capsys.readouterr().err
    assert "localize" in err and "4/4" in err and "frame" in err  # tqdm: description, count, unit
