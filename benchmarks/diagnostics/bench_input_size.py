"""One trained model at several inference input sizes, on the fixed real validation splits.

    python benchmarks/diagnostics/bench_input_size.py --run ~/runs/real-v1 --sizes 1024x608 1280x768 1536x896

The detector is fully convolutional, so the weights of a run serve any input size that is a multiple of
the grid stride (:func:`keras_lmk.detector.model.with_input_size`); only the letterbox scale of each
image changes. This measures the "input resolution" lever without retraining. Float Keras models, the
run's calibrated threshold; writes benchmarks/results/<--name>.json and .md (default input_size).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def main(argv=None) -> int:
    import keras
    from bench_real import evaluate_source

    from keras_lmk.cli import input_size
    from keras_lmk.detector.card import card_at_input_size, find_model_card
    from keras_lmk.detector.grid import GridSpec
    from keras_lmk.detector.model import with_input_size
    from keras_lmk.evaluation.matching import tolerances_with_primary
    from keras_lmk.training.config import Config
    from keras_lmk.training.config_io import load_yaml_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory (model.keras, model_card.json, config.yaml)")
    ap.add_argument("--sizes", nargs="+", type=input_size, default=[(1024, 608), (1280, 768), (1536, 896)])
    ap.add_argument("--out", default=str(REPO / "bench_out" / "input_size"))
    ap.add_argument("--sources", nargs="+", default=["gtsdb", "markings", "lights"])
    ap.add_argument("--name", default="input_size", help="results file stem in benchmarks/results/")
    args = ap.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    cfg = load_yaml_config(Config(), run / "config.yaml")
    card_json = json.loads(find_model_card(run / "model.keras").read_text())
    net = keras.saving.load_model(run / "model.keras", compile=False, safe_mode=True)
    results = {}
    for w, h in args.sizes:
        size = f"{w}x{h}"
        # the run's card at this size: its decoder, lamp refinement and merge settings kept
        sized = card_at_input_size(card_json, w, h)
        d = out / size
        d.mkdir(parents=True, exist_ok=True)
        with_input_size(net, GridSpec.from_json(sized["grid"]), cfg.model).save(d / "model.keras")
        (d / "model_card.json").write_text(json.dumps(sized))
        row = {}
        for source in args.sources:
            tols = tolerances_with_primary("10px" if source == "markings" else "adaptive")
            s = evaluate_source(d / "model.keras", source, d / "eval", None, tols)
            t = s["tolerances"]
            row[source] = {
                "mAP_adaptive": t["adaptive"]["mAP"],
                "recall_10px": t["10px"]["recall"],
                "median_error_px": s["point_error_px"]["median"],
                "frames_per_s": s["frames_per_s"],
            }
            print(f"{size} {source}: {json.dumps(row[source])}", flush=True)
        results[size] = row
    (REPO / "benchmarks" / "results" / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# One model ({run.name}) at several input sizes, fixed real validation splits (float Keras)",
        "",
        "| input | GTSDB point-mAP | markings found within 10 px | markings median err px | lights AP |",
        "|---|---|---|---|---|",
    ]
    for size, r in results.items():
        g, m, li = r.get("gtsdb", {}), r.get("markings", {}), r.get("lights", {})
        lines.append(
            f"| {size} | {g.get('mAP_adaptive', float('nan')):.3f} | {100 * m.get('recall_10px', 0):.1f} % | "
            f"{m.get('median_error_px', float('nan')):.2f} | {li.get('mAP_adaptive', float('nan')):.3f} |"
        )
    (REPO / "benchmarks" / "results" / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
