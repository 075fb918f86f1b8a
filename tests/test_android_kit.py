"""The shipped Android kit (android_demo_assets/): its README's letterbox procedure, followed step by step
as a phone app would, reproduces the golden input exactly (issue 16)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

KIT = Path(__file__).resolve().parents[1] / "android_demo_assets"


def readme_letterbox(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """android_demo_assets/README.md, section 1, line by line (integer division for the padding, grey 114,
    OpenCV's area filter when shrinking and bilinear when enlarging, as the README prescribes)."""
    img_h, img_w = rgb.shape[:2]
    scale = min(width / img_w, height / img_h)
    new_w, new_h = round(img_w * scale), round(img_h * scale)
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    out = np.full((height, width, 3), 114, np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(rgb, (new_w, new_h), interpolation=interp)
    return out


def test_readme_procedure_reproduces_the_golden_input():
    card = json.loads((KIT / "model_int8.json").read_text())
    width, height = card["input"]["width"], card["input"]["height"]
    goldens = sorted((KIT / "golden").glob("*_input.npy"))
    if not goldens:
        pytest.fail("the kit has no golden input")
    for golden in goldens:
        name = golden.name[: -len("_input.npy")]
        bgr = cv2.imread(str(KIT / "samples" / f"{name}.png"), cv2.IMREAD_COLOR)
        assert bgr is not None, f"missing sample image for {golden.name}"
        want = np.load(golden).reshape(height, width, 3)
        got = readme_letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width, height)
        assert np.array_equal(got, want), f"{name}: max diff {np.abs(got.astype(int) - want).max()}"


def test_readme_states_the_kits_input_size():
    card = json.loads((KIT / "model_int8.json").read_text())
    text = " ".join((KIT / "README.md").read_text().split())
    assert f"({card['input']['width']}x{card['input']['height']} for the shipped model)" in text


def test_a_golden_is_a_phone_frame_shrunk_into_the_input():
    # every 1920x1080 phone frame is shrunk into the 1664x992 input (area filter): a golden must take that
    # path, and the README procedure above must reproduce it. By hand: scale min(1664 / 1920, 992 / 1080) =
    # 13/15, 1080 * 13/15 = 936 rows, (992 - 936) / 2 = 28 grey rows above and below
    card = json.loads((KIT / "model_int8.json").read_text())
    width, height = card["input"]["width"], card["input"]["height"]
    golden = [
        e
        for p in sorted((KIT / "samples").glob("*.expected.json"))
        if "golden_tensors" in (e := json.loads(p.read_text()))
    ]
    shrunk = [e for e in golden if min(width / e["width"], height / e["height"]) < 1]
    assert shrunk, "no golden sample is shrunk into the model input"
    if (width, height) == (1664, 992):
        assert [(e["width"], e["height"]) for e in shrunk] == [(1920, 1080)]
        assert shrunk[0]["letterbox"] == {"scale": pytest.approx(13 / 15), "pad_x": 0, "pad_y": 28}
