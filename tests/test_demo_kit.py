"""Mobile kit library (keras_lmk.deploy.demo_kit): the committed android_demo_assets reproduce their goldens,
and the check reports each hand-made change to a copy of them; detections as JSON by hand. Building a kit
runs in test_demo_assets.py (the command line)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.deploy import demo_kit
from keras_lmk.detector.decode import Detections

ASSETS = Path(__file__).resolve().parents[1] / "android_demo_assets"
needs_kit = pytest.mark.skipif(
    not list(ASSETS.glob("*.tflite")),
    reason="android_demo_assets/*.tflite not generated yet (python -m keras_lmk.demo_assets)",
)


def test_detections_json_by_hand():
    tax = load_taxonomy("korea")
    dets = Detections(
        np.array([1, 6], np.int32), np.array([[10.5, 20.25], [3.0, 4.0]], np.float32), np.array([0.5, 0.25])
    )
    assert demo_kit.detections_json(dets, tax) == [
        {"class_id": 1, "class": tax.names[1], "x": 10.5, "y": 20.25, "score": 0.5},
        {"class_id": 6, "class": tax.names[6], "x": 3.0, "y": 4.0, "score": 0.25},
    ]


@needs_kit
def test_committed_assets_reproduce_goldens():
    assert demo_kit.check(ASSETS) == []


@needs_kit
def test_check_reports_every_change_to_the_kit(tmp_path):
    kit = shutil.copytree(ASSETS, tmp_path / "kit")
    # the sample with golden tensors (the first one the kit writes)
    exp_path = next(
        p
        for p in sorted((kit / "samples").glob("*.expected.json"))
        if "golden_tensors" in json.loads(p.read_text())
    )
    exp = json.loads(exp_path.read_text())
    sample = exp_path.name.replace(".expected.json", ".png")
    score = exp["landmarks"][0]["score"]

    def with_expected(change) -> list[str]:
        changed = json.loads(json.dumps(exp))
        change(changed)
        exp_path.write_text(json.dumps(changed))
        return demo_kit.check(kit)

    def move(e):
        e["landmarks"][0]["x"] += 2.0

    def rescore(e):
        e["landmarks"][0]["score"] -= 0.05

    def drop(e):
        e["landmarks"].pop()

    assert [p.split(": ")[1][:19] for p in with_expected(move)] == ["landmark moved 2.00"]
    assert [p.split(": ")[1][:11] for p in with_expected(rescore)] == [f"score {score:.4f}"[:11]]
    assert [p.split(": ")[1][:7] for p in with_expected(drop)] == ["classes"]
    exp_path.write_text(json.dumps(exp))
    golden = kit / exp["golden_tensors"]["input"]
    x = np.load(golden)
    x[0, 0, 0] ^= 1
    np.save(golden, x)
    assert demo_kit.check(kit) == [f"{sample}: letterboxed input differs from the golden input"]
    for p in (kit / "samples").glob("*.expected.json"):
        p.unlink()
    assert demo_kit.check(kit) == [f"{kit}: no samples/*.expected.json"]
