"""COCO keypoint JSON: the interchange format every importer writes and training reads.

Layout (readable by ``pycocotools.coco.COCO``)::

    {"images":      [{"id", "file_name", "width", "height"}],   file_name relative to the JSON's folder
     "categories":  [{"id", "name", "supercategory", "keypoints": ["reference_point"], "skeleton": []}],
     "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd": 0,
                      "keypoints": [x, y, 2], "num_keypoints": 1,            # optional
                      "landmark_id": int, "distance": float}]}               # optional

Categories are matched to the taxonomy BY NAME (their ids in a foreign file may differ); files we write use
the taxonomy ids and leave background out. An annotation without a visible keypoint (none, or v = 0) gets the
reference point of its class rule (``Taxonomy.reference_points``: sign -> box centre, road marking ->
lower-right corner). Coordinates are pixels of the original image, x right, y down.

    records = load_coco("data/train.json", load_taxonomy())
    write_coco(records, load_taxonomy(), "out/annotations.json")
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write_json
from keras_lmk.errors import DataError, LoadReport, check_box, check_point, image_size
from keras_lmk.records import ImageRecord
from keras_lmk.taxonomy import BACKGROUND, Taxonomy

KEYPOINT_NAMES = ["reference_point"]


def _num(v) -> float:
    # shortest decimal that reads back as the same float32: round trips exactly, and stays legible
    return float(str(np.float32(v)))


def write_coco(
    records: list[ImageRecord],
    taxonomy: Taxonomy,
    json_path: str | Path,
    image_root: str | Path | None = None,
) -> Path:
    """Write records as COCO keypoint JSON (atomically).

    file_name is relative to image_root (default: the JSON's folder). Image ids are the records' ids when
    unique, else 1..N in order. Returns the path written.
    """
    json_path = Path(json_path)
    root = Path(image_root) if image_root is not None else json_path.parent
    root = Path(os.path.abspath(root))
    ids = [int(r.image_id) for r in records]
    if len(set(ids)) != len(ids):
        ids = list(range(1, len(records) + 1))
    images, annotations = [], []
    for image_id, r in zip(ids, records, strict=True):
        rel = os.path.relpath(os.path.abspath(r.image_path), root)
        images.append(
            {
                "id": image_id,
                "file_name": Path(rel).as_posix(),
                "width": int(r.width),
                "height": int(r.height),
            }
        )
        for k in range(r.num_landmarks):
            cid = int(r.classes[k])
            taxonomy.rule_of(cid)  # raises on background or an id outside the taxonomy
            x0, y0, x1, y1 = (_num(v) for v in r.boxes[k])
            w, h = _num(x1 - x0), _num(y1 - y0)
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cid,
                "bbox": [x0, y0, w, h],
                "area": _num(w * h),
                "iscrowd": 0,
                "keypoints": [_num(r.points[k, 0]), _num(r.points[k, 1]), 2],
                "num_keypoints": 1,
            }
            if r.landmark_ids[k] >= 0:
                ann["landmark_id"] = int(r.landmark_ids[k])
            if np.isfinite(r.distances[k]):
                ann["distance"] = _num(r.distances[k])
            annotations.append(ann)
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "supercategory": "landmark",
            "keypoints": KEYPOINT_NAMES,
            "skeleton": [],
            "point_rule": c.point_rule,
        }
        for c in taxonomy.classes
        if c.id != BACKGROUND
    ]
    coco = {
        "info": {"description": f"keras_lmk landmarks, taxonomy {taxonomy.name}"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    return atomic_write_json(json_path, coco, indent=None)


def _category_map(data: dict, taxonomy: Taxonomy, src: str) -> dict[int, int]:
    """COCO category id -> taxonomy id, by name. Unknown names are fatal: the whole file is mismatched."""
    cats = data.get("categories")
    if not isinstance(cats, list):
        raise DataError(src, None, "missing 'categories' list")
    out = {}
    for i, c in enumerate(cats):
        try:
            cid, name = int(c["id"]), str(c["name"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise DataError(src, f"category #{i}", f"malformed category {c!r}") from None
        if name not in taxonomy.names or name == taxonomy.classes[BACKGROUND].name:
            raise DataError(
                src,
                f"category {cid}",
                f"unknown category name {name!r} (taxonomy {taxonomy.name!r}: {taxonomy.names[1:]})",
            )
        out[cid] = taxonomy.class_id(name)
    return out


def _parse_annotation(a: dict, cats: dict[int, int], taxonomy: Taxonomy, w: int, h: int, src: str):
    """-> (box xyxy, point or None, class id, landmark id, distance); DataError on any problem."""
    where = f"annotation {a.get('id', '?')}" if isinstance(a, dict) else "annotation ?"
    if not isinstance(a, dict):
        raise DataError(src, where, f"malformed annotation {a!r}")
    if a.get("iscrowd", 0):
        raise DataError(src, where, "iscrowd annotations are not supported (landmarks are single objects)")
    try:
        cat = int(a["category_id"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise DataError(src, where, "missing or malformed category_id") from None
    if cat not in cats:
        raise DataError(src, where, f"unknown class: category_id {cat} is not in 'categories'")
    bbox = a.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise DataError(src, where, f"malformed bbox {bbox!r} (want [x, y, w, h])")
    try:
        x, y, bw, bh = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise DataError(src, where, f"malformed bbox {bbox!r} (not numbers)") from None
    box = check_box([x, y, x + bw, y + bh], w, h, src, where)
    point = None
    kp = a.get("keypoints")
    if kp is not None:
        if not isinstance(kp, list) or len(kp) != 3:
            raise DataError(src, where, f"malformed keypoints {kp!r} (want [x, y, v])")
        try:
            kx, ky, v = float(kp[0]), float(kp[1]), float(kp[2])
        except (TypeError, ValueError):
            raise DataError(src, where, f"malformed keypoints {kp!r} (not numbers)") from None
        if v > 0:
            point = check_point([kx, ky], w, h, src, where)
    lid = a.get("landmark_id", -1)
    dist = a.get("distance", None)
    try:
        lid = int(lid)
        dist = np.nan if dist is None else float(dist)
    except (TypeError, ValueError, OverflowError):
        raise DataError(src, where, f"malformed landmark_id/distance {lid!r}/{dist!r}") from None
    return box, point, cats[cat], lid, dist


def load_coco(
    json_path: str | Path,
    taxonomy: Taxonomy,
    image_dir: str | Path | None = None,
    *,
    skip_bad: bool = False,
    check_images: bool = False,
    report: LoadReport | None = None,
) -> list[ImageRecord]:
    """Read COCO keypoint JSON into ImageRecords (in the file's image order).

    image_path = abspath(image_dir or the JSON's folder, file_name); the file must exist. ``check_images``
    also decodes every image and checks its size against width/height (slow). Problems raise DataError
    (``FILE:annotation N: problem``) unless ``skip_bad``: then the whole image is left out and the problem is
    added to ``report``.
    """
    json_path = Path(json_path)
    src = str(json_path)
    try:
        data = json.loads(json_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(src, e.lineno, f"invalid JSON: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise DataError(src, None, f"not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise DataError(src, None, f"cannot read ({e.strerror or e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(src, None, "not a COCO file: missing 'images' list")
    cats = _category_map(data, taxonomy, src)
    root = Path(os.path.abspath(image_dir if image_dir is not None else json_path.parent))
    report = report if report is not None else LoadReport()

    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(src, None, "'annotations' must be a list")
    by_image: dict = {}
    for a in annotations:
        key = a.get("image_id") if isinstance(a, dict) else None
        if isinstance(key, list | dict):  # unhashable: can only be an orphan, reported below
            key = repr(key)
        by_image.setdefault(key, []).append(a)
    known_ids = set()
    records, bad = [], []

    for i, im in enumerate(data["images"]):
        try:
            image_id = int(im["id"])
            where = f"image {image_id}"
            if image_id in known_ids:
                raise DataError(src, where, "duplicate image id")
            known_ids.add(image_id)
            path = root / str(im["file_name"])
            w, h = int(im.get("width", 0)), int(im.get("height", 0))
        except DataError as e:
            bad.append((e, None))
            continue
        except (KeyError, TypeError, ValueError, OverflowError):
            bad.append((DataError(src, f"image #{i}", f"malformed image entry {im!r}"), None))
            continue
        try:
            if check_images or w <= 0 or h <= 0:
                fw, fh = image_size(path, decode=check_images)
                if (w > 0 and h > 0) and (fw, fh) != (w, h):
                    raise DataError(src, where, f"{path}: file is {fw}x{fh}, JSON says {w}x{h}")
                w, h = fw, fh
            elif not path.is_file():
                raise DataError(src, where, f"image file not found: {path}")
            parsed = [_parse_annotation(a, cats, taxonomy, w, h, src) for a in by_image.get(image_id, [])]
        except DataError as e:
            bad.append((e, str(path)))
            continue
        n = len(parsed)
        boxes = np.array([p[0] for p in parsed], np.float32).reshape(n, 4)
        classes = np.array([p[2] for p in parsed], np.int32)
        points = taxonomy.reference_points(boxes, classes) if n else np.zeros((0, 2), np.float32)
        for k, p in enumerate(parsed):
            if p[1] is not None:
                points[k] = p[1]
        records.append(
            ImageRecord(
                image_path=str(path),
                width=w,
                height=h,
                boxes=boxes,
                points=points,
                classes=classes,
                image_id=image_id,
                landmark_ids=np.array([p[3] for p in parsed], np.int64),
                distances=np.array([p[4] for p in parsed], np.float32),
            )
        )
    orphans = set(by_image) - known_ids
    if orphans:
        bad.append(
            (
                DataError(
                    src, None, f"annotations refer to unknown image ids {sorted(map(str, orphans))[:5]}"
                ),
                None,
            )
        )
    for e, image in bad:
        if not skip_bad:
            raise e
        report.add(e, image)
    return records
