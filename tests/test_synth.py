"""The synthetic-drive command line (python -m keras_lmk.synth): the reference drive covers every class."""

import json
from collections import defaultdict

import pytest

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


def test_help_is_plain_text_with_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "``" not in out and ":mod:" not in out  # no RST markup
    flat = " ".join(out.split())
    for text in ("(default: 200)", "(default: 0)", "(default: 640)", "(default: 360)", "--no-progress"):
        assert text in flat, text
    assert (
        "python -m keras_lmk.synth --out /tmp/drive --frames 200 --seed 1" in out
    )  # the example, as written


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--frames", "0"], "error: --frames: must be at least 1, got 0"),
        (["--frames", "2", "--width", "8"], "error: --width: must be at least 16 pixels, got 8"),
        (["--frames", "2", "--height", "-3"], "error: --height: must be at least 16 pixels, got -3"),
    ],
)
def test_bad_numbers_are_errors_that_name_the_flag(argv, message, tmp_path, capsys):
    assert main(["--out", str(tmp_path / "new"), *argv]) == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "new").exists()


def test_progress_bar_on_stderr_unless_no_progress(tmp_path, capsys):
    args = ["--frames", "2", "--width", "32", "--height", "32", "--clean"]
    assert main(["--out", str(tmp_path / "a"), *args, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out == f"wrote 2 frames to {tmp_path / 'a'}\n"
    assert main(["--out", str(tmp_path / "b"), *args]) == 0
    err = capsys.readouterr().err
    assert "synth b" in err and "2/2" in err  # tqdm: description and count
