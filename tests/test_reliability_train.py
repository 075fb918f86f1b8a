"""Training under faults: SIGKILL mid-epoch then --resume, a non-finite loss, safe-mode loading, and a .tflite
whose signature disagrees with its model card.

The kill test runs the real CLI in subprocesses (``python -m keras_lmk.train --preset debug ...``), waits for
the first checkpoint, kills the process with SIGKILL during the next epoch and resumes. It checks that at most
one epoch is lost, that history.csv stays contiguous, and that every file in the run directory loads; the
only files allowed to be partial are the hidden atomic-write temporaries (``.NAME.XXXX.tmp.EXT``), never a
final name.
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

STEPS = 8  # per epoch
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?$")  # keras_lmk.atomic temporaries


def _cmd(run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "keras_lmk.train", "--preset", "debug", "--run-dir", str(run_dir),
        "--set", "train.epochs=2", "--set", f"train.steps_per_epoch={STEPS}", "--set", "train.verbose=2",
        "--set", "train.trajectory_every=1", *extra,
    ]  # fmt: skip


def _state_epoch(run_dir: Path) -> int:
    with np.load(run_dir / "checkpoints" / "last_state.npz", allow_pickle=False) as d:
        return json.loads(str(d["state_json"]))["epoch"]


def check_run_dir_loads(run_dir: Path) -> list[str]:
    """Load every file under run_dir with its own reader; return the names of atomic temporaries found."""
    import keras

    import keras_lmk.detector.layers  # noqa: F401  (custom layers registered for safe mode)

    temps = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        if TEMP_NAME.match(path.name):
            temps.append(path.name)  # hidden, never a final name: a reader does not pick it up
            continue
        suffix = path.suffix
        if suffix == ".keras":
            keras.saving.load_model(path, safe_mode=True, compile=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as d:
                json.loads(str(d["state_json"]))
                assert len(d.files) > 1
        elif suffix == ".csv":
            rows = list(csv.DictReader(path.open()))
            assert rows and all(None not in r for r in rows), path  # no ragged (cut) line
        elif suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".yaml":
            assert isinstance(yaml.safe_load(path.read_text()), dict)
        elif suffix == ".png":
            import cv2

            assert cv2.imread(str(path)) is not None, path
        else:
            raise AssertionError(f"unexpected file in the run directory: {path}")
    return temps


def _epochs(run_dir: Path) -> list[int]:
    return [int(r["epoch"]) for r in csv.DictReader((run_dir / "history.csv").open())]


# The CLI's own main(), with one observer: every finished step is printed, so the test can kill the process
# at a known step instead of guessing with sleeps.
SPY = """
import sys
from keras_lmk import train
from keras_lmk.training import trainer

seen = trainer.NonFiniteGuard.on_train_batch_end

def spy(self, batch, logs=None):
    seen(self, batch, logs)
    print(f"@@step epoch={self.epoch + 1} batch={batch + 1}", flush=True)

trainer.NonFiniteGuard.on_train_batch_end = spy
sys.exit(train.main(sys.argv[1:]))
"""
KILL_AT = "@@step epoch=2 batch=3"


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    argv = _cmd(run_dir)[3:]  # the arguments after "-m keras_lmk.train"
    with (run_dir.parent / "first.err").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", SPY, *argv], stdout=subprocess.PIPE, stderr=err, text=True
        )
        lines = []
        for line in proc.stdout:  # blocks until the marker; the training is killed right after it
            lines.append(line)
            if line.strip() == KILL_AT:
                assert (run_dir / "checkpoints" / "last_state.npz").exists()
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(lines)[-3000:]
    after_kill = {
        "state_epoch": _state_epoch(run_dir),
        "epochs": _epochs(run_dir),
        "temps": check_run_dir_loads(run_dir),
        "model_exists": (run_dir / "model.keras").exists(),
    }
    resumed = subprocess.run(_cmd(run_dir, "--resume"), capture_output=True, text=True, timeout=400)
    return run_dir, after_kill, resumed


def test_sigkill_mid_epoch_leaves_a_loadable_run_dir(killed_and_resumed):
    _, after_kill, _ = killed_and_resumed
    assert after_kill["state_epoch"] == 1 and after_kill["epochs"] == [1]  # killed inside epoch 2
    assert not after_kill["model_exists"]  # the final model is only written when training ends
    assert after_kill["temps"] == []  # killed between writes: no temporaries either


def test_resume_continues_from_the_last_checkpoint(killed_and_resumed):
    run_dir, _, resumed = killed_and_resumed
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "resumed after epoch 1" in resumed.stdout
    assert "fit: epochs 2..2" in resumed.stdout  # one epoch lost at most: the interrupted one is redone
    assert _epochs(run_dir) == [1, 2]
    assert _state_epoch(run_dir) == 2
    assert check_run_dir_loads(run_dir) == []
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "trajectory.csv").open())]
    assert steps == list(range(1, 2 * STEPS + 1))  # no duplicated or missing steps from the killed epoch


def test_non_finite_loss_stops_with_step_and_keeps_the_checkpoint(killed_and_resumed, tmp_path, capsys):
    """A learning rate of 1e30 blows the weights up on the first update: the loss of step 2 is NaN."""
    import keras

    from keras_lmk.train import main

    src, _, resumed = killed_and_resumed
    assert resumed.returncode == 0
    run_dir = tmp_path / "nan"
    shutil.copytree(src, run_dir)
    before = (run_dir / "checkpoints" / "last.keras").read_bytes()
    rc = main(
        ["--preset", "debug", "--run-dir", str(run_dir), "--resume", "--set", "train.epochs=3",
         "--set", f"train.steps_per_epoch={STEPS}", "--set", "train.learning_rate=1e30",
         "--set", "train.verbose=0"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc != 0
    assert re.search(r"non-finite loss at epoch 3, step \d+: .*loss=nan", err), err
    assert "last good checkpoint is kept" in err
    assert (run_dir / "checkpoints" / "last.keras").read_bytes() == before
    assert _state_epoch(run_dir) == 2 and _epochs(run_dir) == [1, 2]
    keras.saving.load_model(run_dir / "checkpoints" / "last.keras", safe_mode=True)
    assert check_run_dir_loads(run_dir) == []


def test_safe_mode_refuses_arbitrary_code(tmp_path):
    """Our models load in safe mode; a model carrying a Python lambda is refused instead of executed."""
    import keras

    from keras_lmk.detector.layers import AnchorOffsets, UpsampleNearest

    for cls in (AnchorOffsets, UpsampleNearest):
        name = keras.saving.get_registered_name(cls)
        assert keras.saving.get_registered_object(name) is cls, name
    inp = keras.Input((4,))
    evil = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp))
    path = tmp_path / "evil.keras"
    evil.save(path)
    with pytest.raises(ValueError, match="(?i)unsafe|lambda|safe_mode"):
        keras.saving.load_model(path, safe_mode=True)


def test_tflite_signature_mismatch_is_refused(tmp_path):
    """A .tflite whose input or outputs disagree with its model card fails with ModelCardError naming both."""
    import dataclasses

    from inference_helpers import TINY_SPEC, TINY_TAXONOMY, convert_tflite, tiny_keras_model

    from keras_lmk.detector.card import ModelCardError, model_card
    from keras_lmk.inference.runtime import LandmarkRuntime

    path = convert_tflite(tiny_keras_model(), tmp_path / "model.tflite")
    LandmarkRuntime(path, model_card(TINY_SPEC, TINY_TAXONOMY))  # the matching card works
    other_input = dataclasses.replace(TINY_SPEC, input_height=96)
    with pytest.raises(
        ModelCardError, match=r"input shape \[1, 64, 64, 3\] does not match.*\[1, 96, 64, 3\]"
    ):
        LandmarkRuntime(path, model_card(other_input, TINY_TAXONOMY))
    one_anchor = dataclasses.replace(TINY_SPEC, anchors=((0.5, 0.5),))
    with pytest.raises(ModelCardError, match="output class_logits has shape .* expects"):
        LandmarkRuntime(path, model_card(one_anchor, TINY_TAXONOMY))
    (tmp_path / "garbage.tflite").write_bytes(b"TFL3" + bytes(64))
    with pytest.raises(ModelCardError, match="not a loadable TFLite model"):
        LandmarkRuntime(tmp_path / "garbage.tflite", model_card(TINY_SPEC, TINY_TAXONOMY))
