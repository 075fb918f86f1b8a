"""YOLO importer: images + ``labels/*.txt`` (``cls cx cy w h``, normalised 0..1) -> ImageRecords.

Layout (Ultralytics and darknet style both work)::

    DATASET/images/**/x.jpg   with   DATASET/labels/**/x.txt      (or images directly in DATASET/)

An image without a label file is a negative (YOLO's convention); a label file without an image is an error.
A line may carry one pose keypoint, ``cls cx cy w h px py v`` (normalised); when v > 0 it is the reference
point, otherwise the taxonomy's class rule derives it from the box. A segment (polygon) line,
``cls x1 y1 x2 y2 ... xn yn`` with n >= 3 vertices (an odd field count >= 7, so never confused with the two
forms above), gives its bounding box and the class rule applied to the outline
(:func:`keras_lmk.data.taxonomy.outline_point`: for road markings the lower-right end of the polygon).

The class mapping (YOLO class index -> taxonomy class) is one of:

- a packaged mapping name (``traffic_light_kr_to_korea``) or a JSON mapping file like
  ``taxonomies/gtsdb_to_korea.json``: ``{"mapping": {"0": "warning", ...}}``;
- a JSON ``{"names": ["warning", ...]}``, a YAML data file with ``names:`` (list or {index: name}), or a
  text file with one taxonomy class name per line (line i = class i).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy, TaxonomyError, load_class_mapping, outline_point
from keras_lmk.data.validation import (
    IMAGE_SUFFIXES,
    DataError,
    LoadReport,
    check_box,
    check_point,
    image_size,
    parse_number,
    read_text,
)

PACKAGED_MAPPINGS = resources.files("keras_lmk.data") / "taxonomies"


def load_yolo_mapping(path: str | Path, taxonomy: Taxonomy) -> dict[int, int]:
    """YOLO class index -> taxonomy id, from any of the mapping files in the module docstring."""
    path = Path(path)
    if not path.is_file() and path.suffix == "" and PACKAGED_MAPPINGS.joinpath(f"{path}.json").is_file():
        try:  # a packaged mapping named like gtsdb_to_korea
            return {int(k): v for k, v in load_class_mapping(str(path), taxonomy).items()}
        except (TaxonomyError, ValueError) as e:
            raise DataError(path, None, f"bad class mapping: {e}") from None
    if not path.is_file():
        raise DataError(path, None, "class-mapping file not found")
    names: list[str] | dict | None = None
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(path, e.lineno, f"invalid JSON: {e.msg}") from None
        if isinstance(data, dict) and "mapping" in data:
            try:
                return {int(k): v for k, v in load_class_mapping(path, taxonomy).items()}
            except (TaxonomyError, ValueError) as e:
                raise DataError(path, None, f"bad class mapping: {e}") from None
        names = data.get("names") if isinstance(data, dict) else data
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        names = (yaml.safe_load(path.read_text()) or {}).get("names")
    else:
        names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise DataError(path, None, "no class names found (want 'mapping', 'names', or one name per line)")
    out = {}
    for k, name in names.items():
        if str(name) not in taxonomy.names[1:]:
            raise DataError(path, None, f"class {k} name {name!r} is not in taxonomy {taxonomy.name!r}")
        out[int(k)] = taxonomy.class_id(str(name))
    return out


def _layout(folder: Path, labels_dir: Path | None) -> tuple[Path, Path]:
    images = folder / "images" if (folder / "images").is_dir() else folder
    labels = labels_dir if labels_dir is not None else folder / "labels"
    return images, labels


def _parse_polygon(f: list[str], path: Path, lineno: int, w: int, h: int, rule: str):
    """Segment line fields (after the class) -> (box, reference point), both pixels."""
    v = [parse_number(x, path, lineno, f"{'xy'[i % 2]}{i // 2 + 1}") for i, x in enumerate(f)]
    xs, ys = np.array(v[0::2]) * w, np.array(v[1::2]) * h
    box = check_box([xs.min(), ys.min(), xs.max(), ys.max()], w, h, path, lineno)
    return box, check_point(outline_point(xs, ys, rule), w, h, path, lineno)


def _parse_label_file(
    path: Path, w: int, h: int, class_map: dict[int, int], taxonomy: Taxonomy
) -> tuple[list[np.ndarray], list[np.ndarray | None], list[int]]:
    boxes, points, classes = [], [], []
    for lineno, raw in enumerate(read_text(path).splitlines(), start=1):
        f = raw.split()
        if not f:
            continue
        polygon = len(f) >= 7 and len(f) % 2 == 1
        if len(f) not in (5, 8) and not polygon:
            raise DataError(
                path,
                lineno,
                f"malformed line {raw.strip()[:80]!r} (want 'cls cx cy w h [px py v]' or a polygon "
                "'cls x1 y1 x2 y2 x3 y3 ...')",
            )
        if not (f[0].isascii() and f[0].isdigit()):
            raise DataError(path, lineno, f"malformed class {f[0]!r} (want an integer index)")
        if int(f[0]) not in class_map:
            raise DataError(path, lineno, f"unknown class {f[0]} (not in the class mapping)")
        cid = class_map[int(f[0])]
        if polygon:
            box, point = _parse_polygon(f[1:], path, lineno, w, h, taxonomy.rule_of(cid))
            boxes.append(box)
            points.append(point)
            classes.append(cid)
            continue
        cx, cy, bw, bh = (
            parse_number(v, path, lineno, n) for v, n in zip(f[1:5], "cx cy w h".split(), strict=True)
        )
        box = check_box(
            [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], w, h, path, lineno
        )
        point = None
        if len(f) == 8:
            px, py, v = (
                parse_number(x, path, lineno, n) for x, n in zip(f[5:], "px py v".split(), strict=True)
            )
            if v > 0:
                point = check_point([px * w, py * h], w, h, path, lineno)
        boxes.append(box)
        points.append(point)
        classes.append(class_map[int(f[0])])
    return boxes, points, classes


def load_yolo(
    folder: str | Path,
    taxonomy: Taxonomy,
    mapping: str | Path | dict[int, int],
    *,
    labels_dir: str | Path | None = None,
    skip_bad: bool = False,
    report: LoadReport | None = None,
) -> list[ImageRecord]:
    """Import a YOLO-format folder. Records are sorted by image path; image_id = 1..N in that order.

    Problems raise ``DataError("labels/x.txt:LINE: problem")``; with ``skip_bad`` the image is left out and
    counted in ``report``.
    """
    folder = Path(folder)
    images_dir, labels = _layout(folder, Path(labels_dir) if labels_dir is not None else None)
    class_map = mapping if isinstance(mapping, dict) else load_yolo_mapping(mapping, taxonomy)
    report = report if report is not None else LoadReport()
    if not labels.is_dir():
        raise DataError(labels, None, "labels folder not found")
    images = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    label_of = {p: labels / p.relative_to(images_dir).with_suffix(".txt") for p in images}
    used = set(label_of.values())
    records = []
    for p in sorted(labels.rglob("*.txt")):
        if p not in used and p.name != "classes.txt":
            e = DataError(p, None, f"label file has no image under {images_dir}")
            if not skip_bad:
                raise e
            report.add(e, str(p))
    for img in images:
        lab = label_of[img]
        try:
            w, h = image_size(img)
            boxes, points, classes = (
                _parse_label_file(lab, w, h, class_map, taxonomy) if lab.is_file() else ([], [], [])
            )
        except DataError as e:
            if not skip_bad:
                raise
            report.add(e, str(img))
            continue
        b = np.array(boxes, np.float32).reshape(-1, 4)
        c = np.array(classes, np.int32)
        pts = taxonomy.reference_points(b, c) if len(c) else np.zeros((0, 2), np.float32)
        for k, pt in enumerate(points):
            if pt is not None:
                pts[k] = pt
        records.append(ImageRecord(os.path.abspath(img), w, h, b, pts, c, image_id=len(records) + 1))
    return records
