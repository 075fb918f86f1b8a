"""Synthetic drive throughput: frames/s of render + JPEG encode + ground truth (one process, one core).

python benchmarks/bench_synth.py [--frames 300 --width 640 --height 360]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402

from keras_lmk.synth.drive import generate_drive  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_drive(tmp, a.frames, a.seed, a.width, a.height)
        dt = time.perf_counter() - t0
    print(
        f"{a.frames} frames {a.width}x{a.height}: {dt:.2f} s, {a.frames / dt:.1f} frames/s"
        " (incl. world build and files)"
    )


if __name__ == "__main__":
    main()
