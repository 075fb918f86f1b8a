"""Parameters, MACs, int8 TFLite size and latency of the peer beside ours, measured as bench_speed.py does.

Both int8 models take the same input (1664x992 unless told otherwise) through the same converter
(``keras_lmk.deploy.convert.convert_keras``: builtin ops only, uint8 input, int8 outputs) and the same
interpreter (ai-edge-litert, ``measure_latency``), timed in interleaved rounds (ours, peer, ours, ...) at 1
and 2 threads so machine noise hits both; medians are reported.
"""

from __future__ import annotations

import os

import numpy as np

from .model import YOLOV8N, PeerConfig, fixed_size_copy


def export_int8(net, height: int, width: int, calib: list[np.ndarray], cfg: PeerConfig = YOLOV8N) -> bytes:
    """The peer as an int8 TFLite flatbuffer at [1, height, width, 3] (builtin ops only, checked)."""
    from keras_lmk.deploy.convert import convert_keras
    from keras_lmk.deploy.inspect import check_builtin_only
    from keras_lmk.detector.grid import GridSpec

    spec = GridSpec(input_height=height, input_width=width)
    blob = convert_keras(fixed_size_copy(net, height, width, cfg), spec, "int8", representative=calib)
    check_builtin_only(blob)
    return blob


def calibration(records, height: int, width: int, n: int) -> list[np.ndarray]:
    """``n`` letterboxed training images (``calibration_images``, the export's own sampler)."""
    from keras_lmk.deploy.convert import calibration_images
    from keras_lmk.detector.grid import GridSpec

    return calibration_images(records, GridSpec(input_height=height, input_width=width), n)


def our_network(height: int, width: int):
    """Our network as the ``real`` preset builds it, at the given input, with the shipped weights
    (``models/real-v22.weights.h5``) when the checkout has them."""
    import dataclasses

    from keras_lmk.detector.model import build_model
    from keras_lmk.training.config import SHIPPED_WEIGHTS, resolve_config

    cfg = resolve_config("real")
    net = build_model(dataclasses.replace(cfg.grid, input_height=height, input_width=width), cfg.model)
    if SHIPPED_WEIGHTS.exists():
        net.load_weights(SHIPPED_WEIGHTS)
    return net


def export_ours_int8(height: int, width: int, calib: list[np.ndarray]) -> bytes:
    """Our network as int8 TFLite through the same converter and calibration images as the peer."""
    import dataclasses

    from keras_lmk.deploy.convert import convert_keras
    from keras_lmk.training.config import resolve_config

    spec = dataclasses.replace(resolve_config("real").grid, input_height=height, input_width=width)
    return convert_keras(our_network(height, width), spec, "int8", representative=calib)


def compare_speed(
    peer_net,
    peer_int8: bytes,
    ours_int8: bytes,
    height: int,
    width: int,
    rounds: int = 3,
    runs: int = 10,
    cfg: PeerConfig = YOLOV8N,
) -> dict:
    """{"ours": {...}, "peer": {...}, "cpu": ..., "rounds": ...}: parameters, GMACs, int8 size (KB) and
    median latency (ms) at 1 and 2 threads of both, and the peer-over-ours ratios."""
    from bench_speed import cpu_info

    from keras_lmk.deploy.inspect import measure_latency
    from keras_lmk.detector.model import count_macs

    ours_net = our_network(height, width)
    threads = [t for t in (1, 2) if t <= (os.cpu_count() or 1)]
    blobs = {"ours": ours_int8, "peer": peer_int8}
    lat = {n: {t: [] for t in threads} for n in blobs}
    for _ in range(rounds):
        for t in threads:
            for name, blob in blobs.items():
                lat[name][t].append(measure_latency(blob, t, runs=runs, warmup=2))
    nets = {"ours": ours_net, "peer": fixed_size_copy(peer_net, height, width, cfg)}
    out: dict = {"input": f"{width}x{height}", "rounds": rounds, "cpu": cpu_info(), "samples_ms": lat}
    for name, blob in blobs.items():
        out[name] = {
            "parameters": int(nets[name].count_params()),
            "gmacs": round(count_macs(nets[name]) / 1e9, 3),
            "int8_kb": round(len(blob) / 1024, 1),
            **{f"ms_{t}t": round(float(np.median(lat[name][t])), 2) for t in threads},
        }
    out["peer_over_ours"] = {
        k: round(out["peer"][k] / out["ours"][k], 2) for k in out["peer"] if k in out["ours"]
    }
    return out
