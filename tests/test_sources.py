"""Training sources: names and aliases, block splits of the real sets, label gaps, balancing."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.sources import (
    balance_sources,
    lights_split,
    markings_split,
    markings_street_split,
    parse_sources,
    photo_of,
)
from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.training.config import DataConfig

TAX = load_taxonomy("korea")


def _rec(name: str) -> ImageRecord:
    return ImageRecord(name, 10, 10, np.zeros((0, 4)), np.zeros((0, 2)), np.zeros((0,)))


def test_parse_sources():
    assert parse_sources("real+synthetic") == ["gtsdb", "markings", "lights", "synthetic"]
    assert parse_sources("synthetic+gtsdb+synthetic") == ["synthetic", "gtsdb"]
    with pytest.raises(ValueError, match="unknown data source 'gtsbd'"):
        parse_sources("synthetic+gtsbd")


def test_balance_repeats_smaller_sources():
    a = [_rec(f"a{i}") for i in range(10)]
    b = [_rec(f"b{i}") for i in range(3)]
    out = balance_sources([a, b], seed=0)
    names = [r.image_path for r in out]
    assert len(names) == 20 and sum(n.startswith("a") for n in names) == 10
    counts = [names.count(f"b{i}") for i in range(3)]
    assert sorted(counts) == [3, 3, 4]  # 10 = 3 x 3 + 1: one image drawn once more, none twice more


def test_photo_of_groups_augmented_copies():
    assert photo_of("/d/KakaoTalk_2024_04_jpg.rf.588ec6124b86bc08322902c852cb4f15.jpg") == "KakaoTalk_2024_04"
    assert photo_of("plain.jpg") == "plain"


def test_lights_split_keeps_copies_together(tmp_path):
    img, lab = tmp_path / "images", tmp_path / "labels"
    img.mkdir()
    lab.mkdir()
    for p in range(10):  # 10 photos x 3 copies; 15 % of 10 photos -> the last 2 photos validate
        for c in range(3):
            stem = f"photo{p}_jpg.rf.{c:032x}"
            cv2.imwrite(str(img / f"{stem}.jpg"), np.zeros((20, 20, 3), np.uint8))
            (lab / f"{stem}.txt").write_text("2 0.5 0.5 0.2 0.2\n")
    train, val = lights_split(DataConfig(lights_dir=str(tmp_path)), TAX)
    assert len(train) == 24 and len(val) == 6
    assert {photo_of(r.image_path) for r in val} == {"photo8", "photo9"}
    assert all(r.unlabelled == (1, 2, 3, 4, 6) for r in train + val)  # only signals are labelled


def write_marking_frames(folder, numbers):
    lines = []
    for i in numbers:
        cv2.imwrite(str(folder / f"roadmark_{i:04d}.jpg"), np.zeros((20, 20, 3), np.uint8))
        lines.append(f"1,9,9,1,1,1,9,9,stop,roadmark_{i:04d}.png")
    (folder / "annotations.csv").write_text("\n".join(lines))


def stems(records):
    return [Path(r.image_path).stem for r in records]


def test_markings_split_is_the_frame_block_and_trains_on_no_frame_of_its_street(tmp_path):
    # the street of frames 1001-1100 starts at frame 957 (a scene cut, docs/real_data.md): frames 957-1000
    # train nothing, so validation frames come from a street no training frame shows
    write_marking_frames(tmp_path, (956, 957, 1000, 1001, 1100))
    train, val = markings_split(DataConfig(markings_dir=str(tmp_path)), TAX)
    assert stems(train) == ["roadmark_0956"]
    assert stems(val) == ["roadmark_1001", "roadmark_1100"]
    assert train[0].unlabelled == (1, 2, 3, 4, 5)


def test_markings_street_split_validates_on_the_whole_street(tmp_path):
    write_marking_frames(tmp_path, (956, 957, 1000, 1001, 1100))
    train, val = markings_street_split(DataConfig(markings_dir=str(tmp_path)), TAX)
    assert stems(train) == ["roadmark_0956"]
    assert stems(val) == ["roadmark_0957", "roadmark_1000", "roadmark_1001", "roadmark_1100"]


def test_markings_mirror_adds_mirrored_training_frames_only(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LMK_CACHE", str(tmp_path / "cache"))
    lines = []
    for i in (956, 1001):
        cv2.imwrite(str(tmp_path / f"roadmark_{i:04d}.jpg"), np.zeros((20, 20, 3), np.uint8))
        lines.append(f"1,9,9,1,1,2,9,8,stop,roadmark_{i:04d}.png")  # lowest (9,9) right of (1,8)
    (tmp_path / "annotations.csv").write_text("\n".join(lines))
    train, val = markings_split(DataConfig(markings_dir=str(tmp_path), markings_mirror=True), TAX)
    assert [Path(r.image_path).stem for r in val] == ["roadmark_1001"]
    original, mirrored = train
    assert Path(mirrored.image_path).parent == tmp_path / "cache" / "mirrored" / "road-markings"
    np.testing.assert_allclose(original.points, [[9, 9]])
    # mirrored in 20 px: (19,11,11,19) x (1,2,9,8): lowest (11,9) and (19,8): the right one (19, 8)
    np.testing.assert_allclose(mirrored.points, [[19, 8]])
    assert mirrored.unlabelled == original.unlabelled and mirrored.image_id != original.image_id
