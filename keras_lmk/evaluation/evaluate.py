"""Evaluate a detector on annotated images: point-matching AP, P/R/F1, point error, confusion, frames/s.

The library behind ``python -m keras_lmk.evaluate``; usage, options and outputs: :mod:`keras_lmk.evaluate`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import time
import warnings
from pathlib import Path

from tqdm import tqdm

from keras_lmk.atomic import atomic_write, atomic_write_json, check_writable_dir, strict_json
from keras_lmk.data.coco_reader import CocoReader
from keras_lmk.data.frames import FrameSource, FrameSourceError, drive_frames, read_image_rgb
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.evaluation.matching import DEFAULT_TOLERANCES
from keras_lmk.evaluation.metrics import PointEvaluator
from keras_lmk.evaluation.tracking_metrics import SequenceTracking
from keras_lmk.inference.runtime import open_runner, with_threshold
from keras_lmk.inference.tracking import TrackerConfig

SYNTHETIC_FILES = ("map.json", "camera.json", "poses.json", "annotations.json")
CSV_FIELDS = [
    "image_id",
    "file_name",
    "frame_index",
    "num_gt",
    "num_pred",
    "tp",
    "fp",
    "fn",
    "median_point_error_px",
    "latency_ms",
]


def load_ground_truth(
    data: str | Path, taxonomy, images: str | Path | None = None, video: str | Path | None = None
) -> tuple[CocoReader, FrameSource | None]:
    """(ground truth, the video its frames come from or None for image files) of a COCO JSON or a drive
    directory. The ground truth is validated now and iterated one ImageRecord at a time (a few bytes per
    landmark held, whatever the drive's length)."""
    data = Path(data)
    if data.is_dir():
        missing = [f for f in SYNTHETIC_FILES if not (data / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{data}: not a synthetic drive directory (missing {', '.join(missing)})")
        if video is None and not (data / "images").is_dir():  # a recorded drive: one video, no images/
            with contextlib.suppress(FileNotFoundError):  # neither: the annotations' file names decide
                video = drive_frames(data)
        data = data / "annotations.json"
    elif not data.is_file():
        raise FileNotFoundError(f"{data}: no such COCO JSON or drive directory")
    if video is None:
        return CocoReader(data, taxonomy, images), None
    source = FrameSource(video)
    if source.kind != "video":
        raise FrameSourceError(f"{video}: not a video")
    return CocoReader(data, taxonomy, video_size=source.size), source


def frames_with_truth(records: CocoReader, video: FrameSource | None):
    """(record, RGB frame or None when it cannot be read, file name, frame index or None) for every
    ground-truth record, in the records' order. Unreadable images and corrupt frames warn."""
    if video is None:
        for rec in records:
            rgb = read_image_rgb(rec.image_path)
            if rgb is None:
                warnings.warn(f"{rec.image_path}: unreadable or truncated image, skipped", stacklevel=2)
            yield rec, rgb, Path(rec.image_path).name, None
        return
    name = video.path.name
    truth = zip(records.frame_indices().tolist(), records, strict=True)
    want, rec = next(truth, (None, None))
    for frame in video:  # corrupt frames are skipped, with a warning, by the frame source
        while want is not None and want < frame.index:
            yield rec, None, name, want
            want, rec = next(truth, (None, None))
        if want == frame.index:
            yield rec, frame.image, name, want
            want, rec = next(truth, (None, None))
    missing = 0
    while want is not None:
        missing += 1
        yield rec, None, name, want
        want, rec = next(truth, (None, None))
    if missing:
        warnings.warn(
            f"{video.path}: ends before {missing} annotated frame(s), counted as skipped", stacklevel=2
        )


def curve_config(op_cfg: DecoderConfig, curve_threshold: float, num_classes: int) -> DecoderConfig:
    """The decoder for the precision/recall curves: every class down to ``curve_threshold`` (and at least
    to the lowest operating threshold). With a vote threshold the curve starts at the operating decoder's
    vote gate instead, so its clusters are the operating decoder's and a threshold read from the curve gives
    exactly that curve point when the decoder runs at it (calibration is exact)."""
    lowest = float(op_cfg.class_thresholds(num_classes)[1:].min())
    start = (
        min(curve_threshold, lowest) if op_cfg.vote_threshold is None else min(op_cfg.vote_threshold, lowest)
    )
    return dataclasses.replace(op_cfg, score_threshold=start, class_score_thresholds=())


def run(
    model: str | Path,
    data: str | Path,
    out_dir: str | Path,
    *,
    images: str | Path | None = None,
    video: str | Path | None = None,
    score_threshold: float | None = None,
    curve_threshold: float = 0.05,
    threads: int = 2,
    progress: bool = True,
    tolerances=DEFAULT_TOLERANCES,
    track: TrackerConfig | None = None,
    track_tolerance_px: float = 8.0,
) -> dict:
    """Evaluate ``model`` on ``data`` into ``out_dir``; returns the metrics dict (also metrics.json).

    tolerances: match radii; the first is the primary one (point errors, confusion, best F1).
    track: also track the operating-point detections over the frames in order and add ``tracking``
    (:class:`~keras_lmk.evaluation.tracking_metrics.SequenceTracking`, matched within ``track_tolerance_px``).
    """
    out_dir = check_writable_dir(out_dir)
    runner = open_runner(model, num_threads=threads)
    op_cfg = with_threshold(runner.decoder, score_threshold)
    op_thresholds = op_cfg.class_thresholds(runner.taxonomy.num_classes)
    curve_cfg = curve_config(op_cfg, curve_threshold, runner.taxonomy.num_classes)
    records, frames = load_ground_truth(data, runner.taxonomy, images, video)
    ev = PointEvaluator(runner.taxonomy, tolerances, op_thresholds)
    seq = SequenceTracking(track, track_tolerance_px) if track is not None else None
    skipped, t_model = 0, 0.0
    t_start = time.perf_counter()

    def stream_rows(tmp: str) -> None:  # one CSV row per frame, straight to disk
        nonlocal skipped, t_model
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS)
            w.writeheader()
            stream = frames_with_truth(records, frames)
            for rec, rgb, name, frame_index in tqdm(
                stream, total=len(records), unit="frame", disable=not progress, desc="evaluate"
            ):
                if rgb is None:
                    skipped += 1
                    continue
                size = (rgb.shape[1], rgb.shape[0])
                t0 = time.perf_counter()
                logits, points, lb = runner.infer_frame(rgb)
                dets = runner.refine(runner.decode(logits, points, lb, size, op_cfg), rgb)  # = predict.py
                dt = time.perf_counter() - t0
                t_model += dt
                curve = runner.refine(runner.decode(logits, points, lb, size, curve_cfg), rgb)
                row = ev.add_frame(
                    rec.points,
                    rec.classes,
                    rec.boxes,
                    curve.points,
                    curve.classes,
                    curve.scores,
                    op_points=dets.points,
                    op_classes=dets.classes,
                    op_scores=dets.scores,
                    ignore_boxes=rec.ignore_boxes,
                    unlabelled=rec.unlabelled,
                )
                if seq is not None:
                    seq.add_frame(rec, dets, size[0])
                w.writerow(
                    {
                        "image_id": rec.image_id,
                        "file_name": name,
                        "frame_index": frame_index,
                        **row,
                        "latency_ms": round(1000 * dt, 3),
                    }
                )
        if ev.num_frames == 0:
            raise ValueError(f"{data}: no readable images to evaluate")

    # the CSV lands first, metrics.json (what marks a finished evaluation) after it; a failed run keeps the
    # previous files
    atomic_write(out_dir / "per_frame.csv", stream_rows)
    wall = time.perf_counter() - t_start
    summary = ev.summary()
    summary.update(
        {
            "model": str(model),
            "data": str(data),
            "video": str(frames.path) if frames is not None else None,
            "skipped_images": skipped,
            "frames_per_s": ev.num_frames / t_model,
            "frames_per_s_end_to_end": ev.num_frames / wall,
            "curve_threshold": curve_cfg.score_threshold,
            "decoder": op_cfg.to_json(),
        }
    )
    if seq is not None:
        summary["tracking"] = seq.summary()
    atomic_write_json(out_dir / "metrics.json", strict_json(summary))
    _plots(ev, out_dir)
    return summary


def _plots(ev: PointEvaluator, out_dir: Path):
    from keras_lmk.evaluation.plots import plot_confusion, plot_point_errors, plot_pr_curves

    plot_pr_curves(ev.pr_curves(), ev.taxonomy, out_dir / "pr_curves.png", ev.tolerances[0].name)
    plot_point_errors(ev.point_errors()[0], ev.threshold, out_dir / "point_errors.png")
    plot_confusion(ev.confusion_matrix()[0], list(ev.taxonomy.names), out_dir / "confusion.png")
