"""Regenerate the mobile integration kit (android_demo_assets/) from a trained run.

The library behind ``python -m keras_lmk.demo_assets``; usage and outputs: :mod:`keras_lmk.demo_assets`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from keras_lmk.atomic import atomic_write, atomic_write_json, atomic_write_text, check_writable_dir
from keras_lmk.deploy import kit_samples
from keras_lmk.detector.lamp_refine import LampRefineConfig

MODEL = "model_int8.tflite"


def _pick_samples(cfg, taxonomy, count: int, detect) -> list[tuple[str, object, dict]]:
    """(source name, record, how it was chosen): ``count`` validation images of each source of the run (its
    fixed validation split; keras_lmk/data/sources.py), those that show a labelled landmark found by the
    kit's model first (:mod:`keras_lmk.deploy.kit_samples`), so the kit shows every kind of input."""
    from keras_lmk.data.sources import load_source_splits

    picked = []
    for source, (_, val) in load_source_splits(cfg.data, taxonomy).items():
        labelled = [r for r in val if r.num_landmarks] or val
        shown, scanned = kit_samples.choose(labelled, detect, count)
        if len(shown) < min(count, len(labelled)):
            print(
                f"warning: the model finds a labelled landmark of {source} in {len(shown)} of its first "
                f"{scanned} validation frames; the other samples of {source} show none"
            )
        taken = {s.index for s in shown}
        rest = [i for i in range(len(labelled)) if i not in taken][: count - len(shown)]
        picked += [(source, labelled[s.index], s.to_json(scanned)) for s in shown]
        picked += [(source, labelled[i], {"found": 0, "candidate": i, "scanned": scanned}) for i in rest]
    return picked


def detections_json(dets, taxonomy) -> list[dict]:
    return [
        {
            "class_id": int(c),
            "class": taxonomy.names[int(c)],
            "x": float(p[0]),
            "y": float(p[1]),
            "score": float(s),
        }
        for c, p, s in zip(dets.classes, dets.points, dets.scores, strict=True)
    ]


def _calibrate(out: Path, data: str | Path) -> None:
    import tempfile

    from keras_lmk.evaluation import evaluate
    from keras_lmk.evaluation.calibration import calibrate_card, named
    from keras_lmk.evaluation.metrics import format_threshold

    with tempfile.TemporaryDirectory() as tmp:
        metrics = evaluate.run(out / MODEL, data, tmp, progress=False)
    point = calibrate_card(out / "model_int8.json", metrics)
    if point is None:
        raise ValueError(f"{data}: the model finds nothing there; no thresholds to calibrate")
    own = named(point.get("class_thresholds"), metrics["confusion"]["labels"])
    print(f"calibrated on {data}: pooled {point['threshold']:g}; own: {format_threshold(own) or 'none'}")


def build(
    run_dir: str | Path,
    out: str | Path,
    *,
    samples: int = 2,
    calib_steps: int = 100,
    localization_threshold: float | None = None,
    calibrate_on: str | Path | None = None,
    lamp_refine: LampRefineConfig | None = None,
    side_balanced: bool = False,
    input_size: tuple[int, int] | None = None,
    merge_across_classes: bool = False,
    score_threshold: float | None = None,
    suppress_radius: float | None = None,
) -> Path:
    """Build the kit from ``run_dir`` into ``out``; ``localization_threshold`` goes into the card as
    ``localization.score_threshold`` (the threshold ``localize`` uses; the decoder's stays for display).
    ``calibrate_on`` (COCO JSON): the int8 model's display thresholds, pooled and per class, are set from its
    best F1 there (:mod:`keras_lmk.evaluation.calibration`) before the samples are decoded; without it the
    card keeps the run's (calibrated on the run's held-out split with the float model). ``lamp_refine``: the
    card's lit-lamp refinement of traffic-light points (:mod:`keras_lmk.detector.lamp_refine`), set before
    calibrating; without it the card keeps the run's (none unless added there). ``side_balanced``: the card's
    decoder merges the points of the taxonomy's edge-point classes (``Taxonomy.edge_point_classes``: a road
    marking's lower-right end) side-balanced (:mod:`keras_lmk.detector.decode`), set before calibrating.
    ``input_size`` (width, height): the run's weights deployed at that input instead of the trained one
    (:func:`keras_lmk.detector.model.with_input_size`); the card's input, grid and output shapes follow.
    ``merge_across_classes``: the card's decoder merges votes of any class into one landmark.
    ``score_threshold``: one display threshold for every class, fitted on nothing (the run's per-class
    thresholds dropped); not together with ``calibrate_on``. ``suppress_radius``: the card's
    ``decoder.suppress_radius_px`` (model-input px; a weaker detection that close to a kept one of its class
    is dropped)."""
    if localization_threshold is not None and not 0.0 <= localization_threshold < 1.0:
        raise ValueError(f"localization threshold must be in [0, 1), got {localization_threshold}")
    if score_threshold is not None:
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score threshold must be in [0, 1), got {score_threshold}")
        if calibrate_on is not None:
            raise ValueError("a fixed score threshold and calibrate_on exclude each other")
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.deploy.convert import calibration_images, calibration_records, convert_keras, run_config
    from keras_lmk.deploy.export_lib import export_card
    from keras_lmk.detector.card import card_at_input_size, find_model_card, load_model_card
    from keras_lmk.detector.grid import GridSpec
    from keras_lmk.detector.model import load_model, with_input_size
    from keras_lmk.inference.runtime import LandmarkRuntime

    run_dir, out = Path(run_dir), check_writable_dir(out)
    model_path = run_dir / "model.keras"
    card = load_model_card(model_path)
    spec, taxonomy = card.spec, card.taxonomy
    cfg = run_config(run_dir)
    model = load_model(model_path)
    source_card = json.loads(find_model_card(model_path).read_text())
    if input_size is not None:
        source_card = card_at_input_size(source_card, *input_size)
        spec = GridSpec.from_json(source_card["grid"])
        model = with_input_size(model, spec, cfg.model)

    # ---- model + card + labels
    records = calibration_records(run_dir, taxonomy)
    tflite = convert_keras(model, spec, "int8", calibration_images(records, spec, calib_steps))
    atomic_write(out / MODEL, lambda tmp: Path(tmp).write_bytes(tflite))
    mcard = export_card(source_card, tflite, "int8")
    mcard["grid_stride"] = spec.stride
    mcard["anchor_positions"] = [list(a) for a in spec.anchors]
    mcard["labels"] = "labels.txt"
    if localization_threshold is not None:
        mcard["localization"] = {
            "score_threshold": localization_threshold,
            "meaning": "detections for map-based localization (python -m keras_lmk.localize): the robust "
            "pose association wants recall; decoder.score_threshold is for display",
        }
    if lamp_refine is not None:
        mcard["lamp_refine"] = lamp_refine.to_json()
    if side_balanced:
        mcard["decoder"] = {**mcard["decoder"], "side_balanced_classes": list(taxonomy.edge_point_classes())}
    if merge_across_classes:
        mcard["decoder"] = {**mcard["decoder"], "merge_across_classes": True}
    if suppress_radius is not None:
        if suppress_radius < 0:
            raise ValueError(f"suppress radius must be >= 0 px, got {suppress_radius}")
        mcard["decoder"] = {**mcard["decoder"], "suppress_radius_px": float(suppress_radius)}
    if score_threshold is not None:
        dec = {k: v for k, v in mcard["decoder"].items() if k != "class_score_thresholds"}
        mcard["decoder"] = {**dec, "score_threshold": score_threshold}
    if calibrate_on is not None:
        mcard["calibration"] = {
            "data": Path(calibrate_on).name,
            "rule": "decoder thresholds = the scores of best F1 of this int8 model there: pooled, and per "
            "class for classes with enough landmarks (python -m keras_lmk.evaluate --calibrate)",
        }
    atomic_write_json(out / "model_int8.json", mcard)
    atomic_write_text(out / "labels.txt", "\n".join(taxonomy.names) + "\n")
    if calibrate_on is not None:
        _calibrate(out, calibrate_on)

    # ---- samples and goldens (computed from the PNG as written, so a device reads the same pixels)
    for sub in ("samples", "golden"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir()
    rt = LandmarkRuntime(out / MODEL, num_threads=1)

    def read(rec):
        rgb = read_image_rgb(rec.image_path)
        if rgb is None:
            raise ValueError(f"{rec.image_path}: unreadable sample image")
        return rgb

    picked = _pick_samples(cfg, taxonomy, samples, lambda rec: rt.predict_frame(read(rec)))
    for i, (source, rec, chosen) in enumerate(picked):
        extra = {"chosen": {**chosen, "rule": kit_samples.RULE}}
        name = f"sample_{i}_{source}"
        _write_sample(out, name, read(rec), rec.points, rec.classes, rt, extra, golden=i == 0)
    if picked:  # a phone-sized frame made from the first sample: the letterbox shrinks it
        source, rec, _ = picked[0]
        w, h = kit_samples.phone_frame_size(spec.input_width, spec.input_height)
        frame, points, inside = kit_samples.phone_frame(read(rec), rec.points, (w, h))
        made = (
            f"sample_0_{source}.png: its centre cropped to the aspect ratio of a phone's {w}x{h} video frame "
            "and resized to it (the letterbox shrinks it into the model input)"
        )
        name = f"sample_{len(picked)}_{source}_{w}x{h}"
        classes = np.asarray(rec.classes)[inside]
        _write_sample(out, name, frame, points[inside], classes, rt, {"made_from": made}, golden=True)
    print(f"wrote {out}")
    return out


def _write_sample(out: Path, name: str, rgb, gt_points, gt_classes, rt, extra: dict, golden: bool) -> None:
    """``samples/<name>.png`` and its ``.expected.json`` (decoded from the PNG as written, so a device reads
    the same pixels); with ``golden`` the letterboxed input and raw int8 outputs in ``golden/``."""
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.deploy.inspect import raw_outputs
    from keras_lmk.detector.letterbox import letterbox_image

    cv2.imwrite(str(out / "samples" / f"{name}.png"), rgb[..., ::-1])
    rgb = read_image_rgb(out / "samples" / f"{name}.png")
    dets = rt.predict_frame(rgb)
    image_in, lb = letterbox_image(rgb, rt.spec.input_width, rt.spec.input_height)
    expected = {
        "image": f"{name}.png",
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "letterbox": {"scale": lb.scale, "pad_x": lb.pad_x, "pad_y": lb.pad_y},
        "decoder": rt.decoder.to_json(),
        "lamp_refine": rt.card.lamp_refine.to_json() if rt.card.lamp_refine else None,
        "landmarks": detections_json(dets, rt.taxonomy),
        "ground_truth": [
            {"class_id": int(c), "x": float(p[0]), "y": float(p[1])}
            for c, p in zip(gt_classes, gt_points, strict=True)
        ],
        **extra,
    }
    if golden:
        raw = raw_outputs(out / MODEL, image_in)
        np.save(out / "golden" / f"{name}_input.npy", image_in)
        for k, v in raw.items():
            np.save(out / "golden" / f"{name}_{k}.npy", v)
        expected["golden_tensors"] = {k: f"golden/{name}_{k}.npy" for k in ("input", *raw)}
    atomic_write_json(out / "samples" / f"{name}.expected.json", expected)
    print(f"{name}: {len(dets)} landmarks (scale {lb.scale:.3f})")


def check(assets: str | Path, point_tol_px: float = 0.5) -> list[str]:
    """Re-run the committed model on the committed samples; return the differences from the goldens."""
    from keras_lmk.data.frames import read_image_rgb
    from keras_lmk.deploy.inspect import raw_outputs
    from keras_lmk.detector.letterbox import letterbox_image
    from keras_lmk.inference.runtime import LandmarkRuntime

    assets = Path(assets)
    rt = LandmarkRuntime(assets / MODEL, num_threads=1)
    problems = []
    for exp_path in sorted((assets / "samples").glob("*.expected.json")):
        exp = json.loads(exp_path.read_text())
        rgb = read_image_rgb(assets / "samples" / exp["image"])
        dets = rt.predict_frame(rgb)
        got = detections_json(dets, rt.taxonomy)
        want = exp["landmarks"]
        if [g["class_id"] for g in got] != [w["class_id"] for w in want]:
            problems.append(
                f"{exp['image']}: classes {[g['class_id'] for g in got]} != {[w['class_id'] for w in want]}"
            )
        else:
            for g, w in zip(got, want, strict=True):
                d = float(np.hypot(g["x"] - w["x"], g["y"] - w["y"]))
                if d > point_tol_px:
                    problems.append(f"{exp['image']}: landmark moved {d:.2f} px ({g} vs {w})")
                if abs(g["score"] - w["score"]) > 0.01:
                    problems.append(f"{exp['image']}: score {g['score']:.4f} vs {w['score']:.4f}")
        if "golden_tensors" in exp:
            image_in, _ = letterbox_image(rgb, rt.spec.input_width, rt.spec.input_height)
            if not np.array_equal(image_in, np.load(assets / exp["golden_tensors"]["input"])):
                problems.append(f"{exp['image']}: letterboxed input differs from the golden input")
            raw = raw_outputs(assets / MODEL, image_in)
            for k in ("class_logits", "points"):
                ref = np.load(assets / exp["golden_tensors"][k])
                diff = np.abs(raw[k].astype(np.int32) - ref.astype(np.int32)).max()
                if raw[k].shape != ref.shape or diff > 1:  # at most one quantization step
                    problems.append(f"{exp['image']}: raw {k} differs by {diff} steps")
    if not list((assets / "samples").glob("*.expected.json")):
        problems.append(f"{assets}: no samples/*.expected.json")
    return problems
