"""The shared CLI helper: one mapping of errors to exit codes, tracebacks only on request."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("made", ["missing", "empty"])
def test_resume_of_a_run_dir_that_holds_no_run_is_an_error(made, tmp_path):
    # a typo in --run-dir with --resume used to print "starting fresh" and start an hour-long run
    run_dir = tmp_path / "typo"
    if made == "empty":
        run_dir.mkdir()
    probe, out, err = _probe("keras_lmk.train", "--preset", "debug", "--run-dir", str(run_dir), "--resume")
    assert probe == "PROBE code=2 tensorflow=False", err
    assert f"error: {run_dir}: " in err and "--resume" in err and "Traceback" not in err
    assert sorted(run_dir.iterdir()) == [] if made == "empty" else not run_dir.exists()


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


# ------------------------------------------------------------------ input errors across the entry points

ROOT = Path(__file__).resolve().parents[1]
KIT_MODEL = ROOT / "android_demo_assets" / "model_int8.tflite"  # runs without TensorFlow
RUN_TFLITE = ROOT / "export" / "run_tflite.py"


def _cli_main(name):
    import importlib

    return importlib.import_module(f"keras_lmk.{name}").main


def _bad_images(folder: Path, n=2) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i}.jpg").write_bytes(b"not a jpeg")
    return folder


def _run_script(*argv):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_LMK_DEBUG"}
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def test_a_file_that_is_not_a_keras_archive_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    model = tmp_path / "m.keras"
    model.write_text("not a zip")
    shutil.copy(KIT_MODEL.with_suffix(".json"), tmp_path / "m.json")  # a valid card: the model is the problem
    rc = _cli_main("export")(["--model", str(model), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {model}: not a Keras zip archive" in err, err
    assert "File not found" not in err


@pytest.mark.parametrize(
    "cli, argv, message",
    [
        ("evaluate", ["--model", KIT_MODEL, "--data", "{tmp}/missing.json", "--out", "{tmp}/new/eval"],
         "missing.json"),
        ("export", ["--model", "{tmp}/missing.keras", "--out", "{tmp}/new/export"], "missing.keras"),
        ("predict", ["--model", KIT_MODEL, "--input", "{tmp}/missing", "--out", "{tmp}/new/p.json"],
         "missing"),
        ("synth.__main__", ["--out", "{tmp}/new/drive", "--frames", "0"], "frames"),
        ("data.__main__", ["convert", "--from", "yolo", "--input", "{tmp}", "--out", "{tmp}/new/y.json"],
         "--mapping"),
    ],
)  # fmt: skip
def test_input_errors_exit_2_name_the_problem_and_leave_no_folder(cli, argv, message, tmp_path, capsys,
                                                                   monkeypatch):  # fmt: skip
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    rc = _cli_main(cli)([str(a).format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "new").exists()  # no empty output folder left behind


@pytest.mark.parametrize("cli", ["predict", "evaluate"])
def test_threads_below_one_is_a_usage_error(cli, tmp_path, capsys):
    # --threads -1 reached the interpreter and came back as "not a loadable TFLite model"
    argv = ["--model", str(KIT_MODEL), "--input", str(tmp_path), "--out", str(tmp_path / "o"),
            "--threads", "-1"]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        _cli_main(cli)(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument --threads: -1: want a whole number >= 1" in err
    assert "TFLite" not in err


def test_export_of_a_missing_model_says_the_model_file_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    missing = tmp_path / "missing.keras"
    rc = _cli_main("export")(["--model", str(missing), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"error: {missing}: no such model file\n", err  # not "no model card found"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model_problem", ["no card", "not tflite"])
def test_run_tflite_bad_model_is_an_error_line_not_a_traceback(model_problem, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_text("not a flatbuffer")
    if model_problem == "not tflite":
        shutil.copy(KIT_MODEL.with_suffix(".json"), tmp_path / "m.json")
    r = _run_script(RUN_TFLITE, model, KIT_MODEL.parent / "samples" / "sample_3_synthetic.png")
    assert r.returncode == 2, r.stderr
    assert f"error: {model}: " in r.stderr and "Traceback" not in r.stderr


def test_predict_on_a_folder_of_only_corrupt_images_fails_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LMK_DEBUG", raising=False)
    bad = _bad_images(tmp_path / "bad")
    out = tmp_path / "p.json"
    with pytest.warns(UserWarning, match="unreadable"):
        rc = _cli_main("predict")(["--model", str(KIT_MODEL), "--input", str(bad), "--out", str(out),
                                   "--no-progress"])  # fmt: skip
    assert rc == 2 and "all 2 images are unreadable" in capsys.readouterr().err
    assert not out.exists()  # not "[]"


def test_run_tflite_on_only_corrupt_images_fails(tmp_path):
    bad = _bad_images(tmp_path / "bad")
    r = _run_script(RUN_TFLITE, KIT_MODEL, *sorted(bad.iterdir()))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith("error: ") and "no readable image" in r.stderr


@pytest.mark.parametrize("entry", ["predict", "run_tflite"])
def test_skipped_images_are_warning_lines_naming_the_file(entry, tmp_path):
    folder = _bad_images(tmp_path / "imgs", n=1)
    shutil.copy(KIT_MODEL.parent / "samples" / "sample_3_synthetic.png", folder / "good.png")
    if entry == "predict":
        r = _run_script("-m", "keras_lmk.predict", "--model", KIT_MODEL, "--input", folder, "--out",
                        tmp_path / "p.json")  # fmt: skip
    else:
        r = _run_script(RUN_TFLITE, KIT_MODEL, folder / "0.jpg", folder / "good.png")
    assert r.returncode == 0, r.stderr
    assert "UserWarning" not in r.stderr and "tqdm" not in r.stderr
    warning = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warning) == 1 and warning[0].startswith(f"warning: {folder / '0.jpg'}: unreadable"), r.stderr


# --------------------------------------------------------------------------------------- one flag vocabulary

DOCUMENTED = [
    "train", "evaluate", "export", "predict", "data.__main__", "synth.__main__", "demo_assets", "run_tflite",
    "localize",
]  # fmt: skip


class _Parser(BaseException):  # not an Exception: cli.command lets it through
    pass


def _parsers(name, monkeypatch):
    """The command's parser and its sub-command parsers, caught at parse_args."""
    import argparse
    import importlib.util

    def grab(self, args=None, namespace=None):
        raise _Parser(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", grab)
    if name == "run_tflite":
        spec = importlib.util.spec_from_file_location("run_tflite", RUN_TFLITE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        main = module.main
    else:
        main = _cli_main(name)
    with pytest.raises(_Parser) as caught:
        main([])
    parser = caught.value.args[0]
    subs = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser, *[p for choices in subs for p in choices.values()]]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_option_has_help_and_shows_its_default(name, monkeypatch):
    import argparse

    from keras_lmk.cli import HelpFormatter

    for parser in _parsers(name, monkeypatch):
        assert issubclass(parser.formatter_class, HelpFormatter), parser.prog
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text  # no RST markup
        for a in parser._actions:
            skip = (argparse._HelpAction, argparse._SubParsersAction)
            if a.help == argparse.SUPPRESS or isinstance(a, skip):
                continue
            assert a.help, f"{parser.prog} {a.option_strings or a.dest}: no help text"
            if a.option_strings and a.default not in (None, False, []):
                line = HelpFormatter(parser.prog)._get_help_string(a)
                assert "default" in line, f"{parser.prog} {a.option_strings}: default not shown"


def test_help_formatter_shows_defaults_worth_showing():
    import argparse

    from keras_lmk.cli import HelpFormatter

    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="seed")
    p.add_argument("--model", help="model")
    p.add_argument("--fast", action="store_true", help="fast")
    p.add_argument("--thr", type=float, help="threshold (default: the model card's)")
    text = " ".join(p.format_help().split())
    assert "seed (default: 0)" in text  # 0 is a default, not a missing one
    assert "--model MODEL model --fast fast --thr THR threshold (default: the model card's)" in text


@pytest.mark.parametrize(
    "name, old, argv",
    [
        ("evaluate", "--data", ["--model", "m.tflite", "--out", "e"]),
        ("data.__main__", "--in", ["stats"]),
        ("data.__main__", "--in", ["split", "--out-train", "t.json", "--out-val", "v.json"]),
    ],
)
def test_inputs_are_input_and_old_spellings_still_work_unshown(name, old, argv, monkeypatch):
    parsers = _parsers(name, monkeypatch)
    monkeypatch.undo()
    parser = next(p for p in parsers if argv[0] in p.prog) if name == "data.__main__" else parsers[0]
    rest = argv[1:] if name == "data.__main__" else argv
    assert parser.parse_args([*rest, old, "x.json"]).input == "x.json"
    assert parser.parse_args([*rest, "--input", "x.json"]).input == "x.json"
    assert "--input PATH" in parser.format_help() and old + " " not in parser.format_help()
