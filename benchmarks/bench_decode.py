"""Decoder latency on the default grid (64x40 cells x 5 anchors x 7 classes).

    python benchmarks/bench_decode.py [--repeats 200]

Prints the median ms/frame for a quiet frame (few landmarks, the common case) and a busy one (many
votes above the threshold). Goal: <= 1 ms/frame.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from keras_lmk.detector.decode import DecoderConfig, decode
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.letterbox import Letterbox


def make_frame(spec: GridSpec, n_landmarks: int, rng: np.random.Generator):
    s, a, m = spec.num_cells, spec.num_anchors, spec.num_classes
    logits = rng.normal(0, 1, (s, a, m)).astype(np.float32)
    logits[..., 0] += 8.0  # background dominates
    points = (spec.anchor_array()[None] + rng.normal(0, 0.2, (s, a, 2))).astype(np.float32)
    for _ in range(n_landmarks):  # a 3x3 block of cells voting for one point
        r, c = rng.integers(1, spec.grid_h - 1), rng.integers(1, spec.grid_w - 1)
        cls = rng.integers(1, m)
        target = np.array([c + 0.5, r + 0.5]) * spec.stride
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                cell = (r + dr) * spec.grid_w + (c + dc)
                logits[cell, :, cls] += 8.0
                origin = spec.cell_origins()[cell]
                points[cell] = (target - origin) / spec.stride + rng.normal(0, 0.05, (a, 2))
    return logits, points


def bench(spec, cfg, logits, points, repeats):
    lb = Letterbox.fit(1280, 800, spec.input_width, spec.input_height)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dets = decode(logits, points, spec, lb, cfg)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)), len(dets)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    spec, cfg = GridSpec(), DecoderConfig()
    rng = np.random.default_rng(0)
    for name, n in (("quiet (5 landmarks)", 5), ("busy (40 landmarks)", 40)):
        logits, points = make_frame(spec, n, rng)
        ms, k = bench(spec, cfg, logits, points, args.repeats)
        print(
            f"{name}: {ms:.3f} ms/frame, {k} detections (grid {spec.grid_w}x{spec.grid_h}x{spec.num_anchors})"
        )


if __name__ == "__main__":
    main()
