"""Predict landmarks on an image, a folder of images or a video; write COCO keypoint-results JSON.

The library behind ``python -m keras_lmk.predict``; usage, options and outputs: :mod:`keras_lmk.predict`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from keras_lmk.atomic import atomic_write, check_writable_dir
from keras_lmk.data.frames import Frame, FrameSource
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.decode import Detections
from keras_lmk.inference.runtime import open_runner, with_threshold
from keras_lmk.inference.tracking import LandmarkTracker, TrackedDetections, TrackerConfig


def detection_entries(frame: Frame, dets: Detections | TrackedDetections, taxonomy: Taxonomy) -> list[dict]:
    """COCO keypoint-result entries of one frame; tracked detections add ``track_id`` (their points are the
    tracker's filtered points)."""
    entries = []
    track_ids = dets.track_ids.tolist() if isinstance(dets, TrackedDetections) else [None] * len(dets)
    for cls, (x, y), score, tid in zip(
        dets.classes.tolist(), dets.points.tolist(), dets.scores.tolist(), track_ids, strict=True
    ):
        e = {
            "image_id": frame.index,
            "file_name": frame.name,
            "category_id": int(cls),
            "category": taxonomy.classes[cls].name,
            "keypoints": [round(x, 2), round(y, 2), 1],
            "score": round(score, 4),
        }
        if tid is not None:
            e["track_id"] = int(tid)
        if frame.timestamp_s is not None:
            e["timestamp_s"] = round(frame.timestamp_s, 4)
        entries.append(e)
    return entries


def run(
    model: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    render: str | Path | None = None,
    score_threshold: float | None = None,
    threads: int = 2,
    progress: bool = True,
    track: TrackerConfig | None = None,
) -> dict:
    """Predict every frame of ``input_path``; returns a summary dict. With ``track`` the frames are one
    sequence (a video, or a folder in file order) and the detections go through
    :class:`~keras_lmk.inference.tracking.LandmarkTracker`: entries get a ``track_id`` and filtered points,
    and unconfirmed detections are left out."""
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"{out}: is a folder; --out wants a JSON file name")
    check_writable_dir(out.parent)  # fail before loading the model and decoding frames
    source = FrameSource(input_path)
    runner = open_runner(model, num_threads=threads)
    runner.decoder = with_threshold(runner.decoder, score_threshold)
    sink = None
    if render:
        from keras_lmk.inference.render import RenderSink, draw_detections

        sink = RenderSink(render, fps=getattr(source, "fps", 10.0))
    counts = {"frames": 0, "detections": 0, "t_model": 0.0}
    tracker = LandmarkTracker(track) if track is not None else None
    reported: set[int] = set()  # track ids written (a track never confirmed is never written)

    def stream(tmp: str, tmp_frames: str) -> None:
        # entries go straight to the (temporary) output files: memory stays flat on long drives
        with open(tmp, "w") as f, open(tmp_frames, "w") as ff:
            f.write("[")
            ff.write("[")
            for frame in tqdm(source, total=len(source), unit="frame", disable=not progress, desc="predict"):
                t0 = time.perf_counter()
                dets = runner.predict_frame(frame.image)
                counts["t_model"] += time.perf_counter() - t0
                if tracker is not None:
                    dets = tracker.update(dets.points, dets.classes, dets.scores, frame.image.shape[1])
                    reported.update(dets.track_ids.tolist())
                entries = detection_entries(frame, dets, runner.taxonomy)
                for e in entries:
                    f.write(("\n" if counts["detections"] == 0 else ",\n") + json.dumps(e))
                    counts["detections"] += 1
                ff.write(
                    ("\n" if counts["frames"] == 0 else ",\n") + json.dumps(frame_entry(frame, len(entries)))
                )
                counts["frames"] += 1
                if sink is not None:
                    sink.write(
                        draw_detections(frame.image, dets, runner.taxonomy),
                        frame.name,
                        frame.index,
                        source.kind == "video",
                    )
            f.write("\n]\n")
            ff.write("\n]\n")

    frames_out = frames_path(out)
    ok = False
    try:
        # the previous files stay until the whole run has succeeded
        atomic_write(frames_out, lambda tmp_frames: atomic_write(out, lambda tmp: stream(tmp, tmp_frames)))
        ok = True
    finally:
        if sink is not None:
            sink.close(commit=ok)
    frames, t_model = counts["frames"], counts["t_model"]
    return {
        "frames": frames,
        "skipped": source.skipped,
        "detections": counts["detections"],
        "model_fps": frames / t_model if t_model > 0 else 0.0,
        "tracks": len(reported) if tracker is not None else None,
        "unconfirmed_tracks": tracker.tracks_started - len(reported) if tracker is not None else None,
        "out": str(out),
        "frames_out": str(frames_out),
    }


def frames_path(out: str | Path) -> Path:
    """Where the frame list of predictions ``out`` goes: ``preds.json`` -> ``preds.frames.json``."""
    out = Path(out)
    return out.with_name(f"{out.stem if out.suffix.lower() == '.json' else out.name}.frames.json")


def frame_entry(frame: Frame, landmarks: int) -> dict:
    """One processed frame in the frame list: its ``image_id``/``file_name`` (and ``timestamp_s``) as in
    the predictions, and how many landmarks the predictions hold for it (0 for an empty frame; a skipped
    frame is not listed)."""
    e = {"image_id": frame.index, "file_name": frame.name, "landmarks": landmarks}
    if frame.timestamp_s is not None:
        e["timestamp_s"] = round(frame.timestamp_s, 4)
    return e
