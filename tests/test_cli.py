"""The shared CLI helper: one mapping of errors to exit codes, tracebacks only on request."""

import pytest

from keras_lmk.cli import command, exit_code


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
