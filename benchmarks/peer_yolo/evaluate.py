"""The peer on our fixed validation splits, scored by our metric code.

    net = load_peer(run_dir / "snapshots" / "final.weights.h5", run_config)
    runner = KerasPeer(net, 992, 1664)               # or TflitePeer("peer_int8.tflite")
    summary = evaluate_source(runner, "gtsdb", taxonomy, out_dir)
    row = bench_real.source_row(summary, "gtsdb")   # the row bench_real.py prints for our model

Per frame, as ``keras_lmk.evaluation.evaluate.run`` does for ours: the validation records of
``bench_real.validation_records`` written to COCO and read back (``load_ground_truth``,
``frames_with_truth``), the image letterboxed to the model input (``letterbox_image``), the network, the
decoder (:func:`peer_yolo.model.decode`, boxes clipped to the image as Ultralytics does), each box's point by
its class's rule, then ``PointEvaluator.add_frame`` with the record's ignore regions and unlabelled classes.
The curves and AP use the detections down to ``curve_threshold`` (0.05, ``evaluate.run``'s default); the
operating point is ``score_threshold`` (0.5, the shipped card's threshold for every class).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .model import YOLOV8N, PeerConfig, build_peer, decode, fixed_size_copy, reference_points


def load_peer(weights: str | Path, config: dict, num_classes: int):
    """The peer of a run's ``config.json`` with ``weights`` (a snapshot or a checkpoint's weights file)."""
    net = build_peer(num_classes, PeerConfig(**config["peer"]))
    net.load_weights(str(weights))
    return net


class KerasPeer:
    """The float network at a fixed input (``fixed_size_copy``)."""

    def __init__(self, net, height: int, width: int, cfg: PeerConfig = YOLOV8N):
        self.model = fixed_size_copy(net, height, width, cfg)
        self.input_hw = (height, width)
        self.name = "keras float"

    def infer(self, image_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.model(image_in[None].astype(np.float32), training=False)
        return np.asarray(out["boxes"])[0], np.asarray(out["classes"])[0]


class TflitePeer:
    """An exported peer (``speed.export_int8``) run with ai_edge_litert, outputs dequantised with the
    scale and zero point of the interpreter's own tensor details."""

    def __init__(self, path: str | Path, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        from keras_lmk.native_log import quiet_native_stderr

        with quiet_native_stderr():
            self.it = Interpreter(model_path=str(path), num_threads=threads)
            self.it.allocate_tensors()
        self.input = self.it.get_input_details()[0]
        self.input_hw = tuple(int(v) for v in self.input["shape"][1:3])
        outs = {d["shape"][-1]: d for d in self.it.get_output_details()}
        self.boxes = outs.pop(64)
        (self.classes,) = outs.values()
        self.name = f"tflite {Path(path).name}"

    def infer(self, image_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from keras_lmk.detector.decode import dequantize_output
        from keras_lmk.inference.runtime import quantize_input

        self.it.set_tensor(self.input["index"], quantize_input(image_in[None].astype(np.float32), self.input))
        self.it.invoke()
        boxes = dequantize_output(self.it.get_tensor(self.boxes["index"]), self.boxes)
        scores = dequantize_output(self.it.get_tensor(self.classes["index"]), self.classes)
        return boxes[0], scores[0]


def predict(runner, rgb: np.ndarray, threshold: float, taxonomy, cfg: PeerConfig = YOLOV8N):
    """One original RGB frame -> (points float32 [K, 2] original pixels, class ids [K] (>= 1), scores [K])."""
    from keras_lmk.detector.letterbox import letterbox_image

    h_in, w_in = runner.input_hw
    image_in, lb = letterbox_image(rgb, w_in, h_in)
    box_logits, scores = runner.infer(image_in)
    boxes, conf, cls = decode(box_logits, scores, (h_in, w_in), threshold, cfg)
    corners = lb.to_original(boxes.reshape(-1, 2)).reshape(-1, 4)
    h, w = rgb.shape[:2]
    corners = np.clip(corners, 0, [w, h, w, h]).astype(np.float32)
    return reference_points(corners, cls, taxonomy), cls + 1, conf


def evaluate_source(
    runner,
    source: str,
    taxonomy,
    out_dir: Path,
    *,
    score_threshold: float = 0.5,
    curve_threshold: float = 0.05,
    limit: int | None = None,
    cfg: PeerConfig = YOLOV8N,
) -> dict:
    """Evaluate on ``source``'s fixed validation split (its first ``limit`` frames); writes
    ``out_dir/<source>/metrics.json`` and returns the summary (``PointEvaluator.summary`` + frames/s)."""
    from bench_real import validation_records

    from keras_lmk.atomic import atomic_write_json, strict_json
    from keras_lmk.data.coco import write_coco
    from keras_lmk.evaluation.evaluate import frames_with_truth, load_ground_truth
    from keras_lmk.evaluation.matching import tolerances_with_primary
    from keras_lmk.evaluation.metrics import PointEvaluator

    primary = "10px" if source.startswith("markings") else "adaptive"
    val = validation_records(source, taxonomy)[:limit]
    (out_dir / source).mkdir(parents=True, exist_ok=True)
    records, _ = load_ground_truth(write_coco(val, taxonomy, out_dir / source / "val.json"), taxonomy)
    ev = PointEvaluator(taxonomy, tolerances_with_primary(primary), score_threshold)
    t_model, skipped = 0.0, 0
    for rec, rgb, _, _ in frames_with_truth(records, None):
        if rgb is None:
            skipped += 1
            continue
        t0 = time.perf_counter()
        points, classes, scores = predict(runner, rgb, curve_threshold, taxonomy, cfg)
        t_model += time.perf_counter() - t0
        ev.add_frame(
            rec.points,
            rec.classes,
            rec.boxes,
            points,
            classes,
            scores,
            ignore_boxes=rec.ignore_boxes,
            unlabelled=rec.unlabelled,
        )
    summary = ev.summary()
    summary.update(
        model=runner.name,
        source=source,
        skipped_images=skipped,
        frames_per_s=ev.num_frames / max(t_model, 1e-9),
        curve_threshold=curve_threshold,
        decoder=cfg.to_json(),
    )
    atomic_write_json(out_dir / source / "metrics.json", strict_json(summary))
    return summary


def corner_rule_error(taxonomy, sources=("markings", "markings_street")) -> dict:
    """How far a road marking's box corner (x1, y1) lies from its labelled point (the quad's lower-right
    vertex): the peer's error floor for markings even with a perfect box. Per source, in original px."""
    from bench_real import validation_records

    out = {}
    for source in sources:
        d = []
        for r in validation_records(source, taxonomy):
            mark = r.classes == taxonomy.class_id("road_marking")
            d.append(np.linalg.norm(r.boxes[mark, 2:] - r.points[mark], axis=-1))
        d = np.concatenate(d)
        out[source] = {
            "markings": len(d),
            "median_px": round(float(np.median(d)), 2),
            "p90_px": round(float(np.percentile(d, 90)), 2),
            "within_4px": round(float(np.mean(d <= 4)), 3),
            "within_10px": round(float(np.mean(d <= 10)), 3),
        }
    return out
