"""Session-wide test setup: generated data (synthetic drives) goes to a temporary cache, never ~/.cache.

Set before any test runs, so subprocesses started by tests (``python -m keras_lmk.train ...``) inherit it.
An explicit $KERAS_LMK_CACHE from the caller is kept (CI may share a warm cache between runs).
"""

import os
import shutil
import tempfile

_OWN_CACHE = None


def pytest_configure(config):
    global _OWN_CACHE
    if not os.environ.get("KERAS_LMK_CACHE"):
        _OWN_CACHE = tempfile.mkdtemp(prefix="keras_lmk_test_cache.")
        os.environ["KERAS_LMK_CACHE"] = _OWN_CACHE


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
