"""The project's own labels for a class a published data set leaves out (keras_lmk/data/labels/).

A labels file is GTSDB-style ``file;left;top;right;bottom`` (a header line, pixel boxes as gt.txt writes
them); beside it ``<stem>_checked.txt`` lists the images whose every instance of the class was looked for.
Only those images get the class as *labelled*: its boxes added, the class dropped from ``unlabelled``, so an
image without a plate teaches "no plate" there. Images not checked keep the class unlabelled.

    table = read_added_labels(LABELS_DIR / "gtsdb_auxiliary.csv")     # {file name: float32 [K, 4]}
    records = with_added_labels(records, table, taxonomy.class_id("auxiliary"), taxonomy)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.data.validation import DataError, check_box, parse_number, read_text


def checked_list_path(labels_csv: str | Path) -> Path:
    p = Path(labels_csv)
    return p.with_name(f"{p.stem}_checked.txt")


def read_added_labels(labels_csv: str | Path) -> dict[str, np.ndarray]:
    """{file name: float32 [K, 4] boxes} for every *checked* image (K may be 0). A box of an image that is
    not in the checked list is an error (it would be trained as labelled on an unchecked image)."""
    path = Path(labels_csv)
    if not path.is_file():
        raise DataError(path, None, "labels file not found")
    checked_path = checked_list_path(path)
    if not checked_path.is_file():
        raise DataError(checked_path, None, f"list of checked images for {path.name} not found")
    table = {line.strip(): [] for line in read_text(checked_path).splitlines() if line.strip()}
    lines = read_text(path).splitlines()
    if not lines or lines[0].strip() != "file;left;top;right;bottom":
        raise DataError(path, 1, "first line must be the header 'file;left;top;right;bottom'")
    for lineno, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        fields = raw.strip().split(";")
        if len(fields) != 5:
            raise DataError(path, lineno, f"malformed line {raw.strip()!r} (want file;left;top;right;bottom)")
        name = fields[0].strip()
        if name not in table:
            raise DataError(path, lineno, f"{name} is not in {checked_path.name}: check the image first")
        names = ("left", "top", "right", "bottom")
        box = [parse_number(f, path, lineno, w) for f, w in zip(fields[1:], names, strict=True)]
        if not (box[2] > box[0] and box[3] > box[1]):
            raise DataError(path, lineno, f"box {box} has no area (want left < right, top < bottom)")
        table[name].append(box)
    return {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in table.items()}


def with_added_labels(
    records: list[ImageRecord], table: dict[str, np.ndarray], class_id: int, taxonomy: Taxonomy, source=""
) -> list[ImageRecord]:
    """Records of checked images with the class's boxes appended (reference points by the taxonomy's rule)
    and the class labelled; other records unchanged. A box outside its image is a DataError naming it."""
    out = []
    for r in records:
        name = Path(r.image_path).name
        if name not in table:
            out.append(r)
            continue
        boxes = (
            np.stack([check_box(b, r.width, r.height, source or name, None) for b in table[name]])
            if len(table[name])
            else np.zeros((0, 4), np.float32)
        )
        classes = np.full(len(boxes), class_id, np.int32)
        points = taxonomy.reference_points(boxes, classes) if len(boxes) else np.zeros((0, 2), np.float32)
        n = len(boxes)
        out.append(
            dataclasses.replace(
                r,
                boxes=np.concatenate([r.boxes, boxes]),
                points=np.concatenate([r.points, points]),
                classes=np.concatenate([r.classes, classes]),
                landmark_ids=np.concatenate([r.landmark_ids, np.full(n, -1, np.int64)]),
                distances=np.concatenate([r.distances, np.full(n, np.nan, np.float32)]),
                unlabelled=tuple(c for c in r.unlabelled if c != class_id),
            )
        )
    return out
