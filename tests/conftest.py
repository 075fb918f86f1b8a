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


# The suite runs on two workers (`-n 2 --dist loadfile`: README, .ci/run), each test file on one worker, in
# collection order. These files train or convert models for minutes; handing them out first keeps one of
# them from being the last file left while the other worker is idle (measured with --durations=40).
HEAVY_FIRST = (
    "test_train.py",
    "test_export.py",
    "test_reliability_train.py",
    "test_qat.py",
    "test_trainer.py",
    "test_demo_assets.py",
    "test_model.py",
    "test_convert.py",
    "test_inspect.py",
    "test_runtime.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file and test order kept
