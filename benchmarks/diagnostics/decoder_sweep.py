"""Decoder settings swept on the fixed real validation splits, the model run once per frame.

    python benchmarks/diagnostics/decoder_sweep.py --model android_demo_assets/model_int8.tflite \
        --set suppress_radius_px=0,16,24,32 --out /tmp/sweep

Every variant is the card's decoder with one setting replaced (``--set KEY=V1,V2,...``); each is scored by
bench_real's own evaluation (keras_lmk.evaluation.evaluate.run), with the network's outputs cached per frame
so a variant costs the decode only. Prints, per source and variant: sign mAP / plate AP (gtsdb), found within
10 px (markings), AP (lights), precision/recall per labelled class and detections per frame at the card's
thresholds. Tune on these splits only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_real import SIGNS, evaluate_source  # noqa: E402


def cached_runner(runner):
    """``runner`` with ``infer_frame`` memoised on the frame's bytes (the decode and refine stay live)."""
    import hashlib

    cache, infer = {}, runner.infer_frame

    def infer_frame(rgb):
        key = hashlib.sha1(rgb.tobytes()).hexdigest()
        if key not in cache:
            cache[key] = infer(rgb)
        return cache[key]

    runner.infer_frame = infer_frame
    return runner


def summary(source: str, s: dict) -> dict:
    primary = "10px" if source.startswith("markings") else "adaptive"
    t = s["tolerances"]
    per = t[primary]["per_class"]
    shown = sum(v["num_pred"] for v in per.values()) + sum(s["unlabelled_predictions"].values())
    row = {
        "P/R": {k: (round(v["precision"], 3), round(v["recall"], 3)) for k, v in per.items() if v["num_gt"]},
        "det/frame": round(shown / max(1, s["frames"]), 2),
    }
    aps = {k: v["AP"] for k, v in t["adaptive"]["per_class"].items()}
    if source == "gtsdb":
        row["sign_mAP"] = round(sum(aps[k] for k in SIGNS) / len(SIGNS), 3)
        row["plate_AP"] = round(aps.get("auxiliary", float("nan")), 3)
    elif source.startswith("markings"):
        row["within_10px"] = round(t["10px"]["recall"], 3)
        row["median_px"] = round(s["point_error_px"]["median"], 2)
    else:
        row["AP"] = round(t["adaptive"]["mAP"], 3)
    return row


def main(argv=None) -> int:
    import keras_lmk.evaluation.evaluate as evaluate
    from keras_lmk.evaluation.matching import tolerances_with_primary
    from keras_lmk.inference.runtime import open_runner

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="KEY=V1,V2,... (decoder)")
    ap.add_argument("--sources", nargs="+", default=["gtsdb", "markings", "markings_street", "lights"])
    ap.add_argument("--out", default="/tmp/decoder_sweep")
    args = ap.parse_args(argv)
    runner = cached_runner(open_runner(args.model))
    base = runner.decoder
    variants = [("card", base)]
    for spec in args.sets:
        key, values = spec.split("=", 1)
        kind = type(getattr(base, key))
        for v in values.split(","):
            variants.append((f"{key}={v}", dataclasses.replace(base, **{key: kind(json.loads(v))})))
    evaluate.open_runner = lambda *a, **k: runner  # every variant reuses the one runner (and its cache)
    results = {}
    for source in args.sources:
        primary = "10px" if source.startswith("markings") else "adaptive"
        for name, cfg in variants:
            runner.decoder = cfg
            s = evaluate_source(
                Path(args.model), source, Path(args.out) / name, None, tolerances_with_primary(primary)
            )
            results.setdefault(source, {})[name] = row = summary(source, s)
            print(f"{source:16s} {name:24s} {json.dumps(row)}", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "sweep.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
