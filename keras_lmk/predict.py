r"""Predict landmarks on an image, a folder of images or a video; write COCO keypoint-results JSON.

    python -m keras_lmk.predict --model run/model.tflite --input drive.mp4 --out preds.json \
        [--render preds.mp4 | --render rendered/] [--score-threshold 0.4] [--threads 2] [--track]

The model card (grid, taxonomy, decoder settings) is read from beside the model (see
keras_lmk.inference.runtime).
Output: a JSON list, one entry per landmark::

    {"image_id": 3, "file_name": "sub/0003.jpg", "category_id": 2, "category": "regulatory",
     "keypoints": [x, y, 1], "score": 0.91}                      # + "timestamp_s" for video frames

image_id is the frame index (video) or the position in the sorted file list (folder); file_name is relative to
the input folder, or the video's name. Points are original-image pixels, x right, y down.
Beside it, ``preds.frames.json`` lists every processed frame, with no detection too (an unreadable image or
corrupt frame, skipped with a warning, is not listed)::

    {"image_id": 3, "file_name": "sub/0003.jpg", "landmarks": 0}   # + "timestamp_s" for video frames

``--render``: a video is written under a temporary name and renamed when the run succeeds; a failed run
removes the output folders it created while they are still empty.

``--track`` treats the frames as one drive (a video, or a folder in file order) and tracks the landmarks
(keras_lmk/inference/tracking.py): each entry gets a ``"track_id"`` stable across frames, its point is the
tracker's filtered point, and detections not yet confirmed by ``--track-min-hits`` frames are left out. The
summary's track count is the number of track ids in the JSON (tracks never confirmed are counted apart).
"""

from __future__ import annotations

import sys
import warnings

from keras_lmk.cli import (
    add_input_argument,
    add_runner_arguments,
    add_tracking_arguments,
    command,
    make_parser,
    start_tensorflow,
    tracker_config,
)
from keras_lmk.inference.predict import run


@command
def main(argv=None) -> int:
    ap = make_parser("python -m keras_lmk.predict", __doc__)
    ap.add_argument("--model", required=True, help="model.keras or model.tflite (model card beside it)")
    add_input_argument(ap, "image file, folder of images (recursive), or video (mp4/avi/mov/mkv)")
    ap.add_argument(
        "--out", required=True, metavar="FILE", help="predictions JSON file (COCO keypoint results)"
    )
    ap.add_argument("--render", metavar="DIR|VIDEO", help="folder for rendered images, or an .mp4/.avi video")
    add_runner_arguments(ap)
    add_tracking_arguments(ap)
    args = ap.parse_args(argv)
    track = tracker_config(args)
    if args.model.endswith(".keras"):  # a .tflite model runs without TensorFlow
        start_tensorflow()
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
            track=track,
        )
    print(
        f"{summary['frames']} frames ({summary['skipped']} skipped), {summary['detections']} landmarks, "
        f"{summary['model_fps']:.1f} frames/s (model+decode)"
        + (
            f", {summary['tracks']} tracks ({summary['unconfirmed_tracks']} never confirmed: not written)"
            if track is not None
            else ""
        )
        + f" -> {summary['out']} (every frame: {summary['frames_out']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
