"""Training library (keras_lmk.training.run), narrow and fast: a run directory holding a trained run is
refused before anything is written, the operating point is set from the held-out F1 (evaluation faked with
hand-written metrics) or left alone when that F1 is 0, and a CPU machine trains on one replica. Whole
training runs (debug preset) are tested in test_train.py."""

import json

import pytest

from keras_lmk.training.config import resolve_config
from keras_lmk.training.distribute import pick_strategy
from keras_lmk.training.run import calibrate_operating_point, run


@pytest.mark.parametrize("trained", ["model.keras", "checkpoints/last.keras"])
def test_a_trained_run_is_refused_and_left_as_it_was(tmp_path, trained):
    (tmp_path / trained).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / trained).write_bytes(b"weights")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    with pytest.raises(
        ValueError, match=f"holds a trained run \\({trained.split('/')[-1]}\\); pass --resume"
    ):
        run(resolve_config("debug"), tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before  # no config.yaml
    assert (tmp_path / trained).read_bytes() == b"weights"


def fake_evaluation(monkeypatch, best, **more):
    from keras_lmk.evaluation import evaluate

    calls = []

    def fake_run(model, data, out, progress=True):
        calls.append((model.name, data.name, out.name, progress))
        return {
            "best_f1": best,
            "tolerances": {"adaptive": {"mAP": 0.625}},
            "primary_tolerance": "adaptive",
            **more,
        }

    monkeypatch.setattr(evaluate, "run", fake_run)
    return calls


def write_card(run_dir, threshold=0.05):
    (run_dir / "model_card.json").write_text(
        json.dumps({"decoder": {"score_threshold": threshold}, "grid": {}})
    )


def test_operating_point_is_the_held_out_best_f1(tmp_path, monkeypatch):
    write_card(tmp_path)
    best = {"threshold": 0.4, "f1": 0.75, "precision": 0.8, "recall": 0.7}
    calls = fake_evaluation(monkeypatch, best)
    assert calibrate_operating_point(tmp_path) == {**best, "mAP": 0.625}
    assert calls == [("model.keras", "val.json", "eval", False)]
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card == {"decoder": {"score_threshold": 0.4}, "grid": {}}


def test_classes_with_enough_held_out_landmarks_get_their_own_threshold(tmp_path, monkeypatch):
    names = ["background", "sign", "signal", "road_marking", "pole"]
    card = {"decoder": {"score_threshold": 0.05}, "taxonomy": {"classes": [{"name": n} for n in names]}}
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    best = {"threshold": 0.8, "f1": 0.7, "precision": 0.7, "recall": 0.7}

    def point(t, f1=0.6):
        return {"threshold": t, "f1": f1, "precision": 0.5, "recall": 0.5}

    fake_evaluation(
        monkeypatch,
        best,
        # sign: 12 landmarks -> 0.95; signal: 4 landmarks (< 5) -> pooled; road_marking: 5 -> 0.75;
        # pole: its best F1 is 0 -> pooled
        best_f1_per_class={"sign": point(0.95), "signal": point(0.6), "road_marking": point(0.75),
                           "pole": point(0.3, 0.0)},
        num_gt={"sign": 12, "signal": 4, "road_marking": 5, "pole": 9},
    )  # fmt: skip
    got = calibrate_operating_point(tmp_path)
    assert got["class_thresholds"] == [None, 0.95, None, 0.75, None]
    decoder = json.loads((tmp_path / "model_card.json").read_text())["decoder"]
    assert decoder == {"score_threshold": 0.8, "class_score_thresholds": [None, 0.95, None, 0.75, None]}
    # switched off: one threshold, and a stale per-class list is removed
    assert "class_thresholds" not in calibrate_operating_point(tmp_path, per_class=False)
    assert json.loads((tmp_path / "model_card.json").read_text())["decoder"] == {"score_threshold": 0.8}


@pytest.mark.parametrize("best", [None, {"threshold": 0.01, "f1": 0.0, "precision": 0.0, "recall": 0.0}])
def test_no_operating_point_from_a_split_where_nothing_is_found(tmp_path, monkeypatch, best):
    write_card(tmp_path, threshold=0.3)
    fake_evaluation(monkeypatch, best)
    assert calibrate_operating_point(tmp_path) is None
    assert json.loads((tmp_path / "model_card.json").read_text())["decoder"]["score_threshold"] == 0.3


def test_a_cpu_machine_trains_on_one_replica(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        pytest.skip("several GPUs: auto picks MirroredStrategy")
    assert pick_strategy("auto").num_replicas_in_sync == 1
    assert pick_strategy("auto") is tf.distribute.get_strategy()  # the default strategy, no wrapping


def test_a_start_that_fails_on_its_data_leaves_nothing_behind(tmp_path, capsys):
    # the markings source read from an empty folder: the CLI says which folder and exits 2, and the run
    # directory it made is gone again (no config.yaml or model_card.json from the failed start)
    from keras_lmk.train import main

    empty = tmp_path / "no_markings"
    empty.mkdir()
    run_dir = tmp_path / "r"
    code = main(["--preset", "debug", "--run-dir", str(run_dir), "--set", "data.source=markings",
                 "--set", f"data.markings_dir={empty}"])  # fmt: skip
    assert code == 2
    assert str(empty) in capsys.readouterr().err
    assert not run_dir.exists()


def _coco_set(root, broken: str | None = None):
    """A tiny COCO training set of 6 plain images; with ``broken``, image 3 is a JPEG cut off mid-copy."""
    import cv2
    import numpy as np

    root.mkdir(parents=True)
    images = []
    for i in range(6):
        name = f"{i}.jpg"
        data = cv2.imencode(".jpg", np.full((48, 64, 3), 40 * i, np.uint8))[1].tobytes()
        (root / name).write_bytes(data[: len(data) // 2] if broken and i == 3 else data)
        images.append({"id": i + 1, "file_name": name, "width": 64, "height": 48})
    categories = [{"id": 1, "name": "regulatory"}]
    (root / "train.json").write_text(
        json.dumps({"images": images, "annotations": [], "categories": categories})
    )
    return root / "train.json"


def test_a_broken_training_image_is_named_before_anything_is_written(tmp_path, capsys, monkeypatch):
    # a truncated JPEG in a COCO set used to end the first training step in an 8-line TensorFlow graph error
    # naming no file, leaving config.yaml, model_card.json and val.json behind
    from keras_lmk.train import main

    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    coco = _coco_set(tmp_path / "data", broken="truncated")
    run_dir = tmp_path / "r"
    code = main(["--preset", "debug", "--run-dir", str(run_dir), "--set", "data.source=coco",
                 "--set", f"data.coco_json={coco}"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: {tmp_path / 'data' / '3.jpg'}: truncated JPEG" in err and "Traceback" not in err
    assert "data.skip_bad=true" in err  # says how to train on without it
    assert not run_dir.exists()


@pytest.mark.parametrize("weights", ["missing", "not hdf5"])
def test_a_bad_weights_path_is_named_before_anything_is_written(weights, tmp_path, capsys, monkeypatch):
    # a missing model.weights_path was a raw h5py error after config.yaml, model_card.json and val.json
    from keras_lmk.train import main

    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    path = tmp_path / "w.weights.h5"
    if weights == "not hdf5":
        path.write_text("not weights")
    run_dir = tmp_path / "r"
    code = main(["--preset", "debug", "--run-dir", str(run_dir), "--set", f"model.weights_path={path}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: {path}: " in err and "model.weights_path" in err and "Traceback" not in err
    assert not run_dir.exists()


def test_the_held_out_evaluation_shows_progress_on_a_terminal_only(tmp_path, monkeypatch):
    # about 2 min on the real splits without a sign of life; a log file gets no redrawn bar
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    write_card(tmp_path)
    calls = fake_evaluation(monkeypatch, {"threshold": 0.4, "f1": 0.75, "precision": 0.8, "recall": 0.7})
    monkeypatch.setattr(sys, "stderr", Terminal())
    calibrate_operating_point(tmp_path)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    calibrate_operating_point(tmp_path)
    assert [c[-1] for c in calls] == [True, False]


def test_keras_progress_bar_only_on_a_terminal():
    # Keras's bar (verbose 1) writes ANSI colour codes whatever the output: one line an epoch (2) in a log
    import io

    from keras_lmk.training.run import fit_verbosity

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert [fit_verbosity(v, Terminal()) for v in (0, 1, 2)] == [0, 1, 2]
    assert [fit_verbosity(v, io.StringIO()) for v in (0, 1, 2)] == [0, 2, 2]


def test_a_keras_model_file_is_accepted_as_weights(tmp_path):
    # Keras loads weights from a whole .keras model (a zip) as well as from .weights.h5 (HDF5): the early
    # check must let both through and stop anything else (found by the recipe, whose stages hand on .keras)
    import zipfile

    from keras_lmk.training.config import resolve_config
    from keras_lmk.training.run import check_weights_files

    keras_file = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_file, "w") as z:
        z.writestr("config.json", "{}")
    h5 = tmp_path / "w.weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(8))
    for path in (keras_file, h5):
        check_weights_files(resolve_config("debug", overrides=[f"model.weights_path={path}"]))
    other = tmp_path / "w.npz"
    other.write_bytes(b"PK\x03\x04 but an npz")
    with pytest.raises(ValueError, match="w.npz"):
        check_weights_files(resolve_config("debug", overrides=[f"model.weights_path={other}"]))
