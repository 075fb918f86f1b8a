"""Long drives: does predict/evaluate memory stay flat as the drive gets longer?

    python benchmarks/bench_long_drive.py --quick          # 200 vs 2,000 frames, a few minutes on 2 cores
    python benchmarks/bench_long_drive.py                  # 1,000 vs 20,000 frames
    python benchmarks/bench_long_drive.py --frames 500 5000 --json out.json

Setup (once, in --work): a small synthetic drive (keras_lmk.synth, 256x144), a tiny untrained detector
exported to float TFLite with its model card, then for each length N:

- predict: an MJPG video of N frames (the drive's frames looped) through ``keras_lmk.inference.predict.run``;
- evaluate: a COCO file of N images (the drive's annotated frames repeated under new ids) through
  ``keras_lmk.evaluation.evaluate.run``;
- evaluate-video: the same N-frame video with that COCO file as its per-frame ground truth (image k is
  frame k) through ``keras_lmk.evaluation.evaluate.run(..., video=...)``: end-to-end evaluation of a recorded
  drive.

Every (mode, N) runs in a fresh subprocess, which reports its peak RSS (``resource.getrusage``) and the peak
of Python-tracked allocations during the run (``tracemalloc``, numpy included), plus its RSS before and
after the run. What should stay flat is
the memory per frame: predict streams its entries to disk; evaluate streams the ground truth (compact arrays),
its per-frame rows (to disk) and keeps fixed-size metric histograms. The table shows both lengths and the
growth per 1,000 frames.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

DRIVE_FRAMES = 60
MODES = ("predict", "evaluate", "evaluate-video")
WIDTH, HEIGHT = 256, 144


def setup(work: Path) -> dict:
    """Drive, model and card (reused when already in ``work``)."""
    work.mkdir(parents=True, exist_ok=True)
    drive = work / "drive"
    if not (drive / "annotations.json").is_file():
        from keras_lmk.synth.drive import generate_drive

        generate_drive(drive, DRIVE_FRAMES, seed=3, width=WIDTH, height=HEIGHT)
    model = work / "model.tflite"
    if not model.is_file():
        import keras
        import numpy as np
        import tensorflow as tf

        from keras_lmk.data.taxonomy import load_taxonomy
        from keras_lmk.detector.card import model_card
        from keras_lmk.detector.decode import DecoderConfig
        from keras_lmk.detector.grid import GridSpec
        from keras_lmk.detector.model import ModelConfig, build_model

        tax = load_taxonomy()
        spec = GridSpec(input_height=96, input_width=160, num_classes=tax.num_classes)
        keras.utils.set_random_seed(0)
        net = build_model(spec, ModelConfig(width=0.5))
        for layer in net.layers:  # an untrained net votes for nothing; lower the background bias a little
            if layer.name == "class_conv":
                b = np.zeros((spec.num_anchors, spec.num_classes), np.float32)
                b[:, 0] = 1.0
                layer.bias.assign(b.reshape(-1))
        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its whole SavedModel signature
            model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
        card = model_card(spec, tax, DecoderConfig(score_threshold=0.3))
        model.with_suffix(".json").write_text(json.dumps(card))
    return {"drive": drive, "model": model}


def make_inputs(work: Path, drive: Path, n: int) -> tuple[Path, Path]:
    """An N-frame MJPG video and an N-image COCO file, both built from the drive's frames."""
    import cv2

    video = work / f"drive_{n}.avi"
    if not video.is_file():
        frames = sorted((drive / "images").glob("*.jpg"))
        tmp = video.with_name(f".{video.name}.tmp.avi")
        w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
        cache = [cv2.imread(str(p)) for p in frames]
        for i in range(n):
            w.write(cache[i % len(cache)])
        w.release()
        os.replace(tmp, video)
    coco = work / f"val_{n}.json"
    if not coco.is_file():
        src = json.loads((drive / "annotations.json").read_text())
        images, anns = [], []
        by_image: dict[int, list] = {}
        for a in src["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)
        for i in range(n):
            im = src["images"][i % len(src["images"])]
            images.append({**im, "id": i + 1, "file_name": str((drive / im["file_name"]).resolve())})
            for a in by_image.get(im["id"], []):
                anns.append({**a, "id": len(anns) + 1, "image_id": i + 1})
        coco.write_text(json.dumps({"images": images, "annotations": anns, "categories": src["categories"]}))
    return video, coco


def current_rss_mib() -> float:
    """Resident set size now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """This process's RSS high-water mark (VmHWM). Not ru_maxrss: Linux carries that over from the parent
    across exec, so a worker started by a process that loaded TensorFlow would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(mode: str, n: int, work: Path) -> dict:
    """One measured run (in its own process)."""
    from keras_lmk.evaluation import evaluate, predict

    paths = setup(work)
    video, coco = make_inputs(work, paths["drive"], n)
    out = Path(tempfile.mkdtemp(prefix=f"{mode}_{n}_", dir=work))
    rss0 = peak_rss_mib()
    rss_start = current_rss_mib()
    tracemalloc.start()
    t0 = time.perf_counter()
    if mode == "predict":
        s = predict.run(paths["model"], video, out / "preds.json", progress=False, threads=1)
        extra = {"frames": s["frames"], "skipped": s["skipped"], "detections": s["detections"]}
    else:
        source = video if mode == "evaluate-video" else None
        s = evaluate.run(paths["model"], coco, out, video=source, progress=False, threads=1)
        extra = {"frames": s["frames"], "skipped": s["skipped_images"]}
    wall = time.perf_counter() - t0
    _, peak_traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = peak_rss_mib()
    rss_end = current_rss_mib()
    return {
        "mode": mode,
        "n": n,
        **extra,
        "wall_s": round(wall, 2),
        "frames_per_s": round(extra["frames"] / wall, 1),
        "peak_rss_mib": round(rss, 1),
        "peak_rss_before_run_mib": round(rss0, 1),
        "rss_start_mib": round(rss_start, 1),
        "rss_end_mib": round(rss_end, 1),
        "tracemalloc_peak_mib": round(peak_traced / 2**20, 2),
    }


def run_worker(mode: str, n: int, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--frames", str(n), str(n), "--work", str(work)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 vs 2,000 frames")
    ap.add_argument("--frames", type=int, nargs=2, metavar=("SHORT", "LONG"), help="default 1000 20000")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--work", default=None, help="work folder (default: a temp folder, removed at the end)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.frames[0], Path(args.work))))
        return 0
    short, long_ = args.frames or ((200, 2000) if args.quick else (1000, 20000))
    own = args.work is None
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_long_drive_"))
    try:
        t0 = time.perf_counter()
        paths = setup(work)
        for n in (short, long_):
            make_inputs(work, paths["drive"], n)
        print(f"setup: {time.perf_counter() - t0:.0f} s (drive, model, videos and COCO files in {work})")
        rows = [run_worker(m, n, work) for m in args.modes for n in (short, long_)]
    finally:
        if own:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    print(
        "\n| mode | frames | skipped | wall s | frames/s | peak RSS MiB | RSS start -> end MiB "
        "| tracemalloc peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['frames']} | {r['skipped']} | {r['wall_s']} | {r['frames_per_s']} | "
            f"{r['peak_rss_mib']} | {r['rss_start_mib']} -> {r['rss_end_mib']} | "
            f"{r['tracemalloc_peak_mib']} |"
        )
    growth = {}
    for m in args.modes:
        a, b = (next(r for r in rows if r["mode"] == m and r["n"] == n) for n in (short, long_))
        k = (b["n"] - a["n"]) / 1000
        growth[m] = {
            "rss_mib_per_1000_frames": round((b["peak_rss_mib"] - a["peak_rss_mib"]) / k, 3),
            "tracemalloc_mib_per_1000_frames": round(
                (b["tracemalloc_peak_mib"] - a["tracemalloc_peak_mib"]) / k, 3
            ),
        }
        print(
            f"{m}: growth per 1,000 frames: RSS {growth[m]['rss_mib_per_1000_frames']} MiB, "
            f"Python allocations {growth[m]['tracemalloc_mib_per_1000_frames']} MiB"
        )
    result = {"frames": [short, long_], "runs": rows, "growth": growth}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
