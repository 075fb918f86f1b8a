"""Predict landmarks on an image, a folder of images or a video; write COCO keypoint-results JSON.

    python -m keras_lmk.predict --model run/model.tflite --input drive.mp4 --out preds.json \
        [--render preds.mp4 | --render rendered/] [--score-threshold 0.4] [--threads 2]

The model card (grid, taxonomy, decoder settings) is read from beside the model (see keras_lmk.runtime).
Output: a JSON list, one entry per landmark::

    {"image_id": 3, "file_name": "sub/0003.jpg", "category_id": 2, "category": "regulatory",
     "keypoints": [x, y, 1], "score": 0.91}                      # + "timestamp_s" for video frames

image_id is the frame index (video) or the position in the sorted file list (folder); file_name is relative to
the input folder, or the video's name. Points are original-image pixels, x right, y down.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from tqdm import tqdm

from keras_lmk.atomic import atomic_write, check_writable_dir
from keras_lmk.decode import Detections
from keras_lmk.frames import Frame, FrameSource, FrameSourceError
from keras_lmk.runtime import ModelCardError, open_runner, with_threshold
from keras_lmk.taxonomy import Taxonomy


def detection_entries(frame: Frame, dets: Detections, taxonomy: Taxonomy) -> list[dict]:
    entries = []
    for cls, (x, y), score in zip(
        dets.classes.tolist(), dets.points.tolist(), dets.scores.tolist(), strict=True
    ):
        e = {
            "image_id": frame.index,
            "file_name": frame.name,
            "category_id": int(cls),
            "category": taxonomy.classes[cls].name,
            "keypoints": [round(x, 2), round(y, 2), 1],
            "score": round(score, 4),
        }
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
) -> dict:
    """Predict every frame of ``input_path``; returns a summary dict."""
    out = Path(out)
    check_writable_dir(out.parent)  # fail before loading the model and decoding frames
    source = FrameSource(input_path)
    runner = open_runner(model, num_threads=threads)
    runner.decoder = with_threshold(runner.decoder, score_threshold)
    sink = None
    if render:
        from keras_lmk.render import RenderSink, draw_detections

        sink = RenderSink(render, fps=getattr(source, "fps", 10.0))
    counts = {"frames": 0, "detections": 0, "t_model": 0.0}

    def stream(tmp: str) -> None:
        # entries go straight to the (temporary) output file: memory stays flat on long drives
        with open(tmp, "w") as f:
            f.write("[")
            for frame in tqdm(source, total=len(source), unit="frame", disable=not progress, desc="predict"):
                t0 = time.perf_counter()
                dets = runner.predict_frame(frame.image)
                counts["t_model"] += time.perf_counter() - t0
                counts["frames"] += 1
                for e in detection_entries(frame, dets, runner.taxonomy):
                    f.write(("\n" if counts["detections"] == 0 else ",\n") + json.dumps(e))
                    counts["detections"] += 1
                if sink is not None:
                    sink.write(
                        draw_detections(frame.image, dets, runner.taxonomy),
                        frame.name,
                        frame.index,
                        source.kind == "video",
                    )
            f.write("\n]\n")

    try:
        atomic_write(out, stream)  # the previous file stays until the whole run has succeeded
    finally:
        if sink is not None:
            sink.close()
    frames, t_model = counts["frames"], counts["t_model"]
    return {
        "frames": frames,
        "skipped": source.skipped,
        "detections": counts["detections"],
        "model_fps": frames / t_model if t_model > 0 else 0.0,
        "out": str(out),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m keras_lmk.predict", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model.keras or model.tflite (model card beside it)")
    ap.add_argument("--input", required=True, help="image file, folder of images, or video (mp4/avi)")
    ap.add_argument("--out", required=True, help="predictions JSON (COCO keypoint results)")
    ap.add_argument("--render", help="folder for rendered images, or an .mp4/.avi video")
    ap.add_argument("--score-threshold", type=float, help="override the model card's decoder threshold")
    ap.add_argument("--threads", type=int, default=2, help="TFLite interpreter threads")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            summary = run(
                args.model,
                args.input,
                args.out,
                render=args.render,
                score_threshold=args.score_threshold,
                threads=args.threads,
                progress=not args.no_progress,
            )
    except (FrameSourceError, ModelCardError, FileNotFoundError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{summary['frames']} frames ({summary['skipped']} skipped), {summary['detections']} landmarks, "
        f"{summary['model_fps']:.1f} frames/s (model+decode) -> {summary['out']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
