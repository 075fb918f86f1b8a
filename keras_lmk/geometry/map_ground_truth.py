"""3D landmark map and per-frame ground truth by projecting it through the camera.

A map lists landmarks, each with an ``id``, a taxonomy ``class`` name, a 3D reference ``point`` and a planar
3D ``outline`` (world frame, metres; see keras_lmk/geometry/camera.py). The outline's vertices run
counter-clockwise
seen from the side the landmark is read from (a sign's face; a road marking seen from above), so its normal
says which way it faces. ``map.json``::

    {"taxonomy": "korea", "landmarks": [{"id": 7, "class": "warning", "point": [x, y, z],
                                         "outline": [[x, y, z], ...]}, ...]}

The class rule lives in 3D: a sign's or signal's point is the centre of its face, a road marking's point is
its outline's corner nearest the driver and rightmost there (its "lower-right end" seen from the lane). The
frame's reference point is the projection of that 3D point, not a rule applied to the 2D box.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_lmk.atomic import atomic_write_json
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy, load_taxonomy
from keras_lmk.geometry.camera import Camera, GeometryError, Pose


@dataclass(frozen=True, eq=False)
class Landmark:
    """id; cls: taxonomy class name; point: float [3]; outline: float [K, 3] (K >= 3, counter-clockwise
    seen from the front)."""

    id: int
    cls: str
    point: np.ndarray
    outline: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        """Unit front normal of the outline (Newell's method), float [3]."""
        p, q = self.outline, np.roll(self.outline, -1, axis=0)
        n = np.array(
            [
                np.sum((p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2])),
                np.sum((p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0])),
                np.sum((p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1])),
            ]
        )
        return n / max(np.linalg.norm(n), 1e-12)


@dataclass(frozen=True, eq=False)
class LandmarkMap:
    landmarks: tuple[Landmark, ...]
    taxonomy_name: str = "korea"

    def __len__(self) -> int:
        return len(self.landmarks)

    def to_json(self) -> dict:
        return {
            "taxonomy": self.taxonomy_name,
            "landmarks": [
                {
                    "id": int(lm.id),
                    "class": lm.cls,
                    "point": [round(float(v), 4) for v in lm.point],
                    "outline": [[round(float(v), 4) for v in p] for p in lm.outline],
                }
                for lm in self.landmarks
            ],
        }


def make_landmark(
    id: int, cls: str, point, outline, *, taxonomy: Taxonomy, source: str = "<map>"
) -> Landmark:
    """Validated landmark: finite values, known class, a non-degenerate outline of >= 3 vertices."""
    where = f"{source}: landmark id {id}"
    if cls not in taxonomy.names or cls == "background":
        raise GeometryError(f"{where}: unknown class {cls!r}; known: {taxonomy.names[1:]}")
    try:
        point = np.asarray(point, dtype=np.float64)
        outline = np.asarray(outline, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise GeometryError(f"{where}: point/outline must be numbers ({e})") from e
    if point.shape != (3,):
        raise GeometryError(f"{where}: point must be [x, y, z], got shape {point.shape}")
    if outline.ndim != 2 or outline.shape[1] != 3 or len(outline) < 3:
        raise GeometryError(f"{where}: outline must be >= 3 [x, y, z] vertices, got shape {outline.shape}")
    if not np.isfinite(point).all():
        raise GeometryError(f"{where}: point is not finite: {point.tolist()}")
    if not np.isfinite(outline).all():
        raise GeometryError(f"{where}: outline has a non-finite vertex")
    lm = Landmark(int(id), cls, point, outline)
    p, q = outline, np.roll(outline, -1, axis=0)
    with np.errstate(all="ignore"):  # absurd coordinates overflow here; caught just below
        doubled_area = np.linalg.norm(np.cross(p - outline.mean(0), q - outline.mean(0)).sum(0))
        normal_ok = np.isfinite(lm.normal).all()
    if not (np.isfinite(doubled_area) and normal_ok):
        raise GeometryError(f"{where}: outline coordinates are too large to compute its plane")
    if doubled_area < 1e-9:
        raise GeometryError(f"{where}: outline has zero area")
    return lm


def parse_map(data: dict, *, taxonomy: Taxonomy | None = None, source: str = "<map>") -> LandmarkMap:
    if not isinstance(data, dict) or not isinstance(data.get("landmarks"), list):
        raise GeometryError(f"{source}: a map is an object with a 'landmarks' list")
    if taxonomy is None:
        name = data.get("taxonomy", "korea")
        if not isinstance(name, str):
            raise GeometryError(f"{source}: 'taxonomy' must be a taxonomy name or file, got {name!r}")
        taxonomy = load_taxonomy(name)
    out, seen = [], set()
    for i, d in enumerate(data["landmarks"]):
        try:
            lid = int(d["id"])
            lm = make_landmark(lid, d["class"], d["point"], d["outline"], taxonomy=taxonomy, source=source)
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            if isinstance(e, GeometryError):
                raise
            raise GeometryError(f"{source}: landmark #{i}: malformed ({type(e).__name__}: {e})") from e
        if lid in seen:
            raise GeometryError(f"{source}: landmark id {lid} appears twice")
        seen.add(lid)
        out.append(lm)
    return LandmarkMap(tuple(out), taxonomy.name)


def load_map(path: str | Path, taxonomy: Taxonomy | None = None) -> LandmarkMap:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise GeometryError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return parse_map(data, taxonomy=taxonomy, source=str(path))


def save_map(lmap: LandmarkMap, path: str | Path) -> Path:
    return atomic_write_json(path, lmap.to_json(), indent=None)


def clip_near(poly_cam: np.ndarray, near: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon [K, 3] to ``z >= near``.

    Returns [K', 3]; K' may be 0."""
    out = []
    n = len(poly_cam)
    for i in range(n):
        a, b = poly_cam[i], poly_cam[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            f = (near - a[2]) / (b[2] - a[2])
            out.append(a + f * (b - a))
    return np.array(out).reshape(-1, 3)


# a landmark whose normal is this close to vertical lies flat: paint on the road
FLAT_NORMAL_Z = 0.9


def facing_normals(lmap: LandmarkMap) -> np.ndarray:
    """The normal :func:`faces_camera` tests each landmark with, float [N, 3]: its front normal, or straight
    up for a flat landmark (``|normal z| > FLAT_NORMAL_Z``: a road marking reads from above whichever way
    its outline runs)."""
    normals = np.array([lm.normal for lm in lmap.landmarks]).reshape(-1, 3)
    normals[np.abs(normals[:, 2]) > FLAT_NORMAL_Z] = [0.0, 0.0, 1.0]
    return normals


def faces_camera(points, normals, camera: Camera, pose: Pose) -> np.ndarray:
    """bool [N]: the camera centre is on the front side of each landmark's plane (no sign backs).

    points: float [N, 3] on the planes (a landmark's reference point), normals: float [N, 3]
    (:func:`facing_normals`), world frame, metres. The one facing test of the ground truth and the
    localization."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    normals = np.asarray(normals, np.float64).reshape(-1, 3)
    return np.einsum("ij,ij->i", normals, camera.center(pose) - points) > 0


def frame_ground_truth(
    lmap: LandmarkMap,
    camera: Camera,
    pose: Pose,
    *,
    max_range: float = 80.0,
    min_size_px: float = 4.0,
    min_side_px: float = 2.0,
    image_path: str = "",
    image_id: int = 0,
    taxonomy: Taxonomy | None = None,
) -> ImageRecord:
    """Ground truth of one frame: the landmarks the camera sees, as an :class:`ImageRecord`.

    A landmark within ``max_range`` metres that faces the camera (:func:`faces_camera`) and whose outline
    covers part of the image (box projected after near-plane clipping, clipped to the image) is:

    - a *landmark* when its reference point is visible (:meth:`Camera.project`: in front of the near plane,
      inside the image) and its box
      has ``sqrt(w * h) >= min_size_px`` and ``min(w, h) >= min_side_px``: box = that clipped box, point =
      the projected 3D point, distance = metres from the camera centre to the 3D point;
    - otherwise an *ignore region* (``ignore_boxes``): visible but not learnable, e.g. a road marking whose
      reference end has left the frame (a crosswalk filling the bottom of the image) or one a pixel tall.
      Training neither learns it nor takes it as background; evaluation does not count a detection on it.

    Occlusion by other objects is not modelled.
    """
    taxonomy = taxonomy or load_taxonomy(lmap.taxonomy_name)
    if not (math.isfinite(max_range) or max_range == math.inf) or max_range <= 0:
        raise GeometryError(f"max_range must be positive, got {max_range}")
    r, t = camera.world_to_camera(pose)
    boxes, points, classes, ids, dists = [], [], [], [], []
    ignore_boxes, ignore_classes = [], []
    if len(lmap):
        pts = np.stack([lm.point for lm in lmap.landmarks])
        proj = camera.project(pts, pose, max_range=max_range)
        facing = faces_camera(pts, facing_normals(lmap), camera, pose)  # no sign backs
        for k, lm in enumerate(lmap.landmarks):
            if not (facing[k] and proj.distance[k] <= max_range):
                continue
            poly = clip_near(lm.outline @ r.T + t, camera.near)
            if len(poly) < 3:
                continue
            px = camera.camera_to_pixels(poly)
            x0, y0 = np.clip(px.min(0), 0, [camera.width, camera.height])
            x1, y1 = np.clip(px.max(0), 0, [camera.width, camera.height])
            w, h = max(x1 - x0, 0.0), max(y1 - y0, 0.0)
            if w <= 0 or h <= 0:
                continue  # outside the image
            if not proj.visible[k] or math.sqrt(w * h) < min_size_px or min(w, h) < min_side_px:
                ignore_boxes.append([x0, y0, x1, y1])
                ignore_classes.append(taxonomy.class_id(lm.cls))
                continue
            boxes.append([x0, y0, x1, y1])
            points.append(proj.pixels[k])
            classes.append(taxonomy.class_id(lm.cls))
            ids.append(lm.id)
            dists.append(proj.distance[k])
    return ImageRecord(
        image_path=str(image_path),
        width=camera.width,
        height=camera.height,
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        points=np.array(points, np.float32).reshape(-1, 2),
        classes=np.array(classes, np.int32),
        image_id=int(image_id),
        landmark_ids=np.array(ids, np.int64),
        distances=np.array(dists, np.float32),
        ignore_boxes=np.array(ignore_boxes, np.float32).reshape(-1, 4),
        ignore_classes=np.array(ignore_classes, np.int32),
    )
