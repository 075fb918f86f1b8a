"""Dataset CLI end to end (main(argv) in-process, one real subprocess)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_lmk.data.__main__ import main
from keras_lmk.data.coco import load_coco
from keras_lmk.data.stats import dataset_stats
from keras_lmk.data.taxonomy import load_taxonomy

FIXTURES = Path(__file__).parent / "fixtures"
TAX = load_taxonomy("korea")


def test_convert_gtsdb_split_stats(tmp_path, capsys):
    out = tmp_path / "out" / "gtsdb.json"
    assert (
        main(["convert", "--from", "gtsdb", "--input", str(FIXTURES / "gtsdb_tiny"), "--out", str(out)]) == 0
    )
    data = json.loads(out.read_text())
    assert len(data["images"]) == 3 and len(data["annotations"]) == 4
    name = data["images"][0]["file_name"]  # relative to the JSON's folder
    assert name.endswith("gtsdb_tiny/00000.jpg") and not Path(name).is_absolute()
    recs = load_coco(out, TAX)
    assert [Path(r.image_path).name for r in recs] == ["00000.jpg", "00001.png", "00002.jpg"]
    np.testing.assert_array_equal(recs[1].classes, [2, 3])

    tr, va = tmp_path / "train.json", tmp_path / "val.json"
    argv = ["split", "--in", str(out), "--val-fraction", "0.34", "--seed", "0", "--out-train", str(tr)]
    assert main([*argv, "--out-val", str(va)]) == 0
    assert len(load_coco(tr, TAX)) == 2 and len(load_coco(va, TAX)) == 1
    capsys.readouterr()
    assert main(["stats", "--in", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 images (1 without landmarks), 4 landmarks" in text and "indicating     2" in text
    s = dataset_stats(recs, TAX)
    assert s["per_class"]["warning"] == 1 and s["box_size_px"]["max"] == pytest.approx(np.sqrt(39 * 29))


def test_convert_skip_bad_reports_and_bad_input_exits_2(tmp_path, capsys):
    d = shutil.copytree(FIXTURES / "gtsdb_tiny", tmp_path / "g")
    with open(d / "gt.txt", "a") as f:
        f.write("00001.ppm;1;1;5;5;99\n")
    out = tmp_path / "a.json"
    assert main(["convert", "--from", "gtsdb", "--input", str(d), "--out", str(out)]) == 2
    assert f"{d / 'gt.txt'}:5: unknown class '99'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["convert", "--from", "gtsdb", "--input", str(d), "--out", str(out), "--skip-bad"]) == 0
    text = capsys.readouterr().out
    assert "skipped 1 image(s) over 1 problem(s)" in text and "gt.txt:5" in text
    assert len(json.loads(out.read_text())["images"]) == 2


def test_convert_yolo_subprocess(tmp_path):
    out = tmp_path / "y.json"
    y = FIXTURES / "yolo_tiny"
    cmd = [
        sys.executable,
        "-m",
        "keras_lmk.data",
        "convert",
        "--from",
        "yolo",
        "--input",
        str(y),
        "--mapping",
        str(y / "names.txt"),
        "--out",
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120)
    assert res.returncode == 0, res.stderr
    assert "2 images, 3 landmarks" in res.stdout
    from pycocotools.coco import COCO

    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 3
    a = load_coco(out, TAX)[0]
    np.testing.assert_allclose(a.points, [[20, 15], [20, 21], [34, 18]], atol=1e-5)


def test_split_of_a_named_source_writes_its_fixed_block_and_label_gaps(tmp_path, monkeypatch, capsys):
    import cv2

    folder = tmp_path / "shared" / "road-markings-train"
    folder.mkdir(parents=True)
    lines = []
    for i in (955, 956, 1000, 1001, 1100):  # 957-1000 show the validation street: in neither file
        cv2.imwrite(str(folder / f"roadmark_{i:04d}.jpg"), np.zeros((20, 20, 3), np.uint8))
        lines.append(f"1,9,9,1,1,1,9,9,stop,roadmark_{i:04d}.png")
    (folder / "annotations.csv").write_text("\n".join(lines))
    monkeypatch.setenv("KERAS_LMK_DATA", str(tmp_path / "shared"))
    tr, va = tmp_path / "t.json", tmp_path / "v.json"
    assert main(["split", "--source", "markings", "--out-train", str(tr), "--out-val", str(va)]) == 0
    val = json.loads(va.read_text())["images"]
    assert [Path(im["file_name"]).name for im in val] == ["roadmark_1001.jpg", "roadmark_1100.jpg"]
    # marking frames label only road markings (id 6): every other class is listed as unlabelled
    assert all(im["unlabelled_category_ids"] == [1, 2, 3, 4, 5] for im in val)
    train = json.loads(tr.read_text())["images"]
    assert [Path(im["file_name"]).name for im in train] == ["roadmark_0955.jpg", "roadmark_0956.jpg"]
    capsys.readouterr()
    assert main(["split", "--source", "nosuch", "--out-train", str(tr), "--out-val", str(va)]) == 2
    assert "unknown data source 'nosuch'" in capsys.readouterr().err
