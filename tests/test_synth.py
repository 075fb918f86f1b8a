"""The synthetic-drive command line (python -m keras_lmk.synth): the reference drive covers every class."""

import json
from collections import defaultdict

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.synth.__main__ import main

TAX = load_taxonomy()


def test_class_coverage_of_the_reference_drive(tmp_path):
    main(["--out", str(tmp_path), "--frames", "200", "--seed", "1"])
    coco = json.loads((tmp_path / "annotations.json").read_text())
    frames_with = defaultdict(set)
    for a in coco["annotations"]:
        if a.get("iscrowd"):  # an ignore region (point out of frame, or too small): not a labelled landmark
            continue
        frames_with[a["category_id"]].add(a["image_id"])
        assert "landmark_id" in a and a["distance"] <= 80
    share = {TAX.names[c]: len(v) / len(coco["images"]) for c, v in frames_with.items()}
    assert set(share) == set(TAX.names[1:])
    assert min(share.values()) >= 0.3, share
