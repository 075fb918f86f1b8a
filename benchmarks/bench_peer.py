"""Our detector against a standard small detector trained on the same data and budget (issue 35, item 1).

The peer is YOLOv8n (KerasCV's YOLOV8Detector, random init; benchmarks/peer_yolo/, docs/peer.md), trained
from scratch on exactly our ``real`` preset's training records, crops and augmentation, evaluated on our
fixed validation splits with our metric code, its point taken from its box by our taxonomy's rules.
Needs the optional dependency group: ``pip install -e ".[peer]"``.

    # the CPU cost of one training step of each, on the same data (sets the equal-CPU budget)
    python benchmarks/bench_peer.py cost --steps 5
    # train (a run directory outside the repository; resumable at any moment)
    nice -n 19 python benchmarks/bench_peer.py train --run-dir ~/runs/peer-yolov8 --steps 12700
    nice -n 19 python benchmarks/bench_peer.py train --run-dir ~/runs/peer-yolov8 --resume
    # evaluate a snapshot (int8 at 1664x992, as ours ships) and print the table beside ours
    python benchmarks/bench_peer.py evaluate --run-dir ~/runs/peer-yolov8 --name peer_yolov8n_int8
    # the smoke test: a few steps at a small crop, then the evaluation path on a few frames per source
    python benchmarks/bench_peer.py train --run-dir /tmp/peer-smoke --steps 4 --smoke
    python benchmarks/bench_peer.py evaluate --run-dir /tmp/peer-smoke --input 320x192 --limit 3 \\
        --calib 4 --speed-rounds 1 --results-dir /tmp/peer-smoke/results --name smoke

``evaluate`` writes benchmarks/results/<name>.json and .md (per-source rows as bench_real.py writes them,
the speed block, the table) and per-source metrics.json under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

SOURCES = ["gtsdb", "markings", "markings_street", "lights", "kr_streets"]  # bench_real.py's
# the smoke test's overrides of the real preset: tiny crops and batches, nothing else changed
SMOKE_SET = ["pipeline.batch_size=2", "pipeline.train_crop=[128,96]"]


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    if w % 32 or h % 32:
        raise argparse.ArgumentTypeError(f"{text}: width and height must be multiples of 32 (YOLOv8 strides)")
    return h, w


def cmd_cost(args) -> int:
    from peer_yolo.model import YOLOV8N
    from peer_yolo.train import TrainSettings, measure_step_cost

    config = {"peer": YOLOV8N.to_json(), "train": vars(TrainSettings(steps=1)), "ours": _ours(args)}
    out = measure_step_cost(config, args.steps)
    print(json.dumps(out, indent=2))
    return 0


def _ours(args) -> dict:
    from peer_yolo.train import ours_section

    return ours_section("real", [*(SMOKE_SET if args.smoke else []), *args.set])


def shipped_results() -> str:
    """The shipped model's int8 results of bench_real.py: benchmarks/results/shipped/real_vN_int8.json."""
    import re

    files = (BENCH / "results" / "shipped").glob("real_v*_int8.json")
    return str(max(files, key=lambda p: int(re.findall(r"\d+", p.stem)[0]), default=""))


def cmd_train(args) -> int:
    import dataclasses

    from peer_yolo.model import YOLOV8N
    from peer_yolo.train import TrainSettings, train, write_config_once

    run_dir = Path(args.run_dir).expanduser()
    if (run_dir / "config.json").exists() and not args.resume:
        print(f"{run_dir}: holds a run; --resume continues it, or choose another --run-dir", file=sys.stderr)
        return 2
    if not args.resume and not args.steps:
        print("a new run needs --steps (the budget, docs/peer.md)", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = TrainSettings(steps=args.steps or 1)
    if args.smoke:  # checkpoints and snapshots every 2 steps, a 1-step warm-up
        settings = dataclasses.replace(settings, steps_per_checkpoint=2, snapshot_every=2, warmup_steps=1)
    spc = settings.steps_per_checkpoint
    settings = dataclasses.replace(settings, steps=-(-settings.steps // spc) * spc)  # whole checkpoints
    peer = dataclasses.replace(YOLOV8N, marking_box=args.marking_box)
    config = {"peer": peer.to_json(), "train": dataclasses.asdict(settings), "ours": _ours(args)}
    config = write_config_once(run_dir, config)  # a resumed run keeps its own
    state = train(run_dir, config, resume=args.resume)
    print(f"done: step {state['step']}, {state['cpu_s']:.0f} CPU s, {state['wall_s']:.0f} s of wall time")
    return 0


def cmd_evaluate(args) -> int:
    from bench_real import source_row
    from peer_yolo.evaluate import KerasPeer, TflitePeer, corner_rule_error, evaluate_source, load_peer
    from peer_yolo.model import PeerConfig
    from peer_yolo.report import comparison_markdown
    from peer_yolo.speed import calibration, compare_speed, export_int8, export_ours_int8
    from peer_yolo.train import our_config, training_data

    from keras_lmk.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, strict_json

    run_dir = Path(args.run_dir).expanduser()
    config = json.loads((run_dir / "config.json").read_text())
    peer_cfg = PeerConfig(**config["peer"])
    weights = Path(args.weights) if args.weights else run_dir / "snapshots" / "final.weights.h5"
    if not weights.is_absolute() and not weights.exists():
        weights = run_dir / weights
    cfg = our_config(config)
    taxonomy, train_records = training_data(cfg)
    net = load_peer(weights, config, taxonomy.num_classes - 1)
    h, w = args.input
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    calib = calibration(train_records, h, w, args.calib)
    int8_path = out / f"peer_{w}x{h}_int8.tflite"
    atomic_write_bytes(int8_path, export_int8(net, h, w, calib, peer_cfg))
    runner = KerasPeer(net, h, w, peer_cfg) if args.float else TflitePeer(int8_path, args.threads)
    rows = {}
    for source in args.sources:
        s = evaluate_source(runner, source, taxonomy, out, limit=args.limit, cfg=peer_cfg)
        rows[source] = source_row(s, source)
        print(
            f"{source}: {rows[source].get('bar', '')}; {rows[source]['detections_per_frame']:.2f} det/frame"
        )
    speed = None
    if args.speed_rounds:
        ours_int8 = export_ours_int8(h, w, calib)
        speed = compare_speed(net, int8_path.read_bytes(), ours_int8, h, w, args.speed_rounds, cfg=peer_cfg)
    ours = json.loads(Path(args.ours).read_text())
    state = snapshot_state(run_dir, weights, config)
    corner = corner_rule_error(taxonomy)
    notes = [
        f"Peer: YOLOv8n (KerasCV YOLOV8Detector, random init) {runner.name}, weights {weights} "
        f"(step {state.get('step')} of {config['train']['steps']}, {state.get('cpu_s', 'unknown')} CPU s); "
        f"ours: {ours['model']}. Input {w}x{h} for both; operating threshold 0.5 for both.",
        "A road marking's box corner against its labelled point (the quad's lower-right vertex), the peer's "
        "floor: "
        + "; ".join(
            f"{k} median {v['median_px']} px, within 10 px {v['within_10px']:.0%}" for k, v in corner.items()
        ),
    ]
    table = comparison_markdown(
        ours["sources"], rows, speed, f"ours ({Path(args.ours).stem})", "peer YOLOv8n", notes
    )
    result = {
        "peer_weights": str(weights),
        "run_state": state,
        "config": config,
        "input": f"{w}x{h}",
        "runner": runner.name,
        "sources": rows,
        "speed": speed,
        "corner_rule_error": corner,
        "ours": args.ours,
    }
    res_dir = Path(args.results_dir)
    atomic_write_json(res_dir / f"{args.name}.json", strict_json(result))
    atomic_write_text(res_dir / f"{args.name}.md", f"# {args.name}: the peer beside ours\n\n" + table)
    print(table)
    return 0


def snapshot_state(run_dir: Path, weights: Path, config: dict) -> dict:
    """The training step a weights file was saved at (``step-NNNNNN`` or ``final``) and the CPU and wall
    seconds spent up to it (``progress.csv``); {} when the name tells nothing."""
    import csv
    import re

    m = re.search(r"step-(\d+)", weights.name)
    step = int(m.group(1)) if m else config["train"]["steps"] if weights.name.startswith("final") else None
    if step is None:
        return {}
    progress = run_dir / "progress.csv"
    rows = list(csv.DictReader(progress.open())) if progress.exists() else []
    row = next((r for r in rows if int(r["step"]) == step), {})
    return {"step": step, "cpu_s": float(row.get("cpu_s", "nan")), "wall_s": float(row.get("wall_s", "nan"))}


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("cost", "train"):
        p = sub.add_parser(name)
        p.add_argument(
            "--set", action="append", default=[], help="override of the real preset (data, pipeline)"
        )
        p.add_argument("--smoke", action="store_true", help="tiny crops and batches (a wiring check)")
        p.add_argument("--steps", type=int, help="cost: steps timed per model; train: the run's total steps")
    p = sub.choices["train"]
    p.add_argument("--run-dir", required=True)
    p.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    p.add_argument(
        "--marking-box",
        choices=["bbox", "corner"],
        default="bbox",
        help="a road marking's training box: its quad's bounding box, or cut at its point (docs/peer.md)",
    )
    p = sub.add_parser("evaluate")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--weights", help="weights file (default: RUN/snapshots/final.weights.h5)")
    p.add_argument("--input", type=_size, default=(992, 1664), help="WxH, default 1664x992 (ours)")
    p.add_argument("--float", action="store_true", help="score the Keras float network, not the int8 export")
    p.add_argument("--sources", nargs="+", default=SOURCES)
    p.add_argument("--limit", type=int, help="first N validation frames per source (smoke tests)")
    p.add_argument("--calib", type=int, default=100, help="int8 calibration images (training records)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed-rounds", type=int, default=3, help="interleaved latency rounds; 0 skips speed")
    p.add_argument("--ours", default=shipped_results(), help="our results (default: the shipped model's)")
    p.add_argument("--out", default=str(REPO / "bench_out" / "peer"))
    p.add_argument("--results-dir", default=str(BENCH / "results"))
    p.add_argument("--name", default="peer_yolov8n_int8")
    args = ap.parse_args(argv)
    return {"cost": cmd_cost, "train": cmd_train, "evaluate": cmd_evaluate}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
