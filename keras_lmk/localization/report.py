"""Localization results: per-frame errors against the true poses, summary statistics, the trajectory CSV
and the trajectory/error plots.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.geometry.camera import Pose
from keras_lmk.geometry.map_ground_truth import LandmarkMap
from keras_lmk.localization.pose_solver import (
    pose_error,
)

TRAJECTORY_FIELDS = ["frame", "x", "y", "z", "yaw", "pitch", "roll", "n_matches", "n_inliers", "status"]


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "median": None, "p90": None, "max": None}
    v = np.asarray(values)
    return {
        "n": len(v),
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
    }


def evaluate(rows: list[dict], truth: list[Pose] | None, prior: list[Pose]) -> tuple[list[dict], dict]:
    """Per-frame error rows and the summary (errors only when ``truth`` is given)."""
    status = [r["status"] for r in rows]
    summary: dict = {
        "frames": len(rows),
        "status_counts": {
            s: status.count(s) for s in ("tight", "pnp", "planar", "reset", "rejected", "none", "prior")
        },
        "solve_ms_median": float(np.median([r["solve_ms"] for r in rows])) if rows else None,
    }
    if truth is None:
        return [], summary
    errs, vis = [], []
    for r in rows:
        t = truth[r["frame"]]
        e, p = pose_error(r["pose"], t), pose_error(prior[r["frame"]], t)
        errs.append({"frame": r["frame"], **e, **{f"prior_{k}": v for k, v in p.items()}})
        if r["vision"] is not None:
            vis.append(pose_error(r["vision"], t))
    for name, src, pre in (("estimate", errs, ""), ("prior", errs, "prior_"), ("vision_fixes", vis, "")):
        summary[name] = {
            "position_m": _stats([e[f"{pre}pos_err_m"] for e in src]),
            "cross_track_m": _stats([abs(e[f"{pre}cross_err_m"]) for e in src]),
            "heading_deg": _stats([e[f"{pre}heading_err_deg"] for e in src]),
        }
    return errs, summary


def _csv(rows: list[dict], fields: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()})
    return buf.getvalue()


def plot_trajectory(path: Path, lmap: LandmarkMap, taxonomy: Taxonomy, rows, truth, prior) -> None:
    """Top view (x east, y north) of the map landmarks and the true, prior and estimated trajectories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [r["frame"] for r in rows]
    if truth is None:
        fig, ax = plt.subplots(figsize=(9, 9))
    else:  # top view over the error per frame: decimetres do not show at map scale
        fig, (ax, ax_err) = plt.subplots(2, 1, figsize=(9, 11), gridspec_kw={"height_ratios": [2.2, 1]})
        _plot_errors(ax_err, rows, truth, prior)
    for c in taxonomy.classes[1:]:
        pts = np.array([lm.point for lm in lmap.landmarks if lm.cls == c.name]).reshape(-1, 3)
        if len(pts):
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=12,
                color=np.array(c.color) / 255,
                edgecolors="0.3",
                linewidths=0.3,
                label=c.name,
                zorder=1,
            )
    pr = np.array([[prior[i].x, prior[i].y] for i in frames]).reshape(-1, 2)
    ax.plot(pr[:, 0], pr[:, 1], ".", color="0.6", ms=3, label="prior", zorder=2)
    if truth is not None:
        tr = np.array([[truth[i].x, truth[i].y] for i in frames]).reshape(-1, 2)
        ax.plot(tr[:, 0], tr[:, 1], "-", color="k", lw=2, label="true", zorder=3)
    est = np.array([[r["x"], r["y"]] for r in rows]).reshape(-1, 2)
    ax.plot(est[:, 0], est[:, 1], "-", color="tab:red", lw=1, label="estimate", zorder=4)
    if len(est):  # frame on the drive, not the whole map
        lo, hi = est.min(0) - 30, est.max(0) + 30
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x east (m)")
    ax.set_ylabel("y north (m)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("map-based localization (top view)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_errors(ax, rows, truth, prior) -> None:
    """Horizontal position error (m) of the estimate and the prior per frame; heading error (deg) on a twin
    axis."""
    frames = [r["frame"] for r in rows]
    est = [pose_error(r["pose"], truth[r["frame"]]) for r in rows]
    pri = [pose_error(prior[i], truth[i]) for i in frames]
    ax.plot(frames, [e["pos_err_m"] for e in pri], color="0.6", lw=1, label="prior position")
    ax.plot(frames, [e["pos_err_m"] for e in est], color="tab:red", lw=1.2, label="estimate position")
    ax.set_xlabel("frame")
    ax.set_ylabel("position error (m)")
    ax.set_ylim(bottom=0)
    tw = ax.twinx()
    tw.plot(frames, [e["heading_err_deg"] for e in est], color="tab:blue", lw=0.8, alpha=0.7,
            label="estimate heading")  # fmt: skip
    tw.set_ylabel("heading error (deg)", color="tab:blue")
    tw.set_ylim(bottom=0)
    med = np.median([e["pos_err_m"] for e in est]), np.median([e["heading_err_deg"] for e in est])
    ax.set_title(f"error per frame (estimate median {med[0]:.2f} m, {med[1]:.2f} deg)")
    lines = ax.get_legend_handles_labels()[0] + tw.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], loc="upper right", fontsize=8)
