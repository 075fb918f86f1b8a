"""The method's ablation (FIGS. 11A-C): class-dependent eq1 vs class-agnostic eq5 vs eq6 vs eq7, background
cell
balancing on/off, all anchors vs top-K; >= 3 seeds each, same data, same steps, one fixed validation split.

    python benchmarks/ablation.py --quick --out bench_out/ablation_quick   # minutes on 2 CPU cores
    python benchmarks/ablation.py --out bench_out/ablation                 # docs/results.md (~1.5 h)

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
    return {
        "fit_seconds": trained.get("fit_seconds"),
        "mAP": m["tolerances"]["adaptive"]["mAP"],
        "mAP_8px": m["tolerances"]["8px"]["mAP"],
        "median_err_px": m["point_error_px"]["median"],
        "f1": m["tolerances"]["adaptive"]["f1"],
    }


def mean_std(values: list[float]) -> str:
    v = np.array([x for x in values if not math.isnan(x)], float)
    if len(v) == 0:
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small images, few steps: minutes on 2 CPU cores")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default="bench_out/ablation")
    p.add_argument("--only", nargs="*", help="subset of variant names")
    args = p.parse_args(argv)

    from keras_lmk.evaluation.plots import plot_loss_trajectories, read_trajectory
    from keras_lmk.training.config import resolve_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = QUICK if args.quick else FULL
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

    lines = [
        "| variant | point-mAP (adaptive) | point-mAP (8 px) | median error px | F1 | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for name, rs in results.items():
        lines.append(
            f"| {name} | {mean_std([r['mAP'] for r in rs])} | {mean_std([r['mAP_8px'] for r in rs])} | "
            f"{mean_std([r['median_err_px'] for r in rs])} | {mean_std([r['f1'] for r in rs])} | {len(rs)} |"
        )
    table = "\n".join(lines)
    print(table)
    mode = "quick" if args.quick else "full"
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
