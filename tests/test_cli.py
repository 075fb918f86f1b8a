"""The shared CLI helper: one mapping of errors to exit codes, tracebacks only on request."""

import os
import subprocess
import sys

import pytest

from keras_lmk.cli import command, exit_code, is_startup_noise


@pytest.mark.parametrize(
    "error, code",
    [
        (ValueError("bad.json:3: malformed"), 2),
        (FileNotFoundError("missing.tflite"), 2),
        (PermissionError("out/: not writable"), 2),
        (RuntimeError("loss is NaN at step 12"), 1),
        (ZeroDivisionError("internal"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_codes(error, code, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    assert exit_code(error) == code

    @command
    def main(argv=None):
        raise error

    assert main([]) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    if code == 2:
        assert str(error) in err and "KERAS_LMK_DEBUG" not in err  # the message names file and problem
    else:
        assert "KERAS_LMK_DEBUG=1" in err  # a failure says how to see more


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("KERAS_LMK_DEBUG", "1")

    @command
    def main(argv=None):
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        main([])


def test_success_passes_the_return_code_through():
    assert command(lambda argv=None: 0)([]) == 0
    assert command(lambda argv=None: 1)([]) == 1


# -------------------------------------------------------------------------------------- a quiet, fast start

# runs a command line's main module and reports whether it imported TensorFlow (and how it exited)
PROBE = """
import runpy, sys
mod = sys.argv[1]
sys.argv = [mod, *sys.argv[2:]]
try:
    runpy.run_module(mod, run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
print(f"PROBE code={code} tensorflow={'tensorflow' in sys.modules}", file=sys.__stderr__)
"""
CLIS = [
    "keras_lmk.train",
    "keras_lmk.evaluate",
    "keras_lmk.export",
    "keras_lmk.predict",
    "keras_lmk.localize",
    "keras_lmk.data",
    "keras_lmk.synth",
    "keras_lmk.demo_assets",
]


def _probe(*argv):
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_LMK_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    probe = [ln for ln in r.stderr.splitlines() if ln.startswith("PROBE ")]
    assert probe, r.stderr
    return probe[-1], r.stdout, r.stderr


@pytest.mark.parametrize("cli", CLIS)
def test_help_answers_without_tensorflow(cli):
    probe, out, err = _probe(cli, "--help")
    assert probe == "PROBE code=0 tensorflow=False"
    assert "usage:" in out


@pytest.mark.parametrize(
    "override, message",
    [("train.epochs=-1", "train.epochs must be >= 1"), ("train.epoch=3", "train.epoch")],
)
def test_train_config_errors_answer_without_tensorflow(override, message, tmp_path):
    probe, out, err = _probe("keras_lmk.train", "--preset", "debug", "--run-dir", str(tmp_path / "r"),
                             "--set", override)  # fmt: skip
    assert probe == "PROBE code=2 tensorflow=False"
    assert "error: " in err and message in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "line, noise",
    [
        ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
        ("I0000 00:00:1795973740.493932   18902 cudart_stub.cc:31] Could not find cuda drivers on your "
         "machine, GPU will not be used.", True),
        ("E0000 00:00:1795973749.043713   18902 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
         "error: Failed call to cuInit: UNKNOWN ERROR (303)", True),
        ("To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
         "appropriate compiler flags.", True),
        ("E0000 00:00:1795973749.043713   18902 op_kernel.cc:1830] OP_REQUIRES failed: out of memory", False),
        ("error: model.keras: not a Keras zip archive", False),
        ("warning: img/3.jpg: unreadable image, skipped", False),
    ],
)  # fmt: skip
def test_startup_noise_is_recognised(line, noise):
    assert is_startup_noise(line) is noise


def test_tensorflow_starts_quietly():
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_LMK_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    code = "import sys; from keras_lmk.cli import start_tensorflow as s; s(); print('after', file=sys.stderr)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "after\n"  # no cuInit, cudart_stub, cpu_feature_guard or absl lines


def test_a_command_that_starts_tensorflow_prints_only_its_own_lines(tmp_path):
    # export imports TensorFlow before it opens the model: the error is the only line on stderr
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_LMK_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    argv = ["--model", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "out")]
    r = subprocess.run([sys.executable, "-m", "keras_lmk.export", *argv], capture_output=True, text=True,
                       env=env, timeout=300)  # fmt: skip
    assert r.returncode == 2
    assert [ln.split(":")[0] for ln in r.stderr.splitlines()] == ["error"], r.stderr
