"""The project's own labels of several landmark classes, as boxes or outlines (keras_lmk/data/labels/).

A published data set that labels some classes (the Korean light photos: signals only) gets the others from a
labels file of ours. One line per landmark, a header first, fields separated by ``;``::

    file;class;shape;coordinates
    X_jpg.rf.588e.jpg;regulatory;box;412 150 440 178
    X_jpg.rf.588e.jpg;road_marking;polygon;100 700 300 690 320 760 90 780

``file`` is the image's file name as on disk, ``class`` a taxonomy class name, ``shape`` ``box``
(``left top right bottom``), ``polygon`` (``x1 y1 x2 y2 ...``, at least 3 vertices, in order round the
outline) or ``ignore`` (a box, ``left top right bottom``, around a landmark that is visible but cannot be
labelled: its reference point is outside the image or hidden, e.g. a crosswalk cut by the image's bottom
edge, a sign cut by its top edge); coordinates are pixels of that image, x right, y down, boxes as the records
hold them (a box's right edge is the right pixel's right edge). The reference point follows the class's rule
(:func:`keras_lmk.data.taxonomy.outline_point`): for a polygon of ``road_marking`` the lower-right end, of the
outline's two lowest vertices the right one; for a sign or a box the rule on the box. An ``ignore`` box
becomes one of the record's ``ignore_boxes``: neither landmark nor background in training, and a detection
inside it is no false positive.

Beside the file, ``<stem>_checked.txt`` lists the images in which every landmark of the file's classes was
looked for. Only those images get the classes as *labelled*: their landmarks added and the classes dropped
from ``unlabelled``, so a checked image without a sign teaches "no sign" there. Images not checked are
returned unchanged; a line naming one is an error (it would train as labelled on an unchecked image).

    table = read_landmark_labels(LABELS_DIR / "kr_landmarks.csv", taxonomy, UNLABELLED["lights"])
    records = with_landmark_labels(records, table)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_lmk.data.added_labels import checked_list_path
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy, outline_point
from keras_lmk.data.validation import DataError, check_box, check_point, parse_number, read_text

HEADER = "file;class;shape;coordinates"
SHAPES = ("box", "polygon", "ignore")


@dataclass(frozen=True)
class ImageLabels:
    """One checked image's landmarks (K may be 0): boxes float32 [K, 4] xyxy pixels, points float32 [K, 2]
    reference points, classes int32 [K] taxonomy ids, lines [K] their line numbers in the labels file;
    ignore_boxes float32 [J, 4] and ignore_classes int32 [J] the ``ignore`` lines, ignore_lines [J] theirs."""

    boxes: np.ndarray
    points: np.ndarray
    classes: np.ndarray
    lines: tuple[int, ...]
    ignore_boxes: np.ndarray
    ignore_classes: np.ndarray
    ignore_lines: tuple[int, ...]


@dataclass(frozen=True)
class LandmarkLabels:
    """A labels file read: the classes it labels completely on its checked images, and those images'
    labels by file name."""

    path: Path
    class_ids: tuple[int, ...]
    images: dict[str, ImageLabels]


def _parse_line(raw: str, path: Path, lineno: int, taxonomy: Taxonomy, allowed: dict[str, int]):
    """(file name, class id, box [4], point [2] or None for an ``ignore`` box) of one label line, or a
    DataError naming the line."""
    fields = raw.strip().split(";")
    if len(fields) != 4:
        raise DataError(path, lineno, f"malformed line {raw.strip()!r} (want {HEADER})")
    name, cls, shape = (f.strip() for f in fields[:3])
    if cls not in allowed:
        raise DataError(path, lineno, f"class {cls!r} is not one this file labels ({', '.join(allowed)})")
    if shape not in SHAPES:
        raise DataError(path, lineno, f"unknown shape {shape!r} (want {' or '.join(SHAPES)})")
    v = [parse_number(t, path, lineno, "coordinate") for t in fields[3].split()]
    rule = taxonomy.rule_of(allowed[cls])
    if shape in ("box", "ignore"):
        if len(v) != 4:
            raise DataError(path, lineno, f"a box has 4 numbers (left top right bottom), got {len(v)}")
        if not (v[2] > v[0] and v[3] > v[1]):
            raise DataError(path, lineno, f"box {v} has no area (want left < right, top < bottom)")
        box = np.array(v, np.float64)
        if shape == "ignore":
            return name, allowed[cls], box, None
        return name, allowed[cls], box, taxonomy.reference_points(box[None], [allowed[cls]])[0]
    if len(v) % 2:
        raise DataError(path, lineno, f"a polygon has x y pairs, got {len(v)} numbers")
    if len(v) < 6:
        raise DataError(path, lineno, f"a polygon has at least 3 vertices, got {len(v) // 2}")
    xy = np.array(v, np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    if abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2 <= 0:  # shoelace area
        raise DataError(path, lineno, f"polygon {v} has no area")
    return name, allowed[cls], np.array([x.min(), y.min(), x.max(), y.max()]), outline_point(x, y, rule)


def read_landmark_labels(labels_csv: str | Path, taxonomy: Taxonomy, classes) -> LandmarkLabels:
    """Read a labels file and its checked list. ``classes``: the class names the file labels (a line of
    another class is an error); on a checked image they all become labelled. Problems raise a DataError
    naming the file and line."""
    path = Path(labels_csv)
    if not path.is_file():
        raise DataError(path, None, "labels file not found")
    unknown = [c for c in classes if c not in taxonomy.names[1:]]
    if unknown:
        raise DataError(path, None, f"classes {unknown} are not in taxonomy {taxonomy.name!r}")
    allowed = {c: taxonomy.class_id(c) for c in classes}
    checked_path = checked_list_path(path)
    if not checked_path.is_file():
        raise DataError(checked_path, None, f"list of checked images for {path.name} not found")
    rows: dict[str, list] = {ln.strip(): [] for ln in read_text(checked_path).splitlines() if ln.strip()}
    lines = read_text(path).splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise DataError(path, 1, f"first line must be the header {HEADER!r}")
    for lineno, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        name, cid, box, point = _parse_line(raw, path, lineno, taxonomy, allowed)
        if name not in rows:
            raise DataError(path, lineno, f"{name} is not in {checked_path.name}: check the image first")
        rows[name].append((cid, box, point, lineno))
    images = {}
    for name, rs in rows.items():
        marks = [r for r in rs if r[2] is not None]
        ignores = [r for r in rs if r[2] is None]
        images[name] = ImageLabels(
            boxes=np.array([r[1] for r in marks], np.float32).reshape(-1, 4),
            points=np.array([r[2] for r in marks], np.float32).reshape(-1, 2),
            classes=np.array([r[0] for r in marks], np.int32).reshape(-1),
            lines=tuple(r[3] for r in marks),
            ignore_boxes=np.array([r[1] for r in ignores], np.float32).reshape(-1, 4),
            ignore_classes=np.array([r[0] for r in ignores], np.int32).reshape(-1),
            ignore_lines=tuple(r[3] for r in ignores),
        )
    return LandmarkLabels(path, tuple(sorted(allowed.values())), images)


def with_landmark_labels(records: list[ImageRecord], table: LandmarkLabels) -> list[ImageRecord]:
    """Records of checked images (matched by file name) with their landmarks and ignore boxes appended and the
    table's classes dropped from ``unlabelled``; other records returned as they are. A box or point outside
    its image (beyond the 1 px tolerance; within it, clipped) is a DataError naming the labels file and
    line."""
    out = []
    for r in records:
        labels = table.images.get(Path(r.image_path).name)
        if labels is None:
            out.append(r)
            continue
        n = len(labels.classes)
        where = zip(labels.boxes, labels.points, labels.lines, strict=True)
        checked = [
            (
                check_box(b, r.width, r.height, table.path, ln),
                check_point(p, r.width, r.height, table.path, ln),
            )
            for b, p, ln in where
        ]
        where = zip(labels.ignore_boxes, labels.ignore_lines, strict=True)
        ignores = np.array(
            [check_box(b, r.width, r.height, table.path, ln) for b, ln in where], np.float32
        ).reshape(-1, 4)
        out.append(
            dataclasses.replace(
                r,
                boxes=np.concatenate([r.boxes, np.array([b for b, _ in checked], np.float32).reshape(n, 4)]),
                points=np.concatenate(
                    [r.points, np.array([p for _, p in checked], np.float32).reshape(n, 2)]
                ),
                classes=np.concatenate([r.classes, labels.classes]),
                landmark_ids=np.concatenate([r.landmark_ids, np.full(n, -1, np.int64)]),
                distances=np.concatenate([r.distances, np.full(n, np.nan, np.float32)]),
                unlabelled=tuple(c for c in r.unlabelled if c not in table.class_ids),
                ignore_boxes=np.concatenate([r.ignore_boxes, ignores]),
                ignore_classes=np.concatenate([r.ignore_classes, labels.ignore_classes]),
            )
        )
    return out
