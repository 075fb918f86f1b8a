"""Atomic writes: the old file or the new one, never half of one; stale temporaries; strict JSON.

Tests run as root, for whom chmod does not block writes, so "unwritable" is a path under a regular file
(``somefile/out``) and "full" is simulated with /dev/full (every write: ENOSPC).
"""

import errno
import json
import math
import os
import stat

import numpy as np
import pytest

from keras_lmk import atomic
from keras_lmk.atomic import (
    TEMP_NAME,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    forget_created_dirs,
    remove_empty_created_dirs,
    remove_stale_temporaries,
    strict_json,
)


def test_writes_replace_the_file_with_the_umask_s_permissions(tmp_path):
    target = tmp_path / "sub" / "a.txt"  # the parent is created
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_json(tmp_path / "c.json", {"a": [1, 2]}, indent=None)
    assert (tmp_path / "c.json").read_text() == '{"a": [1, 2]}\n'
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.txt", "b.bin", "c.json"]


def test_temporary_names_and_stale_temporaries(tmp_path):
    seen = []
    atomic_write(
        tmp_path / "metrics.json", lambda tmp: (seen.append(os.path.basename(tmp)), open(tmp, "w").close())
    )
    # ".metrics.json." + 8 random characters + ".tmp.json"
    assert len(seen[0]) == len(".metrics.json.") + 8 + len(".tmp.json") and TEMP_NAME.match(seen[0])
    for name in (".metrics.json.abcd1234.tmp.json", ".model.keras.zz_9y8x7.tmp.keras", ".log.abcdefgh.tmp"):
        (tmp_path / name).write_text("partial")
    for name in ("keep.json", ".hidden", ".x.short.tmp", ".x.abcd1234.tmpx"):  # not temporaries
        (tmp_path / name).write_text("keep")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 3 and not any(p.exists() for p in removed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".hidden",
        ".x.abcd1234.tmpx",
        ".x.short.tmp",
        "keep.json",
        "metrics.json",
    ]
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "preds.json"
    target.write_text('["old"]')

    def write_until_full(tmp):
        with open(tmp, "wb") as f:
            f.write(b'["new", ')
        with open("/dev/full", "wb") as full:  # the disk fills up in the middle of the write
            full.write(b"x" * 65536)
            full.flush()

    with pytest.raises(OSError) as e:
        atomic_write(target, write_until_full)
    assert e.value.errno == errno.ENOSPC
    assert target.read_text() == '["old"]'  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["preds.json"]  # no temp file left behind

    def interrupted(tmp):
        open(tmp, "w").write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert target.read_text() == '["old"]' and len(list(tmp_path.iterdir())) == 1


def test_check_writable_dir_messages(tmp_path, monkeypatch):
    (tmp_path / "somefile").write_text("I am a file")
    blocked = tmp_path / "somefile" / "out"  # nobody can create it: its parent is a regular file
    with pytest.raises(OSError, match=r"somefile/out: output directory is not writable: .*somefile is a f"):
        check_writable_dir(blocked)
    assert check_writable_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"
    assert list((tmp_path / "new" / "dir").iterdir()) == []  # the probe is gone

    class DevFull:  # the probe write hits a full disk
        def __init__(self, *a, **k):
            self.f = open("/dev/full", "wb")  # noqa: SIM115

        def write(self, b):
            return self.f.write(b)

        def flush(self):
            self.f.flush()

        def close(self):
            self.f.close()

    monkeypatch.setattr(atomic.tempfile, "NamedTemporaryFile", DevFull)
    with pytest.raises(OSError, match="not writable .*No space left on device"):
        check_writable_dir(tmp_path / "fine")


def test_an_output_folder_that_is_a_file_says_so(tmp_path):
    # "--out FILE" for a folder used to read "output directory is not writable (File exists)"
    f = tmp_path / "results"
    f.write_text("I am a file")
    with pytest.raises(OSError) as e:
        check_writable_dir(f)
    assert str(e.value) == f"{f}: output directory is not writable: it is a file"
    with pytest.raises(OSError) as e:
        check_writable_dir(f / "a" / "b")
    assert str(e.value) == f"{f / 'a' / 'b'}: output directory is not writable: {f} is a file"
    assert f.read_text() == "I am a file"


def test_strict_json_replaces_non_finite_numbers_by_null():
    obj = {
        "mAP": float("nan"),
        "rows": [1, 2.5, np.float32("nan"), np.float64(0.25), -math.inf, True, None, "nan"],
        "pair": (3, math.inf),
        "nested": {"median": np.float64("nan")},
    }
    out = strict_json(obj)
    # the reference, written by hand: what a strict JSON reader must get
    want = '{"mAP": null, "rows": [1, 2.5, null, 0.25, null, true, null, "nan"], "pair": [3, null], '
    want += '"nested": {"median": null}}'
    assert json.dumps(out, allow_nan=False) == want
    assert type(out["rows"][3]) is float and out["pair"][0] == 3  # numpy float -> float; ints untouched
    assert strict_json(0.5) == 0.5 and strict_json(float("nan")) is None and strict_json(None) is None
    assert obj["mAP"] != obj["mAP"]  # the input is not modified


def test_a_failed_command_removes_only_the_empty_folders_it_created(tmp_path):
    forget_created_dirs()
    (tmp_path / "old").mkdir()
    check_writable_dir(tmp_path / "old" / "a" / "b")  # creates a and b
    check_writable_dir(tmp_path / "full" / "c")  # creates full and c; then output lands in c
    (tmp_path / "full" / "c" / "x.json").write_text("{}")
    removed = remove_empty_created_dirs()
    assert removed == [tmp_path / "old" / "a" / "b", tmp_path / "old" / "a"]
    assert (tmp_path / "old").is_dir() and (tmp_path / "full" / "c" / "x.json").is_file()
    assert remove_empty_created_dirs() == []  # forgotten once handled
