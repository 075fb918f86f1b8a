"""GTSDB importer: ``gt.txt`` + scene images -> ImageRecords in the landmark taxonomy.

``gt.txt`` has one box per line, ``00000.ppm;left;top;right;bottom;class`` (pixels, 43 GTSDB sign classes).
Coordinates are used as given (GTSDB's inclusive right/bottom pixel index is within the 1-px tolerance).
Classes go through a mapping file (default: the packaged ``gtsdb_to_korea``); reference points come from the
taxonomy's class rule (signs: box centre).

Two quirks handled here:

- gt.txt names files ``.ppm`` but re-saved copies are often ``.jpg``/``.png``: files are matched by stem
  (an exact name wins).
- GTSDB has images with no sign at all. Every image in the folder that gt.txt does not mention is imported as
  a negative (a record with no landmarks), so the detector also sees empty scenes.

    records = load_gtsdb("/data/gtsdb-train", load_taxonomy())   # 600 images, 852 boxes (94 negatives)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy, load_class_mapping
from keras_lmk.data.validation import (
    IMAGE_SUFFIXES,
    DataError,
    LoadReport,
    check_box,
    image_size,
    index_images,
    parse_number,
    read_text,
    resolve_image,
)

GT_FILE = "gt.txt"
DEFAULT_MAPPING = "gtsdb_to_korea"


def _image_id(path: Path, fallback: int) -> int:
    return int(path.stem) if path.stem.isdigit() else fallback


def load_gtsdb(
    folder: str | Path,
    taxonomy: Taxonomy,
    *,
    mapping: str | Path = DEFAULT_MAPPING,
    gt_file: str | Path | None = None,
    include_negatives: bool = True,
    skip_bad: bool = False,
    report: LoadReport | None = None,
) -> list[ImageRecord]:
    """Import a GTSDB folder (images + gt.txt). Records are sorted by file name; image_id = numeric stem.

    Problems (malformed line, unknown class, missing image, box outside the image, NaN) raise
    ``DataError("gt.txt:LINE: problem")``; with ``skip_bad`` the image is left out and counted in ``report``.
    """
    folder = Path(folder)
    gt_path = Path(gt_file) if gt_file is not None else folder / GT_FILE
    class_map = load_class_mapping(mapping, taxonomy)
    report = report if report is not None else LoadReport()
    if not gt_path.is_file():
        raise DataError(gt_path, None, "ground-truth file not found")
    index = index_images(folder)
    sizes: dict[Path, tuple[int, int]] = {}
    boxes: dict[Path, list[tuple[np.ndarray, int]]] = {}
    bad: set[str] = set()  # stems of images left out; never re-added as negatives

    for lineno, raw in enumerate(read_text(gt_path).splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(";")
        stem = Path(fields[0].strip()).stem
        try:
            if len(fields) != 6:
                raise DataError(
                    gt_path, lineno, f"malformed line {line!r} (want file;left;top;right;bottom;class)"
                )
            name = fields[0].strip()
            path = resolve_image(folder, name, index)
            if path is None:
                raise DataError(
                    gt_path, lineno, f"image {name!r} not found in {folder} (any of {IMAGE_SUFFIXES})"
                )
            if path not in sizes:
                sizes[path] = image_size(path)
            coords = [
                parse_number(f, gt_path, lineno, what)
                for f, what in zip(fields[1:5], ("left", "top", "right", "bottom"), strict=True)
            ]
            label = fields[5].strip()
            if not (label.isascii() and label.isdigit()) or str(int(label)) not in class_map:
                raise DataError(gt_path, lineno, f"unknown class {label!r} (not in mapping {mapping})")
            box = check_box(coords, *sizes[path], gt_path, lineno)
            boxes.setdefault(path, []).append((box, class_map[str(int(label))]))
        except DataError as e:
            if e.file != str(gt_path):  # unreadable image: say which line needed it
                e = DataError(gt_path, lineno, f"{e.file}: {e.problem}")
            if not skip_bad:
                raise e from None
            report.add(e, fields[0].strip())
            bad.add(stem)

    paths = {p for p in boxes if p.stem not in bad}
    if include_negatives:
        paths |= {p for stem, p in index.items() if stem not in bad and p not in boxes}
    records = []
    for i, path in enumerate(sorted(paths)):
        if path not in sizes:
            try:
                sizes[path] = image_size(path)
            except DataError as e:
                if not skip_bad:
                    raise
                report.add(e, str(path))
                continue
        items = boxes.get(path, [])
        b = np.array([x[0] for x in items], np.float32).reshape(-1, 4)
        c = np.array([x[1] for x in items], np.int32)
        pts = taxonomy.reference_points(b, c) if len(c) else np.zeros((0, 2), np.float32)
        w, h = sizes[path]
        records.append(ImageRecord(os.path.abspath(path), w, h, b, pts, c, image_id=_image_id(path, i)))
    return records
