"""COCO keypoint JSON: the interchange format every importer writes and training reads.

Layout (readable by ``pycocotools.coco.COCO``)::

    {"images":      [{"id", "file_name", "width", "height",         file_name relative to the JSON's folder
                      "unlabelled_category_ids": [int]}],              # optional, see below
     "categories":  [{"id", "name", "supercategory", "keypoints": ["reference_point"], "skeleton": []}],
     "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd": 0,
                      "keypoints": [x, y, 2], "num_keypoints": 1,            # optional
                      "landmark_id": int, "distance": float}]}               # optional

An annotation with ``"iscrowd": 1`` is an *ignore region* (COCO's meaning): a landmark that is visible but
neither learnt nor scored (``ImageRecord.ignore_boxes``; a road marking whose reference end left the frame).

``unlabelled_category_ids`` lists the categories the image's source never annotates although they may appear
in it (``ImageRecord.unlabelled``: GTSDB labels no traffic lights): training does not learn them as background
there and evaluation neither counts nor misses predictions of them on that image (LVIS's rule for categories
outside an image's verified lists).

Categories are matched to the taxonomy BY NAME (their ids in a foreign file may differ); files we write use
the taxonomy ids and leave background out. An annotation without a visible keypoint (none, or v = 0) gets the
reference point of its class rule (``Taxonomy.reference_points``: sign -> box centre, road marking ->
lower-right corner). Coordinates are pixels of the original image, x right, y down.

    records = load_coco("data/train.json", load_taxonomy())
    write_coco(records, load_taxonomy(), "out/annotations.json")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write_json
from keras_lmk.data.coco_reader import CocoReader
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import BACKGROUND, Taxonomy
from keras_lmk.data.validation import LoadReport

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
        entry = {
            "id": image_id,
            "file_name": Path(rel).as_posix(),
            "width": int(r.width),
            "height": int(r.height),
        }
        if r.unlabelled:
            for cid in r.unlabelled:
                taxonomy.rule_of(int(cid))
            entry["unlabelled_category_ids"] = [int(c) for c in r.unlabelled]
        images.append(entry)
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
        for box, cid in zip(r.ignore_boxes, r.ignore_classes, strict=True):
            taxonomy.rule_of(int(cid))
            x0, y0, x1, y1 = (_num(v) for v in box)
            w, h = _num(x1 - x0), _num(y1 - y0)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cid),
                    "bbox": [x0, y0, w, h],
                    "area": _num(w * h),
                    "iscrowd": 1,
                }
            )
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
    added to ``report``. For long files iterate :class:`keras_lmk.data.coco_reader.CocoReader` instead: the
    same
    records, one at a time, in a few bytes per landmark.
    """
    reader = CocoReader(
        json_path, taxonomy, image_dir, skip_bad=skip_bad, check_images=check_images, report=report
    )
    return list(reader)
