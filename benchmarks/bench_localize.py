"""Map-based localization on generated drives: median position / heading error per detector and estimator.

    python benchmarks/bench_localize.py --model android_demo_assets/model_int8.tflite     # ~7 min on 2 cores
    python benchmarks/bench_localize.py --model a.tflite --model b.tflite --drives 7 10 --prior-seeds 0 1 \\
        --json out.json --md out.md

For each drive seed a 300-frame 640x360 drive is generated once into ``--work`` (``keras_lmk.synth``). Each
model runs once per drive (its model card's threshold unless ``--threshold``); its detections are then fed
to ``keras_lmk.localization.localize.localize`` with both estimators (tight: the default; loose: a PnP fix
per frame) and
every simulated GPS prior (``--prior-seeds``: 2 m / 2 deg drifting noise, as the CLI's defaults). Reference
rows: the noisy prior alone and oracle detections (projected ground truth, 1 px noise, 10 % misses, 0.25
false per frame). Prints one row per (detections, estimator): per drive the median position (m) and heading
(deg) error averaged over the prior seeds, and the mean over drives.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT_DRIVES = (7, 8, 9, 10, 11)
ESTIMATORS = ("tight", "loose")


def drive_dir(work: Path, seed: int, frames: int) -> Path:
    from keras_lmk.synth.drive import GENERATOR_VERSION, generate_drive

    d = work / f"drive-v{GENERATOR_VERSION}-s{seed}-f{frames}"
    if not (d / "annotations.json").is_file():
        generate_drive(d, frames, seed, 640, 360)
    return d


def model_dets(model: str, drive: Path, camera, threshold: float | None) -> tuple[list, object]:
    from keras_lmk.localization.inputs import model_detections

    holder: list = []
    dets = list(model_detections(model, drive, camera, holder, threshold))
    return dets, holder[0]


def score(rows, truth, prior) -> tuple[float, float, int]:
    from keras_lmk.localization.report import evaluate

    _, s = evaluate(rows, truth, prior)
    vision = sum(1 for r in rows if r["vision"] is not None)
    return s["estimate"]["position_m"]["median"], s["estimate"]["heading_deg"]["median"], vision


def bench(args) -> dict:
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.geometry.camera import load_camera, load_poses
    from keras_lmk.geometry.map_ground_truth import load_map
    from keras_lmk.localization.inputs import (
        detector_profile,
        make_prior,
        oracle_detections,
    )
    from keras_lmk.localization.localize import localize
    from keras_lmk.localization.pose_solver import pose_error
    from keras_lmk.localization.tight_filter import TightConfig

    work = Path(args.work)
    results: dict = {}

    def add(name: str, drive_seed: int, pos: float, head: float, vision: int) -> None:
        results.setdefault(name, {}).setdefault(str(drive_seed), []).append(
            {"position_m": pos, "heading_deg": head, "vision_frames": vision}
        )

    for ds in args.drives:
        drive = drive_dir(work, ds, args.frames)
        camera = load_camera(drive / "camera.json")
        lmap, truth = load_map(drive / "map.json"), load_poses(drive / "poses.json")
        tax = load_taxonomy(lmap.taxonomy_name)
        sources = []
        for model in args.model:
            t0 = time.perf_counter()
            dets, tax = model_dets(model, drive, camera, args.threshold)
            print(
                f"drive {ds}: {model} on {len(dets)} frames in {time.perf_counter() - t0:.0f} s", flush=True
            )
            sources.append((model, dets, *detector_profile(camera)))
        rng = np.random.default_rng([0, 9])
        oracle = [(i, *oracle_detections(lmap, camera, p, tax, rng)) for i, p in enumerate(truth)]
        sources.append(("oracle", oracle, *detector_profile(camera, oracle=True)))
        for ps in args.prior_seeds:
            prior = make_prior(truth, 2.0, 2.0, ps)
            perr = [pose_error(p, t) for p, t in zip(prior, truth, strict=True)]
            pos, head = ([e[k] for e in perr] for k in ("pos_err_m", "heading_err_deg"))
            add("prior alone", ds, float(np.median(pos)), float(np.median(head)), 0)
            for name, dets, solver, dedup in sources:
                for est in ESTIMATORS:
                    # the oracle's 1 px points: the tight filter assumes 1 px noise (the CLI does the same)
                    tight = TightConfig(pixel_sigma=1.0) if name == "oracle" else None
                    rows = localize(camera, lmap, tax, iter(dets), prior, prior_noise_m=2.0,
                                    prior_noise_deg=2.0, solver=solver, dedup_px=dedup, estimator=est,
                                    tight=tight)  # fmt: skip
                    add(f"{name} [{est}]", ds, *score(rows, truth, prior))
            print(f"drive {ds}, prior seed {ps} done", flush=True)
    return results


def table(results: dict, drives) -> str:
    head = "| detections [estimator] | " + " | ".join(f"drive {d}: m / deg" for d in drives) + " | mean |"
    lines = [head, "|---" * (len(drives) + 2) + "|"]
    for name, per in results.items():
        cells, pos, hd = [], [], []
        for d in drives:
            runs = per[str(d)]
            p, h = np.mean([r["position_m"] for r in runs]), np.mean([r["heading_deg"] for r in runs])
            pos.append(p)
            hd.append(h)
            cells.append(f"{p:.2f} / {h:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{np.mean(pos):.2f} / {np.mean(hd):.2f}** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="model (.tflite/.keras); repeat for more")
    ap.add_argument("--drives", type=int, nargs="+", default=list(DEFAULT_DRIVES), help="drive seeds")
    ap.add_argument("--prior-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=None, help="detector threshold (default: the card's)")
    ap.add_argument("--work", default="/tmp/keras_lmk_bench_localize", help="generated drives (reused)")
    ap.add_argument("--json", help="write the per-run numbers here")
    ap.add_argument("--md", help="write the table here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = bench(args)
    md = table(results, args.drives)
    print(md)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.json:
        from keras_lmk.atomic import atomic_write_json

        atomic_write_json(Path(args.json), {"args": vars(args), "results": results})
    if args.md:
        from keras_lmk.atomic import atomic_write_text

        atomic_write_text(Path(args.md), md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
