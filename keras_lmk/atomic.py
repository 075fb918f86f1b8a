"""Atomic file writes: write to a temp file in the same directory, fsync, then rename.

A reader (or a crash) never sees a half-written file: either the old content or the new one.
:func:`strict_json` makes a result with NaN (a metric with no data) writable as strict JSON.
:func:`check_writable_dir` remembers the folders it creates, so that a command that then rejects its input
removes them again when they are still empty (:func:`remove_empty_created_dirs`, called by keras_lmk.cli).
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
_created_dirs: list[Path] = []  # by check_writable_dir, parents before children


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the final file the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# what atomic_write's temporaries are called: ".<final name>.<mkstemp's 8 random chars>.tmp<final suffix>"
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^.]+)?$")


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete atomic_write temporaries a killed process left in ``directory`` (not recursive); returns them.

    Only for directories one process writes at a time (a run directory): a live writer's temporary would go.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.is_file() and TEMP_NAME.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_json(path: str | Path, obj, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def strict_json(obj):
    """``obj`` with every non-finite float (NaN: a metric with no data; inf) replaced by None, through dicts,
    lists and tuples (tuples become lists); numpy floats become Python floats. ``json.dumps`` would write
    ``NaN``, which strict JSON readers reject."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def check_writable_dir(path: str | Path) -> Path:
    """Fail early, with a clear message, when ``path`` cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: output directory is not writable: it is a file")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise NotADirectoryError(f"{path}: output directory is not writable: {blocker} is a file")
    new = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        _created_dirs.extend(reversed(new))
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write_probe", delete=True)
        probe.write(b"x" * 4096)
        probe.flush()
        probe.close()
    except OSError as e:
        raise OSError(f"{path}: output directory is not writable ({e.strerror or e})") from e
    return path


def remove_empty_created_dirs() -> list[Path]:
    """Remove the folders :func:`check_writable_dir` created that are still empty, deepest first, and
    return them; forget the others (they hold output now)."""
    removed = []
    while _created_dirs:
        d = _created_dirs.pop()
        with contextlib.suppress(OSError):  # not empty (or gone): keep
            d.rmdir()
            removed.append(d)
    return removed


def forget_created_dirs() -> None:
    """The command succeeded: what check_writable_dir created is output, not a leftover."""
    _created_dirs.clear()
