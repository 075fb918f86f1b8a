"""Map-based localization on generated drives: median position / heading error per detector and estimator.

    python benchmarks/bench_localize.py --model android_demo_assets/model_int8.tflite     # ~7 min on 2 cores
    python benchmarks/bench_localize.py --model a.tflite --model b.tflite --drives 7 10 --prior-seeds 0 1 \\
        --json out.json --md out.md

For each drive seed a 300-frame 640x360 drive is generated once into ``--work`` (``keras_lmk.synth``). Each
model runs once per drive (its model card's threshold unless ``--threshold``); its detections are then fed
to ``keras_lmk.localization.localize.localize`` with both estimators (tight: the default; loose: a PnP fix
per frame) and every simulated GPS prior (``--prior-seeds``: 2 m / 2 deg drifting noise, as the CLI's
defaults). Reference rows: the noisy prior alone and oracle detections (projected ground truth, 1 px noise,
10 % misses, 0.25 false per frame). Prints one row per (detections, estimator): per drive the median
position (m) and heading (deg) error averaged over the prior seeds, the mean over drives, the mean p90s, the
share of frames with a heading error over 1 deg (spikes) and the localizer's per-frame step time
(:func:`timed`; wall-clock median and p90, and the CPU-time median of this process, each the median over
the runs; detection time is not in it; issue 35's bar: a 5 ms median for the tight estimator). ``--track``
adds, per model, its detections passed through the landmark tracker
(``keras_lmk.localization.inputs.tracked_detections``, TrackerConfig's defaults).
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


SPIKE_DEG = 1.0  # a heading spike: a frame whose heading error exceeds this


def timed(frames, steps: list):
    """Yield ``frames`` unchanged, appending to ``steps`` (wall ms, CPU ms of this process) the consumer spent
    on each one, from handing it over until it asks for the next: the localizer's whole per-frame step
    (duplicate suppression, filter prediction, association, update, re-acquisition, prior update), timed
    alike for any localizer. On a shared CPU the wall time includes waiting for it; the CPU time does not."""
    for item in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        yield item
        steps.append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))


def score(rows, truth, prior, steps=None) -> dict:
    """Accuracy of one run (median / p90 position and heading error, heading spikes) and, with ``steps``
    from :func:`timed`, the median and p90 of its per-frame step wall times and the median CPU time (ms)."""
    from keras_lmk.localization.report import evaluate

    errs, s = evaluate(rows, truth, prior)
    est = s["estimate"]
    step = {}
    if steps is not None and len(steps):
        wall, cpu = np.asarray(steps).T
        step = {
            "step_ms_median": float(np.median(wall)), "step_ms_p90": float(np.percentile(wall, 90)),
            "step_cpu_ms_median": float(np.median(cpu)),
        }  # fmt: skip
    return step | {
        "position_m": est["position_m"]["median"],
        "heading_deg": est["heading_deg"]["median"],
        "position_p90_m": est["position_m"]["p90"],
        "heading_p90_deg": est["heading_deg"]["p90"],
        "heading_spikes": float(np.mean([e["heading_err_deg"] > SPIKE_DEG for e in errs])),
        "vision_frames": sum(1 for r in rows if r["vision"] is not None),
    }


def bench(args) -> dict:
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.geometry.camera import load_camera, load_poses
    from keras_lmk.geometry.map_ground_truth import load_map
    from keras_lmk.inference.tracking import TrackerConfig
    from keras_lmk.localization.inputs import (
        detector_profile,
        make_prior,
        oracle_detections,
        tracked_detections,
    )
    from keras_lmk.localization.localize import localize
    from keras_lmk.localization.pose_solver import pose_error
    from keras_lmk.localization.tight_filter import TightConfig

    work = Path(args.work)
    results: dict = {}

    def add(name: str, drive_seed: int, row: dict) -> None:
        results.setdefault(name, {}).setdefault(str(drive_seed), []).append(row)

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
            if args.track:
                tracked = list(tracked_detections(dets, TrackerConfig(), camera.width))
                sources.append((f"{model} + track", tracked, *detector_profile(camera)))
        rng = np.random.default_rng([0, 9])
        oracle = [(i, *oracle_detections(lmap, camera, p, tax, rng)) for i, p in enumerate(truth)]
        sources.append(("oracle", oracle, *detector_profile(camera, oracle=True)))
        for ps in args.prior_seeds:
            prior = make_prior(truth, 2.0, 2.0, ps)
            perr = [pose_error(p, t) for p, t in zip(prior, truth, strict=True)]
            pos, head = (np.array([e[k] for e in perr]) for k in ("pos_err_m", "heading_err_deg"))
            add("prior alone", ds, {
                "position_m": float(np.median(pos)), "heading_deg": float(np.median(head)),
                "position_p90_m": float(np.percentile(pos, 90)),
                "heading_p90_deg": float(np.percentile(head, 90)),
                "heading_spikes": float(np.mean(head > SPIKE_DEG)), "vision_frames": 0,
            })  # fmt: skip
            for name, dets, solver, dedup in sources:
                for est in ESTIMATORS:
                    # the oracle's 1 px points: the tight filter assumes 1 px noise (the CLI does the same)
                    tight = TightConfig(pixel_sigma=1.0) if name == "oracle" else None
                    steps: list = []
                    rows = localize(camera, lmap, tax, timed(dets, steps), prior, prior_noise_m=2.0,
                                    prior_noise_deg=2.0, solver=solver, dedup_px=dedup, estimator=est,
                                    tight=tight)  # fmt: skip
                    add(f"{name} [{est}]", ds, score(rows, truth, prior, steps))
            print(f"drive {ds}, prior seed {ps} done", flush=True)
    return results


def table(results: dict, drives) -> str:
    head = "| detections [estimator] | " + " | ".join(f"drive {d}: m / deg" for d in drives)
    head += " | mean | mean p90 m / deg | heading spikes > 1 deg | step ms: median / p90 (CPU median) |"
    lines = [head, "|---" * (len(drives) + 5) + "|"]
    for name, per in results.items():
        cells, pos, hd = [], [], []
        for d in drives:
            runs = per[str(d)]
            p, h = np.mean([r["position_m"] for r in runs]), np.mean([r["heading_deg"] for r in runs])
            pos.append(p)
            hd.append(h)
            cells.append(f"{p:.2f} / {h:.2f}")
        every = [r for d in drives for r in per[str(d)]]
        p90 = [np.mean([r.get(k, np.nan) for r in every]) for k in ("position_p90_m", "heading_p90_deg")]
        spikes = np.mean([r.get("heading_spikes", np.nan) for r in every])
        step = "-"
        if all("step_ms_median" in r for r in every):
            med, p90s, cpu = (
                np.median([r[k] for r in every])
                for k in ("step_ms_median", "step_ms_p90", "step_cpu_ms_median")
            )
            step = f"{med:.1f} / {p90s:.1f} ({cpu:.1f})"
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | **{np.mean(pos):.2f} / {np.mean(hd):.2f}** | "
            f"{p90[0]:.2f} / {p90[1]:.2f} | {100 * spikes:.1f} % | {step} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="model (.tflite/.keras); repeat for more")
    ap.add_argument("--drives", type=int, nargs="+", default=list(DEFAULT_DRIVES), help="drive seeds")
    ap.add_argument("--prior-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=None, help="detector threshold (default: the card's)")
    ap.add_argument("--track", action="store_true", help="also each model's detections through the tracker")
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
