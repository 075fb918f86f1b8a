"""Speed and size of every export variant against the peer SSDLite-MobileNetV2, side by side.

    python benchmarks/bench_speed.py --quick                      # untrained weights, minutes on 2 cores
    python benchmarks/bench_speed.py --model runs/sg/model.keras  # the trained model (docs/results.md)

Both models get the same input size, the same int8 calibration images (synthetic frames through the same
letterbox) and the same interpreter (ai-edge-litert) and thread count; runs are interleaved (A B A B ...) so
machine noise hits both, and ratios are reported. Also: MACs and an estimate of the physical limit
MACs / (cores x int8 MACs per cycle x clock). Prints a table, writes speed.json and speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# AVX-512 VNNI: one vpdpbusd does 64 int8 MACs per 512-bit register; two FMA ports -> 128 MACs/cycle/core.
# Cores without VNNI (AVX2): ~32 MACs/cycle/core (vpmaddubsw + vpmaddwd). Stated, not measured.
INT8_MACS_PER_CYCLE = {"avx512_vnni": 128, "avx2": 32}


def cpu_info() -> dict:
    flags, mhz, model = "", 0.0, platform.processor()
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("flags") and not flags:
                flags = line
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    isa = "avx512_vnni" if "avx512_vnni" in flags else "avx2"
    return {"model": model, "cores": os.cpu_count(), "mhz": mhz or 2000.0, "isa": isa}


def physical_limit_ms(macs: int, threads: int, cpu: dict) -> float:
    per_s = threads * INT8_MACS_PER_CYCLE[cpu["isa"]] * cpu["mhz"] * 1e6
    return macs / per_s * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="trained model.keras (default: a fresh default model, untrained)")
    p.add_argument("--quick", action="store_true", help="fewer timing rounds and calibration images")
    p.add_argument("--out", default="bench_out/speed")
    p.add_argument("--rounds", type=int, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from peer_ssdlite import build_ssdlite_mobilenetv2

    from keras_lmk.data.coco import load_coco
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.deploy.convert import calibration_images, convert_keras
    from keras_lmk.deploy.inspect import check_builtin_only, measure_latency
    from keras_lmk.detector.grid import GridSpec
    from keras_lmk.detector.model import ModelConfig, build_model, count_macs, load_model
    from keras_lmk.synth.drive import default_synthetic_set

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    taxonomy = load_taxonomy()
    if args.model:
        net = load_model(args.model)
        h, w = net.input_shape[1:3]
        spec = GridSpec(input_height=h, input_width=w, num_classes=taxonomy.num_classes)
    else:
        spec = GridSpec(num_classes=taxonomy.num_classes)
        net = build_model(spec, ModelConfig())
    peer = build_ssdlite_mobilenetv2(spec.input_height, spec.input_width, taxonomy.num_classes)
    drive = default_synthetic_set(frames=600, seed=0)  # the real preset's synthetic set (cached by training)
    records = load_coco(Path(drive) / "annotations.json", taxonomy)
    calib = calibration_images(records, spec, 16 if args.quick else 100)

    print("converting ...", flush=True)
    variants: dict[str, bytes] = {}
    for quant in ("fp32", "fp16", "dynamic", "int8"):
        variants[f"lmk {quant}"] = convert_keras(
            net, spec, quant, representative=calib if quant == "int8" else None
        )
    variants["peer SSDLite-MobileNetV2 int8"] = convert_keras(peer, spec, "int8", representative=calib)
    for name, blob in variants.items():
        check_builtin_only(blob)
        (out / (name.replace(" ", "_") + ".tflite")).write_bytes(blob)

    rounds = args.rounds or (3 if args.quick else 7)
    cpu = cpu_info()
    threads_list = [t for t in (1, 2) if t <= (os.cpu_count() or 1)]
    lat: dict[str, dict[int, list[float]]] = {n: {t: [] for t in threads_list} for n in variants}
    for r in range(rounds):  # interleaved: every variant once per round
        for t in threads_list:
            for name, blob in variants.items():
                lat[name][t].append(measure_latency(blob, t, runs=10 if args.quick else 20, warmup=2))
        print(f"round {r + 1}/{rounds} done", flush=True)

    macs = {"lmk": count_macs(net), "peer": count_macs(peer)}
    peer_name = "peer SSDLite-MobileNetV2 int8"
    rows = []
    for name in variants:
        row = {"variant": name, "size_kb": round(len(variants[name]) / 1024, 1)}
        for t in threads_list:
            med = float(np.median(lat[name][t]))
            row[f"ms_{t}t"] = round(med, 2)
            row[f"ratio_vs_peer_{t}t"] = round(med / float(np.median(lat[peer_name][t])), 3)
        m = macs["peer"] if name == peer_name else macs["lmk"]
        row["gmacs"] = round(m / 1e9, 3)
        row["limit_ms_1t"] = round(physical_limit_ms(m, 1, cpu), 3)
        rows.append(row)

    cols = (
        ["variant", "size_kb", "gmacs"]
        + [f"ms_{t}t" for t in threads_list]
        + [f"ratio_vs_peer_{t}t" for t in threads_list]
        + ["limit_ms_1t"]
    )
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    int8 = next(r for r in rows if r["variant"] == "lmk int8")
    note = (
        f"Machine: {cpu['model']} ({cpu['cores']} cores, {cpu['mhz']:.0f} MHz, {cpu['isa']}); input "
        f"{spec.input_width}x{spec.input_height}; {rounds} interleaved rounds, median. "
        f"Physical limit = MACs / "
        f"(threads x {INT8_MACS_PER_CYCLE[cpu['isa']]} int8 MACs/cycle x clock). lmk int8 at 1 thread is "
        f"{int8['ms_1t'] / max(int8['limit_ms_1t'], 1e-9):.0f}x its limit."
    )
    table = "\n".join(lines)
    print(table + "\n" + note)
    (out / "speed.md").write_text(table + "\n\n" + note + "\n")
    (out / "speed.json").write_text(
        json.dumps({"rows": rows, "cpu": cpu, "macs": macs, "rounds": rounds, "samples_ms": lat}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
