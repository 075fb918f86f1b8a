"""What every command line shares: a quiet TensorFlow start-up and one mapping of errors to exit codes.

    @command
    def main(argv=None) -> int:
        args = parse_args(argv)      # and check them: no TensorFlow yet, so errors come back at once
        start_tensorflow()           # only where the command needs it; before the library imports it
        ...

Exit codes: 0 done; 2 a user error (bad input, config or model file: ``ValueError``/``OSError``, whose
message names the file and the problem); 1 the run itself failed (e.g. the loss diverged, or an internal
error); 130 interrupted. No traceback unless ``KERAS_LMK_DEBUG=1``. A command that fails removes the output
folders it created while they are still empty (keras_lmk.atomic.check_writable_dir records them). Run as a
command line (``argv`` None), warnings print as ``warning: FILE: reason`` lines above any progress bar.

TensorFlow's C++ start-up writes ~9 lines straight to file descriptor 2 before its log level is read (absl's
"All log messages before absl::InitializeLog()", cudart_stub, cpu_feature_guard, and on a CPU machine with
a CUDA driver ``failed call to cuInit``). :func:`start_tensorflow` imports it and enumerates the devices
with that descriptor sent to a file, then passes on every line that is not such start-up noise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import warnings

from keras_lmk.atomic import forget_created_dirs, remove_empty_created_dirs
from keras_lmk.native_log import debug, is_startup_noise, quiet_native_stderr  # noqa: F401 - re-exported

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

USER_ERROR, FAILURE, INTERRUPTED = 2, 1, 130


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every command's ``--help``: descriptions as written, and each option's default after its help unless
    it has none worth showing (None, False, []) or the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        shown = action.option_strings and not (d is None or d is False or d == [] or d == argparse.SUPPRESS)
        if shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def make_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A command's parser, from its module docstring: the title line and, when the next paragraph is
    indented example commands, those too, kept as written; option defaults shown."""
    title, *rest = doc.split("\n\n")
    examples = [rest[0]] if rest and rest[0].startswith("    ") else []
    return argparse.ArgumentParser(
        prog=prog, description="\n\n".join([title, *examples]), formatter_class=HelpFormatter
    )


def input_size(text: str) -> tuple[int, int]:
    """argparse type: ``"1664x992"`` -> (1664, 992), width then height."""
    w, sep, h = text.partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: want WIDTHxHEIGHT in pixels, e.g. 1664x992")
    return int(w), int(h)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--threads``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: want a whole number >= 1")
    return value


def add_input_argument(parser: argparse.ArgumentParser, help: str, *, old: tuple[str, ...] = ()):
    """The required ``--input`` every command reads (``args.input``); ``old`` spellings (``--in``,
    ``--data``) are still accepted but not shown. Returns the group: a command may add alternatives."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", metavar="PATH", help=help)
    for flag in old:
        group.add_argument(flag, dest="input", help=argparse.SUPPRESS)
    return group


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that runs a model over frames takes: ``--score-threshold``, ``--threads`` and
    ``--no-progress``."""
    parser.add_argument(
        "--score-threshold", type=float, help="operating threshold (default: the model card's)"
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="TFLite interpreter threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def exit_code(error: BaseException) -> int:
    """2 for user errors (ValueError, OSError and their kinds), 130 for Ctrl-C, 1 for everything else."""
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    return USER_ERROR if isinstance(error, (ValueError, OSError)) else FAILURE


def command(main):
    """Wrap a CLI ``main(argv) -> int``: errors become ``error: ...`` on stderr and :func:`exit_code`."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        forget_created_dirs()
        try:
            with warnings_as_lines() if argv is None else contextlib.nullcontext():
                code = main(argv)
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the one place errors become exit codes
            remove_empty_created_dirs()
            if debug():
                raise
            code = exit_code(e)
            what = "interrupted" if code == INTERRUPTED else str(e) or type(e).__name__
            hint = "" if code == USER_ERROR else " (KERAS_LMK_DEBUG=1 shows the traceback)"
            print(f"error: {what}{hint}", file=sys.stderr)
            return code
        if code:
            remove_empty_created_dirs()
        forget_created_dirs()
        return code

    return wrapper


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from tqdm import tqdm  # its write() keeps the line off a running progress bar

    tqdm.write(f"warning: {message}", file=sys.stderr)


@contextlib.contextmanager
def warnings_as_lines():
    """Inside the block, a warning prints as ``warning: <message>`` (the library's messages read ``FILE:
    reason``), not as Python's ``path.py:123: UserWarning: ...`` pointing into whatever code was running.
    Off with ``KERAS_LMK_DEBUG=1``. Tests call ``main(argv)``, so ``pytest.warns`` still sees the warnings."""
    with warnings.catch_warnings():
        if not debug():
            warnings.showwarning = _show_warning
        yield


def start_tensorflow():
    """Import TensorFlow and Keras quietly (see the module docstring); returns the ``tensorflow`` module.

    Call it once the arguments are checked: a command that fails on its input never waits for TensorFlow.
    With ``KERAS_LMK_DEBUG=1`` nothing is filtered.
    """
    if "tensorflow" in sys.modules or debug():
        import tensorflow as tf

        return tf
    with quiet_native_stderr():
        import keras  # noqa: F401 - Keras 3 imports its backend, TensorFlow
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe (cuInit) writes here, not at the first op
    return tf


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    """``--track`` and the tracker's settings (keras_lmk/inference/tracking.py), shared by predict, evaluate
    and localize."""
    from keras_lmk.inference.tracking import TrackerConfig

    d = TrackerConfig()
    g = parser.add_argument_group("tracking (keras_lmk/inference/tracking.py)")
    g.add_argument("--track", action="store_true", help="track landmarks across the frames (one drive)")
    g.add_argument(
        "--track-gate",
        metavar="F",
        type=float,
        default=d.gate_frac,
        help="association gate, fraction of width",
    )
    g.add_argument(
        "--track-alpha", metavar="F", type=float, default=d.alpha, help="point filter gain (1 = raw points)"
    )
    g.add_argument("--track-beta", metavar="F", type=float, default=d.beta, help="velocity filter gain")
    g.add_argument(
        "--track-min-hits",
        metavar="N",
        type=int,
        default=d.min_hits,
        help="detections before a track is reported",
    )
    g.add_argument(
        "--track-max-age", metavar="N", type=int, default=d.max_age, help="missed frames before a track ends"
    )


def tracker_config(args: argparse.Namespace):
    """The TrackerConfig of ``--track ...`` (None without --track); a ValueError names the bad value."""
    if not args.track:
        return None
    from keras_lmk.inference.tracking import TrackerConfig

    return TrackerConfig(
        gate_frac=args.track_gate,
        alpha=args.track_alpha,
        beta=args.track_beta,
        min_hits=args.track_min_hits,
        max_age=args.track_max_age,
    )
