"""Run an exported .tflite detector on images, without TensorFlow (ai-edge-litert + numpy + OpenCV).

    python export/run_tflite.py out/model_int8.tflite photo.jpg [more.jpg ...] [--threads 2]

Prints one JSON line per image: {"image", "landmarks": [{"class", "x", "y", "score"}, ...]} in original-image
pixels. The model card (out/model_int8.json) must sit beside the model. Everything (letterbox,
(de)quantisation with the
interpreter's scale/zero point, decoding) is keras_lmk.inference.runtime: this script only wires it up.
"""

from __future__ import annotations

import argparse
import json
import sys

from keras_lmk.data.frames import read_image_rgb
from keras_lmk.inference.runtime import LandmarkRuntime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help=".tflite file with its model card <name>.json beside it")
    p.add_argument("images", nargs="+")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    rt = LandmarkRuntime(args.model, num_threads=args.threads)
    for path in args.images:
        rgb = read_image_rgb(path)
        if rgb is None:
            print(f"skipping {path}: unreadable image", file=sys.stderr)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
