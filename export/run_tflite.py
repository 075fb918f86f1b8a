"""Run an exported .tflite detector on images, without TensorFlow (ai-edge-litert + numpy + OpenCV).

    python export/run_tflite.py out/model_int8.tflite photo.jpg [more.jpg ...] [--threads 2]

Prints one JSON line per image: {"image", "landmarks": [{"class", "x", "y", "score"}, ...]} in original-image
pixels. The model card (out/model_int8.json) must sit beside the model. Everything (letterbox,
(de)quantisation with the interpreter's scale/zero point, decoding) is keras_lmk.inference.runtime: this
script only wires it up. An unreadable image is skipped with a ``warning:`` line; a bad model, or no readable
image at all, ends with an ``error:`` line and exit status 2, like the package's command lines.
"""

from __future__ import annotations

import json
import sys

from keras_lmk.cli import command, make_parser, positive_int
from keras_lmk.data.frames import read_image_rgb
from keras_lmk.inference.runtime import LandmarkRuntime


@command
def main(argv=None) -> int:
    p = make_parser("python export/run_tflite.py", __doc__)
    p.add_argument("model", help=".tflite file with its model card <name>.json beside it")
    p.add_argument("images", nargs="+", help="image files (jpg, png, bmp)")
    p.add_argument("--threads", type=positive_int, default=2, help="TFLite interpreter threads")
    args = p.parse_args(argv)
    rt = LandmarkRuntime(args.model, num_threads=args.threads)
    done = 0
    for path in args.images:
        rgb = read_image_rgb(path)
        if rgb is None:
            print(f"warning: {path}: unreadable image, skipped", file=sys.stderr)
            continue
        dets = rt.predict_frame(rgb)
        marks = [
            {
                "class": rt.taxonomy.names[int(c)],
                "x": round(float(pt[0]), 2),
                "y": round(float(pt[1]), 2),
                "score": round(float(s), 4),
            }
            for c, pt, s in zip(dets.classes, dets.points, dets.scores, strict=True)
        ]
        print(json.dumps({"image": path, "landmarks": marks}))
        done += 1
    if not done:
        raise ValueError(f"{args.images[0]}: no readable image among the {len(args.images)} given")
    return 0


if __name__ == "__main__":
    sys.exit(main())
