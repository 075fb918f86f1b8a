"""Unwritable or full output locations fail before any long work, with a message naming the path.

Tests run as root, for whom chmod does not block writes, so "unwritable" is a path under a regular file
(``somefile/out``: no user can create it) and "full" is simulated with /dev/full (every write: ENOSPC).
Each CLI is given inputs that would make it do real work (or fail on them) if it did not check the output
first; the work functions are replaced by tripwires to prove nothing started.
"""

import errno
import json

import pytest

import keras_lmk.evaluate as evaluate_cli
import keras_lmk.predict as predict_cli


@pytest.fixture
def blocked(tmp_path):
    """An output path nobody can create: its parent is a regular file."""
    f = tmp_path / "somefile"
    f.write_text("I am a file")
    return f / "out"


def _tripwire(name):
    def fail(*a, **k):
        raise AssertionError(f"{name} ran although the output directory is unusable")

    return fail


def test_train_fails_before_loading_data(blocked, monkeypatch, capsys):
    import keras_lmk.data.sources
    from keras_lmk.train import main

    monkeypatch.setattr(keras_lmk.data.sources, "load_training_records", _tripwire("data loading"))
    assert main(["--preset", "debug", "--run-dir", str(blocked)]) == 2  # a user error, like every CLI
    err = capsys.readouterr().err
    assert "somefile/out: output directory is not writable" in err


def test_predict_fails_before_opening_the_model(blocked, monkeypatch, capsys):
    import keras_lmk.inference.predict as predict

    monkeypatch.setattr(predict, "open_runner", _tripwire("model loading"))
    monkeypatch.setattr(predict, "FrameSource", _tripwire("frame reading"))
    rc = predict_cli.main(["--model", "m.tflite", "--input", "drive.mp4", "--out", str(blocked / "p.json")])
    assert rc == 2
    assert "somefile/out: output directory is not writable" in capsys.readouterr().err


def test_predict_full_disk_at_the_end_is_an_error_not_a_partial_file(tmp_path, monkeypatch, capsys):
    import cv2
    import numpy as np
    from inference_helpers import save_tiny_keras

    import keras_lmk.inference.predict as predict

    model = save_tiny_keras(tmp_path / "run")
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((48, 64, 3), np.uint8))
    out = tmp_path / "preds.json"
    out.write_text("[]")

    def full(path, write):  # the disk fills up while the predictions are written
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(predict, "atomic_write", full)
    rc = predict_cli.main(["--model", str(model), "--input", str(tmp_path / "a.png"), "--out", str(out),
                       "--no-progress"])  # fmt: skip
    assert rc == 2
    assert "No space left on device" in capsys.readouterr().err
    assert json.loads(out.read_text()) == []


def test_evaluate_fails_before_opening_the_model(blocked, monkeypatch, capsys):
    import keras_lmk.evaluation.evaluate as evaluate

    monkeypatch.setattr(evaluate, "open_runner", _tripwire("model loading"))
    rc = evaluate_cli.main(["--model", "m.tflite", "--data", "val.json", "--out", str(blocked)])
    assert rc == 2
    assert "somefile/out: output directory is not writable" in capsys.readouterr().err


def test_synth_fails_before_rendering(blocked, monkeypatch, capsys):
    import keras_lmk.synth.__main__ as synth_cli

    monkeypatch.setattr(synth_cli, "generate_drive", _tripwire("rendering"))
    assert synth_cli.main(["--out", str(blocked), "--frames", "5"]) == 2
    assert "somefile/out: output directory is not writable" in capsys.readouterr().err


def test_data_convert_fails_before_importing(blocked, capsys):
    from keras_lmk.data.__main__ import main

    rc = main(["convert", "--from", "gtsdb", "--input", "tests/fixtures/gtsdb_tiny", "--out",
               str(blocked / "gtsdb.json")])  # fmt: skip
    assert rc == 2
    assert "somefile/out: output directory is not writable" in capsys.readouterr().err


def test_export_fails_before_loading_the_model(blocked, capsys):
    export = pytest.importorskip("keras_lmk.export")
    rc = export.main(["--model", "missing/model.keras", "--out", str(blocked), "--quant", "fp32"])
    assert rc != 0
    assert "somefile/out: output directory is not writable" in capsys.readouterr().err
