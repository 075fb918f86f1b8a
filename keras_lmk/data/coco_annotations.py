"""One COCO keypoint annotation -> box, reference point and taxonomy class, checked (the rules of
keras_lmk/data/coco.py's layout); shared by the streaming reader and the in-memory loader.
"""

from __future__ import annotations

import numpy as np

from keras_lmk.data.taxonomy import BACKGROUND, Taxonomy
from keras_lmk.data.validation import DataError, check_box, check_point


def category_map(categories, taxonomy: Taxonomy, src: str) -> dict[int, int]:
    """COCO category id -> taxonomy id, by name. Unknown names are fatal: the whole file is mismatched."""
    if not isinstance(categories, list):
        raise DataError(src, None, "missing 'categories' list")
    out = {}
    for i, c in enumerate(categories):
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


def is_ignore_region(a) -> bool:
    """``iscrowd: 1``: COCO's ignore region, a landmark that is neither learnt nor scored."""
    return isinstance(a, dict) and bool(a.get("iscrowd", 0))


def parse_annotation(a: dict, cats: dict[int, int], w: int, h: int, src: str):
    """-> (box xyxy, point or None, class id, landmark id, distance); DataError on any problem.

    An ``iscrowd: 1`` annotation is an *ignore region* (see ``ImageRecord.ignore_boxes``); it is parsed the
    same way, the caller tells it apart with :func:`is_ignore_region` (its keypoint, if any, is unused).
    """
    where = f"annotation {a.get('id', '?')}" if isinstance(a, dict) else "annotation ?"
    if not isinstance(a, dict):
        raise DataError(src, where, f"malformed annotation {a!r}")
    if a.get("iscrowd", 0) not in (0, 1, False, True):
        raise DataError(src, where, f"iscrowd must be 0 or 1 (1: an ignore region), got {a.get('iscrowd')!r}")
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
