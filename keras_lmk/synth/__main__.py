"""CLI: ``python -m keras_lmk.synth --out DIR --frames N --seed S [--width 640 --height 360] [--clean]
[--video]``."""

from __future__ import annotations

import argparse
import sys

from keras_lmk.atomic import check_writable_dir
from keras_lmk.cli import command
from keras_lmk.synth.drive import generate_drive


@command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m keras_lmk.synth", description=__doc__)
    p.add_argument("--out", required=True, help="output folder (images/, map.json, annotations.json, ...)")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--clean", action="store_true", help="noon, no rain/blur/noise, JPEG quality 100")
    p.add_argument("--video", action="store_true", help="frames as one MJPG video drive.avi, not images/")
    a = p.parse_args(argv)
    check_writable_dir(a.out)  # fail before rendering anything
    out = generate_drive(
        a.out, a.frames, a.seed, a.width, a.height, clean=a.clean, progress=True, video=a.video
    )
    print(f"wrote {a.frames} frames to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
