"""Native (C++) log lines that TensorFlow and LiteRT write straight to file descriptor 2, and a context that
filters them out: TensorFlow's start-up chatter (see keras_lmk/cli.py), LiteRT's "INFO: Created TensorFlow
Lite XNNPACK delegate for CPU." on every interpreter and the TFLite converter's int8 settings line
("fully_quantize: 0, inference_type: 6, ..."). Everything else written there is passed on. With
``KERAS_LMK_DEBUG=1`` nothing is filtered.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

# absl/tsl log lines ("I0000 00:00:1795973740.49 18902 cudart_stub.cc:31] ...") of the info and warning
# levels, the CUDA probe's errors on a machine without a GPU, absl's pre-initialisation notice, the second
# line of cpu_feature_guard's message, LiteRT's delegate notice, and the TFLite converter's int8 settings
_NOISE = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|E\d{4} [\d:.]+ +\d+ \S+:\d+\] .*(?:cuInit|cuda|CUDA|cuDNN|cuFFT|cuBLAS)"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"
    r"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$)"
)


def debug() -> bool:
    """``KERAS_LMK_DEBUG`` set (not 0): tracebacks and unfiltered native logs."""
    return os.environ.get("KERAS_LMK_DEBUG", "") not in ("", "0")


def is_startup_noise(line: str) -> bool:
    """True for a line of TensorFlow's or LiteRT's native start-up chatter."""
    return bool(_NOISE.match(line))


@contextlib.contextmanager
def quiet_native_stderr():
    """Send file descriptor 2 to a temporary file inside the block; afterwards write on what is not noise
    (everything, unfiltered, with ``KERAS_LMK_DEBUG=1``)."""
    if debug():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode(errors="replace").splitlines() if not is_startup_noise(ln)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
