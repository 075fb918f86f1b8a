"""Render a synthetic drive: frames, camera, poses, the 3D landmark map and its projected COCO labels.

    python -m keras_lmk.synth --out /tmp/drive --frames 200 --seed 1
    python -m keras_lmk.synth --out /tmp/drive --frames 50 --width 320 --height 180 --clean --video

The same arguments give the same files (the folder layout: keras_lmk/synth/drive.py).
"""

from __future__ import annotations

import sys

from keras_lmk.atomic import check_writable_dir
from keras_lmk.cli import command, make_parser
from keras_lmk.synth.drive import generate_drive

MIN_SIZE_PX = 16


def parse_args(argv=None):
    p = make_parser("python -m keras_lmk.synth", __doc__)
    p.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (images/, map.json, annotations.json, ...)"
    )
    p.add_argument("--frames", type=int, default=200, help="number of frames, 10 per second of driving")
    p.add_argument("--seed", type=int, default=0, help="seed of the world, the drive and the weather")
    p.add_argument("--width", type=int, default=640, help=f"frame width in pixels (at least {MIN_SIZE_PX})")
    p.add_argument("--height", type=int, default=360, help=f"frame height in pixels (at least {MIN_SIZE_PX})")
    p.add_argument("--clean", action="store_true", help="noon, no rain/blur/noise, JPEG quality 100")
    p.add_argument("--video", action="store_true", help="frames as one MJPG video drive.avi, not images/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.frames < 1:
        raise ValueError(f"--frames: must be at least 1, got {args.frames}")
    for flag, v in (("--width", args.width), ("--height", args.height)):
        if v < MIN_SIZE_PX:
            raise ValueError(f"{flag}: must be at least {MIN_SIZE_PX} pixels, got {v}")
    return args


@command
def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    check_writable_dir(a.out)  # fail before rendering anything
    out = generate_drive(
        a.out, a.frames, a.seed, a.width, a.height, clean=a.clean, progress=not a.no_progress, video=a.video
    )
    print(f"wrote {a.frames} frames to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
