"""Landmark taxonomy as data: class ids, names and the reference-point rule of each class.

A taxonomy file (JSON) lists classes; id 0 must be ``background``. Each landmark class names a point rule
from :data:`POINT_RULES`. Another country's taxonomy is another file, not code::

    tax = load_taxonomy()                      # the packaged Korean taxonomy
    tax = load_taxonomy("my_mutcd.json")      # any file with the same layout
    tax.reference_points(boxes_xyxy, class_ids)  # float [N, 2], pixels, x right, y down

Boxes are ``[x0, y0, x1, y1]`` in pixels, x right, y down; (x1, y1) is the lower-right corner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

PACKAGED_DIR = "taxonomies"
DEFAULT_TAXONOMY = "korea"
BACKGROUND = 0


def _center(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=-1)


POINT_RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bbox_center": _center,
    "bbox_bottom_right": lambda b: np.stack([b[:, 2], b[:, 3]], axis=-1),
    "bbox_bottom_left": lambda b: np.stack([b[:, 0], b[:, 3]], axis=-1),
    "bbox_bottom_center": lambda b: np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=-1),
    "bbox_top_center": lambda b: np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 1]], axis=-1),
}

# What a horizontal flip turns each rule into (a flipped lower-right point is a lower-left one).
MIRRORED_RULE = {
    "bbox_center": "bbox_center",
    "bbox_bottom_right": "bbox_bottom_left",
    "bbox_bottom_left": "bbox_bottom_right",
    "bbox_bottom_center": "bbox_bottom_center",
    "bbox_top_center": "bbox_top_center",
}


def outline_point(xs, ys, rule: str) -> np.ndarray:
    """Reference point of a landmark outlined by a polygon (a quad, a YOLO segment): float32 [2] pixels.

    The box rules apply to the outline's bounding box, except ``bbox_bottom_right``, the road-marking rule
    "lower-right end of the marking as seen in the image": of the outline's two lowest vertices (largest y),
    the right one (largest x). For an axis-aligned box that is the box's corner (x1, y1), so both paths
    agree wherever a box is all that is known. ``bbox_bottom_left`` mirrors it.
    """
    xs = np.asarray(xs, np.float64).reshape(-1)
    ys = np.asarray(ys, np.float64).reshape(-1)
    if rule in ("bbox_bottom_right", "bbox_bottom_left") and len(xs) >= 2:
        low = np.lexsort((xs, -ys))[:2]  # the two largest y (ties: smaller x first, so it is stable)
        pick = low[np.argmax(xs[low])] if rule == "bbox_bottom_right" else low[np.argmin(xs[low])]
        return np.array([xs[pick], ys[pick]], np.float32)
    box = np.array([[xs.min(), ys.min(), xs.max(), ys.max()]])
    return POINT_RULES[rule](box)[0].astype(np.float32)


class TaxonomyError(ValueError):
    """A taxonomy or class-mapping file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class LandmarkClass:
    id: int
    name: str
    point_rule: str | None  # None only for background
    color: tuple[int, int, int] = (255, 255, 255)  # RGB, for rendering predictions


@dataclass(frozen=True)
class Taxonomy:
    name: str
    classes: tuple[LandmarkClass, ...]

    @property
    def num_classes(self) -> int:
        """M: number of classes including background."""
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_id(self, name: str) -> int:
        for c in self.classes:
            if c.name == name:
                return c.id
        raise KeyError(f"unknown class {name!r} in taxonomy {self.name!r}; known: {self.names}")

    def rule_of(self, class_id: int) -> str:
        if not 0 < class_id < self.num_classes:
            raise KeyError(f"class id {class_id} is not a landmark class of taxonomy {self.name!r}")
        return self.classes[class_id].point_rule  # type: ignore[return-value]

    def flip_safe(self) -> bool:
        """True when a horizontal flip keeps every class's rule (no lower-right/lower-left rules)."""
        return all(c.point_rule is None or MIRRORED_RULE[c.point_rule] == c.point_rule for c in self.classes)

    def edge_point_classes(self) -> tuple[int, ...]:
        """Class ids whose point lies on the box's edge (every rule but the centre): their voting anchors sit
        on one side of the point, which the decoder's ``side_balanced_classes`` is for."""
        return tuple(c.id for c in self.classes if c.point_rule not in (None, "bbox_center"))

    def reference_points(self, boxes_xyxy, class_ids) -> np.ndarray:
        """Reference point of each box by its class rule.

        boxes_xyxy: float [N, 4] pixels; class_ids: int [N] (>= 1). Returns float32 [N, 2] (x, y) pixels.
        """
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
        out = np.zeros((len(boxes), 2), dtype=np.float64)
        for cid in np.unique(ids):
            sel = ids == cid
            out[sel] = POINT_RULES[self.rule_of(int(cid))](boxes[sel])
        return out.astype(np.float32)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "classes": [
                {"id": c.id, "name": c.name, "point_rule": c.point_rule, "color": list(c.color)}
                for c in self.classes
            ],
        }


def _resolve(name_or_path: str | Path, suffix: str = ".json") -> tuple[str, str]:
    """Return (display name, text) of a packaged name or a file path."""
    p = Path(name_or_path)
    if p.suffix == suffix and p.exists():
        return str(p), p.read_text()
    packaged = resources.files("keras_lmk.data").joinpath(PACKAGED_DIR, f"{name_or_path}{suffix}")
    if packaged.is_file():
        return f"keras_lmk/data/{PACKAGED_DIR}/{name_or_path}{suffix}", packaged.read_text()
    raise TaxonomyError(f"{name_or_path}: no such taxonomy file or packaged taxonomy")


def parse_taxonomy(data: dict, source: str = "<dict>") -> Taxonomy:
    try:
        raw = data["classes"]
        classes = []
        for i, c in enumerate(raw):
            if int(c["id"]) != i:
                raise TaxonomyError(f"{source}: class #{i} has id {c['id']}; ids must be 0..M-1 in order")
            rule = c.get("point_rule")
            if i == 0:
                if c["name"] != "background":
                    raise TaxonomyError(f"{source}: class 0 must be 'background', got {c['name']!r}")
            elif rule not in POINT_RULES:
                raise TaxonomyError(
                    f"{source}: class {c['name']!r} has point_rule {rule!r}; known: {sorted(POINT_RULES)}"
                )
            color = tuple(int(v) for v in c.get("color", (255, 255, 255)))
            classes.append(LandmarkClass(i, str(c["name"]), rule, color))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, TaxonomyError):
            raise
        raise TaxonomyError(f"{source}: malformed taxonomy ({type(e).__name__}: {e})") from e
    if len(classes) < 2:
        raise TaxonomyError(f"{source}: a taxonomy needs background and at least one landmark class")
    return Taxonomy(str(data.get("name", source)), tuple(classes))


def load_taxonomy(name_or_path: str | Path = DEFAULT_TAXONOMY) -> Taxonomy:
    """Load a packaged taxonomy by name (``"korea"``) or any JSON file with the same layout."""
    source, text = _resolve(name_or_path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TaxonomyError(f"{source}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return parse_taxonomy(data, source)


def load_class_mapping(name_or_path: str | Path, taxonomy: Taxonomy) -> dict[str, int]:
    """Load a source-label -> taxonomy-id mapping (e.g. ``"gtsdb_to_korea"``). Keys are str."""
    source, text = _resolve(name_or_path)
    try:
        data = json.loads(text)
        mapping = data["mapping"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise TaxonomyError(f"{source}: malformed class mapping ({e})") from e
    out = {}
    for key, target in mapping.items():
        try:
            out[str(key)] = taxonomy.class_id(str(target))
        except KeyError as e:
            raise TaxonomyError(f"{source}: source class {key!r} maps to unknown class {target!r}") from e
        if out[str(key)] == BACKGROUND:
            raise TaxonomyError(f"{source}: source class {key!r} maps to background")
    return out
