"""The method's ablation (FIGS. 11A-C): class-dependent eq1 vs class-agnostic eq5 vs eq6 vs eq7, background
cell
balancing on/off, all anchors vs top-K; >= 3 seeds each, same data, same steps, one fixed validation split.

    python benchmarks/ablation.py --quick --out bench_out/ablation_quick   # minutes on 2 CPU cores
    python benchmarks/ablation.py --out bench_out/ablation                 # docs/results.md (~1.5 h)
    python benchmarks/ablation.py --data markings --only "eq1 (class-dependent)" "eq5 (class-agnostic)" \
        "eq6" "eq7" --out bench_out/ablation_markings    # real road markings: point = lower-right end
    python benchmarks/ablation.py --data markings --backbone BACKBONE.weights.h5 --only ... \
        --out bench_out/ablation_markings_probe    # the same on a fixed trained backbone (minutes a run)

Prints a table (point-mAP at the adaptive tolerance max(4 px, 0.5*sqrt(area)), median point error, mean +- std
over seeds) and writes ablation.json, ablation.md and ablation_trajectories.png (seed-0 (L_loc, L_cls)
trajectories of every variant). Resumable: finished (variant, seed) runs are reused.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

VARIANTS: dict[str, list[str]] = {
    "eq1 (class-dependent)": ["loss.variant=eq1"],
    "eq5 (class-agnostic)": ["loss.variant=eq5"],
    "eq6": ["loss.variant=eq6"],
    "eq7": ["loss.variant=eq7"],
    "eq1, no bg balancing": ["loss.variant=eq1", "pipeline.background_ratio=null"],
    "eq1, top-2 anchors": ["loss.variant=eq1", "loss.top_k=2"],
}

QUICK = [
    "data.source=synthetic",
    "data.synthetic_frames=400",
    "data.synthetic_width=384",
    "data.synthetic_height=216",
    "data.val_fraction=0.2",
    "grid.input_width=256",
    "grid.input_height=160",
    "pipeline.batch_size=8",
    "train.epochs=6",
    "train.steps_per_epoch=40",
    "train.tensorboard=false",
    "train.verbose=0",
    "train.trajectory_every=2",
]
# full mode: both data sources, a 384x240 input (the default model at 0.56x the pixels of 512x320) and 4,800
# training images per run, sized so all 18 runs finish in about 1.5 h on 2 CPU cores (the preset's own
# budget, 24 epochs at 512x320, would take ~17 h for 18 runs there)
FULL = [
    "data.source=synthetic+gtsdb",
    "grid.input_width=384",
    "grid.input_height=240",
    "pipeline.batch_size=8",
    "train.epochs=10",
    "train.steps_per_epoch=60",
    "train.tensorboard=false",
    "train.verbose=0",
    "train.trajectory_every=5",
]


# real road markings (issue 14 item 6): the reference point is the lower-right end, not the box centre, so a
# regressor that only outputs anchor positions cannot hide behind the adaptive tolerance there. 640x480 keeps
# the 800x600 frames near native scale; 8 x 60 steps of 8 images per run.
MARKINGS = [
    "data.source=markings",
    "grid.input_width=640",
    "grid.input_height=480",
    "pipeline.batch_size=8",
    "train.epochs=8",
    "train.steps_per_epoch=60",
    "train.tensorboard=false",
    "train.verbose=0",
    "train.trajectory_every=5",
]
# markings-probe: the same frames and split, but each run trains only a fresh fusion + head on a fixed, given
# backbone (--backbone: a .weights.h5 of the default architecture, e.g. the shipped real model's). From
# scratch the budget above leaves every loss at point-mAP ~0.01 (one eq1 run: 70 min on 2 cores for 0.006), so
# nothing can be compared; on fixed features each loss trains the same head from the same start in minutes.
# The pipeline is the real preset's (points within 24 px train, the rest of a box is background, offsets
# bounded to 3.5 cells): the recipe the shipped model uses.
MARKINGS_PROBE = [
    "data.source=markings",
    "grid.input_width=640",
    "grid.input_height=480",
    "pipeline.batch_size=8",
    "pipeline.point_radius=24",
    "pipeline.far_cells=background",
    "model.offset_bound=3.5",
    "model.freeze_backbone=true",
    "train.epochs=5",
    "train.steps_per_epoch=40",
    "train.tensorboard=false",
    "train.verbose=0",
    "train.trajectory_every=5",
]
BASES = {"quick": QUICK, "full": FULL, "markings": MARKINGS, "markings-probe": MARKINGS_PROBE}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def write_val_json(cfg, out: Path) -> Path:
    from keras_lmk.data.coco import write_coco
    from keras_lmk.data.sources import load_training_records
    from keras_lmk.data.taxonomy import load_taxonomy

    path = out / "val.json"
    if not path.exists():
        taxonomy = load_taxonomy(cfg.data.taxonomy)
        _, val = load_training_records(cfg.data, taxonomy)
        write_coco(val, taxonomy, path, image_root="/")
    return path


def run_one(overrides: list[str], run_dir: Path, val_json: Path) -> dict:
    from keras_lmk.evaluation import evaluate
    from keras_lmk.training.config import resolve_config
    from keras_lmk.training.run import run

    if not (run_dir / "summary.json").exists():
        run(resolve_config("synthetic", None, overrides), run_dir)
    metrics_path = run_dir / "eval" / "metrics.json"
    if not metrics_path.exists():
        evaluate.run(run_dir / "model.keras", val_json, run_dir / "eval", images="/", progress=False)
    m = json.loads(metrics_path.read_text())
    trained = json.loads((run_dir / "summary.json").read_text())
    tol = m["tolerances"]

    def num(v):
        return float("nan") if v is None else float(v)

    return {
        "fit_seconds": trained.get("fit_seconds"),
        "mAP": tol["adaptive"]["mAP"],
        "mAP_2px": tol["2px"]["mAP"],
        "mAP_4px": tol["4px"]["mAP"],
        "mAP_8px": tol["8px"]["mAP"],
        "median_err_px": num(m["point_error_px"]["median"]),
        "p90_err_px": num(m["point_error_px"]["p90"]),
        "f1": tol["adaptive"]["f1"],
    }


def paired(results: dict[str, list[dict]], a: str, b: str, key: str = "median_err_px") -> str:
    """Mean and per-seed list of (a - b) for the seeds both variants ran: a paired comparison."""
    if a not in results or b not in results:
        return ""
    d = [x[key] - y[key] for x, y in zip(results[a], results[b], strict=False)]
    d = [v for v in d if not math.isnan(v)]
    if not d:
        return ""
    return (
        f"{a} - {b}, {key}: mean {np.mean(d):+.3f} over {len(d)} seeds ({', '.join(f'{v:+.2f}' for v in d)})"
    )


def mean_std(values: list[float]) -> str:
    v = np.array([x for x in values if not math.isnan(x)], float)
    if len(v) == 0:
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small images, few steps: minutes on 2 CPU cores")
    p.add_argument(
        "--data",
        choices=["synthetic", "markings"],
        default="synthetic",
        help="markings: the real road markings",
    )
    p.add_argument(
        "--backbone",
        help="with --data markings: a .weights.h5 whose backbone every run keeps fixed (markings-probe mode)",
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default="bench_out/ablation")
    p.add_argument("--only", nargs="*", help="subset of variant names")
    args = p.parse_args(argv)

    from keras_lmk.evaluation.plots import plot_loss_trajectories, read_trajectory
    from keras_lmk.training.config import resolve_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "markings" if args.data == "markings" else "quick" if args.quick else "full"
    if args.backbone:
        if mode != "markings":
            p.error("--backbone goes with --data markings")
        if not Path(args.backbone).is_file():
            p.error(f"{args.backbone}: no such weights file")
        mode = "markings-probe"
    base = BASES[mode] + (
        [f"model.backbone_weights_path={Path(args.backbone).resolve()}"] if args.backbone else []
    )
    val_json = write_val_json(resolve_config("synthetic", None, base), out)
    results: dict[str, list[dict]] = {}
    names = [n for n in VARIANTS if not args.only or n in args.only]
    for seed in range(args.seeds):  # seed-major: a partial run still compares every variant
        for name in names:
            run_dir = out / slug(name) / f"seed{seed}"
            r = run_one(base + VARIANTS[name] + [f"train.seed={seed}"], run_dir, val_json)
            results.setdefault(name, []).append(r)
            print(
                f"{name:28s} seed {seed}: mAP {r['mAP']:.3f}  median err {r['median_err_px']:.2f} px",
                flush=True,
            )

    cols = ["mAP", "mAP_2px", "mAP_4px", "mAP_8px", "median_err_px", "p90_err_px", "f1"]
    lines = [
        "| variant | point-mAP (adaptive) | mAP 2 px | mAP 4 px | mAP 8 px | median error px "
        "| p90 error px | F1 | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rs in results.items():
        cells = " | ".join(mean_std([r.get(c, float("nan")) for r in rs]) for c in cols)
        lines.append(f"| {name} | {cells} | {len(rs)} |")
    pairs = [
        paired(results, "eq1 (class-dependent)", other) for other in ("eq5 (class-agnostic)", "eq6", "eq7")
    ]
    table = "\n".join(lines + [""] + [f"- paired: {p}" for p in pairs if p])
    print(table)
    (out / "ablation.md").write_text(f"Ablation ({mode}: {' '.join(base)})\n\n{table}\n")
    (out / "ablation.json").write_text(
        json.dumps({"mode": mode, "base_overrides": base, "results": results}, indent=2)
    )
    trajectories = {n: read_trajectory(out / slug(n) / "seed0" / "trajectory.csv") for n in results}
    plot_loss_trajectories(
        trajectories, out / "ablation_trajectories.png", title=f"ablation ({mode}), seed 0"
    )
    print(f"wrote {out / 'ablation.md'}, {out / 'ablation.json'}, {out / 'ablation_trajectories.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
