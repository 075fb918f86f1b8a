"""Localization report: per-frame errors and summary statistics on hand-made rows, CSV, the plot."""

import csv
import io
import math

import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.geometry.camera import Pose
from keras_lmk.geometry.map_ground_truth import LandmarkMap, make_landmark
from keras_lmk.localization.report import TRAJECTORY_FIELDS, _csv, evaluate, plot_trajectory

TAX = load_taxonomy()


def row(frame, pose, status, vision=None, solve_ms=1.0):
    angles = {"yaw": pose.yaw, "pitch": pose.pitch, "roll": pose.roll}
    return {"frame": frame, "x": pose.x, "y": pose.y, "z": pose.z, **angles, "n_matches": 3, "n_inliers": 2,
            "status": status, "pose": pose, "vision": vision, "solve_ms": solve_ms}  # fmt: skip


# truth heading north (yaw 90 deg): east errors are cross-track (to the right: negative), north errors along
TRUTH = [Pose(0.0, 10.0 * i, 0.0, math.pi / 2) for i in range(3)]
PRIOR = [Pose(t.x + 2.0, t.y, t.z, t.yaw) for t in TRUTH]  # 2 m east: 2 m cross-track
EST = [
    Pose(0.0, 0.0 + 1.0, 0.0, math.pi / 2 + math.radians(2)),  # 1 m ahead, 2 deg
    Pose(3.0, 14.0, 0.5, math.pi / 2),  # 3 m east, 4 m ahead: 5 m, z + 0.5
    Pose(0.0, 20.0, 0.0, math.pi / 2 - math.radians(1)),  # exact, 1 deg
]


def test_errors_and_summary_hand_computed():
    rows = [row(0, EST[0], "tight", EST[0], 2.0), row(1, EST[1], "rejected", None, 4.0),
            row(2, EST[2], "pnp", EST[2], 9.0)]  # fmt: skip
    errs, s = evaluate(rows, TRUTH, PRIOR)
    assert [e["pos_err_m"] for e in errs] == pytest.approx([1.0, 5.0, 0.0])
    assert [e["along_err_m"] for e in errs] == pytest.approx([1.0, 4.0, 0.0])
    assert [e["cross_err_m"] for e in errs] == pytest.approx([0.0, -3.0, 0.0])  # east = right of north
    assert [e["z_err_m"] for e in errs] == pytest.approx([0.0, 0.5, 0.0])
    assert [e["heading_err_deg"] for e in errs] == pytest.approx([2.0, 0.0, 1.0])
    assert all(e["prior_pos_err_m"] == pytest.approx(2.0) for e in errs)
    assert s["frames"] == 3 and s["solve_ms_median"] == 4.0
    assert s["status_counts"] == {"tight": 1, "pnp": 1, "planar": 0, "reset": 0, "rejected": 1, "none": 0,
                                  "prior": 0}  # fmt: skip
    pos = s["estimate"]["position_m"]
    # numpy's linear percentile of [0, 1, 5]: p90 = 1 + 0.8 * (5 - 1) = 4.2
    assert (pos["n"], pos["median"], pos["p90"], pos["max"]) == (3, 1.0, pytest.approx(4.2), 5.0)
    assert s["estimate"]["cross_track_m"]["max"] == pytest.approx(3.0)  # absolute value
    assert s["prior"]["position_m"]["median"] == pytest.approx(2.0)
    # vision fixes: frames 0 and 2 only
    assert s["vision_fixes"]["position_m"]["n"] == 2 and s["vision_fixes"]["heading_deg"][
        "max"
    ] == pytest.approx(2)


def test_without_truth_only_the_status_summary():
    errs, s = evaluate([row(0, EST[0], "prior")], None, PRIOR)
    assert errs == [] and "estimate" not in s and s["status_counts"]["prior"] == 1
    errs, s = evaluate([], TRUTH, PRIOR)
    assert s["solve_ms_median"] is None
    assert s["estimate"]["position_m"] == {"n": 0, "median": None, "p90": None, "max": None}


def test_csv_rounds_floats_and_keeps_only_the_fields():
    text = _csv([row(0, Pose(1.0 / 3, 2.0, 0.0, 0.123456789), "tight")], TRAJECTORY_FIELDS)
    got = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "frame,x,y,z,yaw,pitch,roll,n_matches,n_inliers,status"
    assert got == [{"frame": "0", "x": "0.33333", "y": "2.0", "z": "0.0", "yaw": "0.12346", "pitch": "0.0",
                    "roll": "0.0", "n_matches": "3", "n_inliers": "2", "status": "tight"}]  # fmt: skip


def test_plot_trajectory_writes_a_png(tmp_path):
    outline = [[5, 1, 2], [5, -1, 2], [5, -1, 3], [5, 1, 3]]
    lmap = LandmarkMap((make_landmark(1, "warning", [5, 0, 2.5], outline, taxonomy=TAX),), TAX.name)
    rows = [row(i, EST[i], "tight", EST[i]) for i in range(3)]
    for truth, name in ((TRUTH, "with_truth.png"), (None, "without.png")):
        plot_trajectory(tmp_path / name, lmap, TAX, rows, truth, PRIOR)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
