"""What every command line shares: a quiet TensorFlow start-up and one mapping of errors to exit codes.

    @command
    def main(argv=None) -> int: ...

Exit codes: 0 done; 2 a user error (bad input, config or model file: ``ValueError``/``OSError``, whose
message names the file and the problem); 1 the run itself failed (e.g. the loss diverged, or an internal
error); 130 interrupted. No traceback unless ``KERAS_LMK_DEBUG=1``. Import this module before anything that
imports TensorFlow, so its C++ start-up chatter stays out of the terminal.
"""

from __future__ import annotations

import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

USER_ERROR, FAILURE, INTERRUPTED = 2, 1, 130


def debug() -> bool:
    return os.environ.get("KERAS_LMK_DEBUG", "") not in ("", "0")


def exit_code(error: BaseException) -> int:
    """2 for user errors (ValueError, OSError and their kinds), 130 for Ctrl-C, 1 for everything else."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    return USER_ERROR if isinstance(error, (ValueError, OSError)) else FAILURE


def command(main):
    """Wrap a CLI ``main(argv) -> int``: errors become ``error: ...`` on stderr and :func:`exit_code`."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the one place errors become exit codes
            if debug():
                raise
            code = exit_code(e)
            what = "interrupted" if code == INTERRUPTED else str(e) or type(e).__name__
            hint = "" if code == USER_ERROR else " (KERAS_LMK_DEBUG=1 shows the traceback)"
            print(f"error: {what}{hint}", file=sys.stderr)
            return code

    return wrapper
