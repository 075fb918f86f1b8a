"""The tight localizer's per-frame step time and accuracy, an earlier revision against the working tree, in
one process on the same detections (issue 35: the step under 5 ms with unchanged accuracy).

    python benchmarks/diagnostics/localize_step_before_after.py \\
        --model android_demo_assets/model_int8.tflite --before 0442889 --json out.json --md out.md

``keras_lmk/localization/`` at ``--before`` is read from git into a temporary package (its imports of
``keras_lmk.localization`` pointed at itself; everything else is the working tree's), so both versions run
side by side. For every drive and prior seed of ``benchmarks/bench_localize.py`` (5 drives x 4 priors by
default) each version localizes the model's detections and the oracle's with the tight estimator, in
alternating order so that a busy machine slows both alike. Per-frame step times are measured outside the
localizer (``bench_localize.timed``), so both versions are timed over the same span. Prints, per version and
detections: the mean over drives of the per-drive median position / heading error (bench_localize's
"mean" column), the mean p90s, the heading spikes, and the median and p90 wall time and the median CPU
time of all their frames' steps; then the largest per-run difference in median errors. ``--dets`` caches
the model's detections (pickle).
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

LOC = "keras_lmk/localization"


def load_revision(rev: str):
    """``keras_lmk.localization.localize`` as it was at git revision ``rev``, imported as another package."""

    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], check=True, capture_output=True, text=True).stdout

    names = git("ls-tree", "--name-only", f"{rev}:{LOC}").split()
    pkg = "loc_" + git("rev-parse", "--short", rev).strip()
    root = Path(tempfile.mkdtemp(prefix="loc_before_"))
    (root / pkg).mkdir()
    for name in (n for n in names if n.endswith(".py")):
        text = git("show", f"{rev}:{LOC}/{name}")
        (root / pkg / name).write_text(text.replace("keras_lmk.localization.", f"{pkg}."))
    sys.path.insert(0, str(root))
    return importlib.import_module(f"{pkg}.localize")


def main(argv=None) -> int:
    from bench_localize import DEFAULT_DRIVES, drive_dir, model_dets, score, timed

    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.geometry.camera import load_camera, load_poses
    from keras_lmk.geometry.map_ground_truth import load_map
    from keras_lmk.localization import localize as after
    from keras_lmk.localization.inputs import detector_profile, make_prior, oracle_detections
    from keras_lmk.localization.tight_filter import TightConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="detector (.tflite/.keras) whose detections are localized")
    ap.add_argument("--before", required=True, help="git revision of the baseline localizer")
    ap.add_argument("--drives", type=int, nargs="+", default=list(DEFAULT_DRIVES))
    ap.add_argument("--prior-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--work", default="/tmp/keras_lmk_bench_localize", help="generated drives (reused)")
    ap.add_argument("--dets", help="pickle of the model's detections per drive (written when missing)")
    ap.add_argument("--json", help="write the per-run numbers here")
    ap.add_argument("--md", help="write the table here")
    args = ap.parse_args(argv)
    versions = {f"before ({args.before})": load_revision(args.before), "after (working tree)": after}
    cache = Path(args.dets) if args.dets else None
    model_cache = pickle.loads(cache.read_bytes()) if cache and cache.is_file() else {}
    runs: dict = {}  # (version, source) -> per-run scores
    timing: dict = {}  # (version, source) -> (wall ms, CPU ms) of every frame of every run
    for ds in args.drives:
        drive = drive_dir(Path(args.work), ds, args.frames)
        camera = load_camera(drive / "camera.json")
        lmap, truth = load_map(drive / "map.json"), load_poses(drive / "poses.json")
        tax = load_taxonomy(lmap.taxonomy_name)
        if ds not in model_cache:
            model_cache[ds] = model_dets(args.model, drive, camera, None)[0]
            if cache:
                cache.write_bytes(pickle.dumps(model_cache))
        rng = np.random.default_rng([0, 9])  # bench_localize's oracle detections
        oracle = [(i, *oracle_detections(lmap, camera, p, tax, rng)) for i, p in enumerate(truth)]
        sources = {
            "model": (model_cache[ds], *detector_profile(camera), TightConfig()),
            "oracle": (oracle, *detector_profile(camera, oracle=True), TightConfig(pixel_sigma=1.0)),
        }
        for ps in args.prior_seeds:
            prior = make_prior(truth, 2.0, 2.0, ps)
            order = list(versions) if (ds + ps) % 2 == 0 else list(versions)[::-1]
            for source, (dets, solver, dedup, tight) in sources.items():
                for version in order:
                    steps: list = []
                    rows = versions[version].localize(
                        camera, lmap, tax, timed(dets, steps), prior, prior_noise_m=2.0,
                        prior_noise_deg=2.0, solver=solver, dedup_px=dedup, estimator="tight", tight=tight,
                    )  # fmt: skip
                    runs.setdefault((version, source), []).append(
                        {"drive": ds, "prior_seed": ps, **score(rows, truth, prior, steps)}
                    )
                    timing.setdefault((version, source), []).extend(steps)
            print(f"drive {ds}, prior seed {ps} done", flush=True)
    md = table(runs, timing, args.drives)
    print(md)
    if args.json:
        from keras_lmk.atomic import atomic_write_json

        out = {f"{v} | {s}": r for (v, s), r in runs.items()}
        atomic_write_json(Path(args.json), {"args": vars(args), "runs": out})
    if args.md:
        from keras_lmk.atomic import atomic_write_text

        atomic_write_text(Path(args.md), md + "\n")
    return 0


def table(runs: dict, timing: dict, drives) -> str:
    """Markdown: one row per (version, detections) and the largest per-run change of the median errors."""
    lines = [
        "| localizer | detections | mean of per-drive median m / deg | mean p90 m / deg "
        "| heading spikes > 1 deg | step ms, all frames: median / p90 (CPU median) |",
        "|---|---|---|---|---|---|",
    ]
    for (version, source), rs in runs.items():
        per = [[r for r in rs if r["drive"] == d] for d in drives]
        pos = np.mean([np.mean([r["position_m"] for r in p]) for p in per])
        hd = np.mean([np.mean([r["heading_deg"] for r in p]) for p in per])
        p90 = [np.mean([r[k] for r in rs]) for k in ("position_p90_m", "heading_p90_deg")]
        spikes = 100 * np.mean([r["heading_spikes"] for r in rs])
        wall, cpu = np.asarray(timing[(version, source)]).T
        step = f"**{np.median(wall):.2f}** / {np.percentile(wall, 90):.2f} ({np.median(cpu):.2f})"
        lines.append(
            f"| {version} | {source} | **{pos:.3f} / {hd:.3f}** | {p90[0]:.3f} / {p90[1]:.3f} "
            f"| {spikes:.1f} % | {step} |"
        )
    versions = sorted({v for v, _ in runs}, key=lambda v: not v.startswith("before"))
    for source in sorted({s for _, s in runs}):
        a, b = runs[(versions[0], source)], runs[(versions[1], source)]
        dp = max(abs(x["position_m"] - y["position_m"]) for x, y in zip(a, b, strict=True))
        dh = max(abs(x["heading_deg"] - y["heading_deg"]) for x, y in zip(a, b, strict=True))
        lines.append(f"\n{source}: largest per-run change of the median error {dp:.4f} m / {dh:.4f} deg")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
