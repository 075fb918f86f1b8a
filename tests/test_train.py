"""End-to-end training on a tiny synthetic set: the run directory is complete, loss falls, resume works."""

import csv
import json

import numpy as np
import pytest

from keras_lmk.train import main as train_main
from keras_lmk.training.config import resolve_config
from keras_lmk.training.run import run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cfg = resolve_config(
        "debug",
        None,
        [
            "train.epochs=3",
            "train.steps_per_epoch=4",
            "train.learning_rate=0.003",
            "train.trajectory_every=1",
        ],
    )
    summary = run(cfg, run_dir)
    return run_dir, summary


def test_run_directory_is_complete(tiny_run):
    run_dir, summary = tiny_run
    for name in [
        "model.keras",
        "checkpoints/best.keras",
        "checkpoints/last.keras",
        "checkpoints/last_state.npz",
        "config.yaml",
        "val.json",
        "model_card.json",
        "history.csv",
        "trajectory.csv",
        "loss_trajectory.png",
        "summary.json",
    ]:
        assert (run_dir / name).exists(), name
    card = json.loads((run_dir / "model_card.json").read_text())
    assert [o["name"] for o in card["outputs"]] == ["class_logits", "points"]
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "cls", "loc", "val_loss"} <= set(rows[0])


def test_few_steps_lower_the_loss(tiny_run):
    run_dir, _ = tiny_run
    traj = np.loadtxt(run_dir / "trajectory.csv", delimiter=",", skiprows=1)
    first, last = traj[:3, 1].mean(), traj[-3:, 1].mean()
    assert last < first, (first, last)


def test_saved_model_loads_in_safe_mode_and_predicts(tiny_run):
    import keras

    run_dir, _ = tiny_run
    net = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    out = net.predict(np.zeros((1, 96, 160, 3), np.float32), verbose=0)
    assert out["class_logits"].shape == (1, 12 * 20, 5, 7)
    assert out["points"].shape == (1, 12 * 20, 5, 2)


def test_resume_continues_after_last_checkpoint(tiny_run, tmp_path, capsys):
    import shutil

    run_dir, _ = tiny_run
    resumed = tmp_path / "resumed"
    shutil.copytree(run_dir, resumed)
    rc = train_main(
        [
            "--preset",
            "debug",
            "--run-dir",
            str(resumed),
            "--resume",
            "--set",
            "train.epochs=4",
            "--set",
            "train.steps_per_epoch=4",
            "--set",
            "train.learning_rate=0.003",
        ]
    )
    assert rc == 0
    assert "resumed after epoch 3" in capsys.readouterr().out
    rows = list(csv.DictReader(open(resumed / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_bad_override_is_a_clear_error(capsys):
    assert train_main(["--preset", "debug", "--set", "train.epoch=1"]) == 2
    assert "unknown config key: train.epoch" in capsys.readouterr().err


def test_training_under_a_mirrored_strategy_on_cpu(tmp_path):
    """The multi-GPU path (MirroredStrategy) exercised with the CPU device as its one replica."""
    cfg = resolve_config(
        "debug", None, ["train.epochs=1", "train.steps_per_epoch=2", "train.distribute=mirrored"]
    )
    summary = run(cfg, tmp_path / "mirrored")
    assert summary["epochs"] == 1
    assert np.isfinite(summary["final"]["loss"])


def test_resume_uses_the_runs_own_config_and_keeps_the_network(tiny_run, tmp_path, capsys):
    """--resume reads RUN/config.yaml: no --preset here (the default preset has a 512x320 grid and 1,200
    frames); the debug run goes on at its own 96x160 grid and 4 steps an epoch, only the epochs extended.
    Changing the grid on resume is refused before anything is written."""
    import shutil

    import yaml

    run_dir, _ = tiny_run
    resumed = tmp_path / "resumed"
    shutil.copytree(run_dir, resumed)
    saved = (resumed / "config.yaml").read_text()
    assert train_main(["--run-dir", str(resumed), "--resume", "--set", "grid.input_width=320"]) == 2
    err = capsys.readouterr().err
    assert "cannot change the network" in err and "grid.input_width: 160 -> 320" in err
    assert (resumed / "config.yaml").read_text() == saved
    stale = resumed / "checkpoints" / ".last.keras.k1ll3d00.tmp.keras"  # what a SIGKILL mid-write leaves
    stale.write_bytes(b"half a zip")
    assert train_main(["--run-dir", str(resumed), "--resume", "--set", "train.epochs=4"]) == 0
    assert "resumed after epoch 3" in capsys.readouterr().out
    assert not stale.exists()
    cfg = yaml.safe_load((resumed / "config.yaml").read_text())
    assert (cfg["grid"]["input_height"], cfg["grid"]["input_width"]) == (96, 160)
    assert cfg["train"]["epochs"] == 4 and cfg["train"]["steps_per_epoch"] == 4
    rows = list(csv.DictReader(open(resumed / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_operating_point_is_calibrated_on_the_held_out_split(tiny_run, tmp_path):
    """After training, RUN/eval/ holds the held-out evaluation, and the model card's threshold is its
    best-F1 score threshold (or, when the tiny model predicts nothing there, the configured 0.3)."""
    run_dir, summary = tiny_run
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    card = json.loads((run_dir / "model_card.json").read_text())
    assert metrics["frames"] == summary["val_images"] > 0
    best = metrics["best_f1"]
    assert summary["operating_point"] == (
        None if best is None else {**best, "mAP": metrics["tolerances"]["adaptive"]["mAP"]}
    )
    assert card["decoder"]["score_threshold"] == (0.3 if best is None else best["threshold"])


def test_calibration_can_be_switched_off(tmp_path):
    cfg = resolve_config(
        "debug", None, ["train.epochs=1", "train.steps_per_epoch=1", "train.calibrate_threshold=false",
                        "decoder.score_threshold=0.42"]
    )  # fmt: skip
    summary = run(cfg, tmp_path / "r")
    assert summary["operating_point"] is None and not (tmp_path / "r" / "eval").exists()
    card = json.loads((tmp_path / "r" / "model_card.json").read_text())
    assert card["decoder"]["score_threshold"] == 0.42


def test_calibrated_threshold_gives_the_best_f1_under_the_real_decoder(tmp_path):
    """The threshold comes from score histograms of one low-threshold decode; decoding again at it must
    give that F1, and no other threshold of a sweep may beat it."""
    from inference_helpers import save_tiny_keras
    from test_evaluate import write_fixture

    from keras_lmk.evaluation import evaluate
    from keras_lmk.training.run import calibrate_operating_point

    model = save_tiny_keras(tmp_path)
    val = write_fixture(tmp_path)
    best = calibrate_operating_point(tmp_path)
    assert best is not None and 0.05 <= best["threshold"] < 1
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["decoder"]["score_threshold"] == best["threshold"]
    at_card = evaluate.run(model, val, tmp_path / "at_card", progress=False)
    assert at_card["operating_threshold"] == best["threshold"]
    assert at_card["tolerances"]["adaptive"]["f1"] == pytest.approx(best["f1"])
    for t in (0.1, 0.3, 0.5, 0.7, 0.9):
        s = evaluate.run(model, val, tmp_path / f"t{t}", progress=False, score_threshold=t)
        assert s["tolerances"]["adaptive"]["f1"] <= best["f1"] + 1e-9, t


def test_a_finished_run_is_not_overwritten_without_asking(tiny_run, capsys):
    run_dir, _ = tiny_run
    before = (run_dir / "model.keras").stat().st_mtime_ns
    assert train_main(["--preset", "debug", "--run-dir", str(run_dir)]) == 2
    assert "holds a trained run" in capsys.readouterr().err
    assert (run_dir / "model.keras").stat().st_mtime_ns == before
