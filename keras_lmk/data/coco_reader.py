"""Read a COCO keypoint file without holding it: a streaming parse, validated up front, compact in memory.

``json.load`` of a 20,000-frame drive's annotations builds ~125 MB of Python dicts for a 26 MB file; this
reader keeps about 45 bytes per landmark and 60 per image instead, so evaluating a long drive needs nearly
the same memory as a short one. It uses ijson (a maintained streaming parser with a C backend) rather than
a hand-written tokenizer.

Three passes over the file, all before the first record is handed out, so every problem is found before any
work starts:

1. structure (top level must be an object; ``images``, ``annotations`` and ``categories`` lists),
   categories, and the image entries (id, file name, size, duplicate ids, missing files);
2. annotations, each validated against its image's size and stored as one row of compact columns;
3. (on iteration) one :class:`ImageRecord` per image, in the file's image order.

Errors are the same ``DataError`` messages in the same order as a whole-file parse would give: the first bad
image in file order (its own entry, else its first bad annotation), then orphan annotations. With
``skip_bad`` the bad images are left out and reported instead.
"""

from __future__ import annotations

import array
import json
import os
from collections.abc import Iterator
from pathlib import Path

import ijson
import numpy as np

from keras_lmk.data.coco_annotations import category_map, is_ignore_region, parse_annotation
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.data.validation import DataError, LoadReport, image_size

_TOP_LISTS = ("images", "annotations", "categories")


class _NotStrictJSON(Exception):
    """The streaming parser refused the file but Python's json reads it (NaN / Infinity literals)."""


def _json_error(path: Path, src: str, err: Exception) -> Exception:
    """The precise message for a file the streaming parser rejected (json gives the line number)."""
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        return DataError(src, None, f"not UTF-8 text (byte {e.start})")
    except json.JSONDecodeError as e:
        return DataError(src, e.lineno, f"invalid JSON: {e.msg}")
    return _NotStrictJSON(str(err))


def _object_events(obj):
    """ijson-style (prefix, event, value) events of an already parsed object (prefixes left empty)."""
    if isinstance(obj, dict):
        yield "", "start_map", None
        for k, v in obj.items():
            yield "", "map_key", k
            yield from _object_events(v)
        yield "", "end_map", None
    elif isinstance(obj, list):
        yield "", "start_array", None
        for v in obj:
            yield from _object_events(v)
        yield "", "end_array", None
    else:
        kind = {type(None): "null", bool: "boolean", str: "string"}.get(type(obj), "number")
        yield "", kind, obj


class CocoReader:
    """A validated COCO keypoint file, iterated one :class:`ImageRecord` at a time (``len()`` works).

    image_path = abspath(image_dir or the JSON's folder, file_name); the file must exist. ``check_images``
    also decodes every image and checks its size against width/height (slow). Annotations without a visible
    keypoint get their class rule's reference point.

    ``video_size=(w, h)``: the images are frames of one video of that size, not files. Each image entry is
    the frame ``frame_index`` (0-based) when it has that field, else the frame at its position in the
    ``images`` list; records then come in frame order (:meth:`frame_indices`), file names are not checked,
    and a missing width/height means the video's.
    """

    def __init__(
        self,
        json_path: str | Path,
        taxonomy: Taxonomy,
        image_dir: str | Path | None = None,
        *,
        skip_bad: bool = False,
        check_images: bool = False,
        report: LoadReport | None = None,
        video_size: tuple[int, int] | None = None,
    ):
        self.path = Path(json_path)
        self.video_size = video_size
        self.check_images = check_images
        self.src = str(self.path)
        self.taxonomy = taxonomy
        self.root = Path(os.path.abspath(image_dir if image_dir is not None else self.path.parent))
        self.skip_bad = skip_bad
        self.report = report if report is not None else LoadReport()
        self._whole = None  # the parsed file, only for files that need Python's lenient json
        try:
            self._scan()
        except _NotStrictJSON:
            self._whole = json.loads(self.path.read_bytes().decode("utf-8"))
            self._scan()
        self._raise_or_report()

    def _scan(self) -> None:
        self._bad: dict[int, tuple[DataError, str | None]] = {}  # image index -> first problem
        self._unlabelled_raw: dict[int, object] = {}  # image index -> its unlabelled_category_ids as written
        categories = self._scan_images()
        cats = category_map(categories, self.taxonomy, self.src)
        self._unlabelled = self._map_unlabelled(cats)
        self._scan_annotations(cats)

    def _map_unlabelled(self, cats: dict[int, int]) -> dict[int, tuple[int, ...]]:
        """image index -> taxonomy ids of its ``unlabelled_category_ids``; a malformed list or an unknown
        category id puts the image out (DataError)."""
        out = {}
        for index, raw in self._unlabelled_raw.items():
            where = f"image {int(self._ids[index])}"
            try:
                ids = [int(c) for c in raw]
                out[index] = tuple(sorted({cats[c] for c in ids}))
            except (KeyError, TypeError, ValueError, OverflowError):
                msg = f"unlabelled_category_ids {raw!r}: not a list of this file's category ids"
                self._bad.setdefault(index, (DataError(self.src, where, msg), None))
        return out

    # --- pass 1: structure, categories, images ----------------------------------------------------------
    def _events(self, prefix: str | None = None):
        """ijson events (or the items under ``prefix``) of the file; parser errors become DataError."""
        if self._whole is not None:
            if prefix is None:
                yield from _object_events(self._whole)
            else:
                yield from self._whole.get(prefix.split(".")[0]) or []
            return
        try:
            with open(self.path, "rb") as f:
                if prefix is None:
                    yield from ijson.parse(f, use_float=True)
                else:
                    yield from ijson.items(f, prefix, use_float=True)
        except OSError as e:
            raise DataError(self.src, None, f"cannot read ({e.strerror or e})") from None
        except (ijson.JSONError, UnicodeDecodeError) as e:
            raise _json_error(self.path, self.src, e) from None

    def _scan_images(self):
        """Check the layout, keep the categories and a compact table of the images; returns the categories."""
        first, depth, key = None, 0, None
        kinds: dict[str, str] = {}  # top-level key -> the event its value starts with
        categories: list | None = None
        ids, sizes, frames = array.array("q"), array.array("i"), array.array("q")
        names, name_ends = bytearray(), array.array("q")
        seen: set[int] = set()
        seen_frames: set[int] = set()
        builder = None

        def take(item):
            if key == "categories":
                categories.append(item)
                return
            index = len(ids)
            image_id, name, w, h = self._image_entry(item, index, seen)
            if isinstance(item, dict) and item.get("unlabelled_category_ids") is not None:
                self._unlabelled_raw[index] = item["unlabelled_category_ids"]
            if self.video_size is not None:
                frames.append(self._frame_index(item, index, image_id, seen_frames))
            ids.append(image_id)
            sizes.extend((w, h))
            names.extend(name.encode("utf-8", "surrogatepass"))
            name_ends.append(len(names))

        for _, event, value in self._events():
            if builder is not None:  # inside one item of images / categories
                builder.event(event, value)
                if not builder.containers:
                    take(builder.value)
                    builder = None
                continue
            if first is None:
                first = event
            if depth == 2 and key in ("images", "categories") and kinds[key] == "start_array":
                if event != "end_array":
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                    if not builder.containers:  # a scalar item
                        take(builder.value)
                        builder = None
                    continue
            if depth == 1 and event == "map_key":
                key = value
            elif depth == 1 and key in _TOP_LISTS and key not in kinds:
                kinds[key] = event
                if key == "categories" and event == "start_array":
                    categories = []
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
        if first != "start_map" or kinds.get("images") != "start_array":
            raise DataError(self.src, None, "not a COCO file: missing 'images' list")
        if kinds.get("annotations", "start_array") != "start_array":
            raise DataError(self.src, None, "'annotations' must be a list")
        self._ids = np.frombuffer(ids, np.int64).copy()
        self._sizes = np.frombuffer(sizes, np.int32).reshape(-1, 2).copy()
        self._names, self._name_ends = bytes(names), np.frombuffer(name_ends, np.int64).copy()
        self._frames = np.frombuffer(frames, np.int64).copy() if self.video_size is not None else None
        return categories

    def _frame_index(self, im, index: int, image_id: int, seen_frames: set[int]) -> int:
        """Video mode: the frame an image entry stands for (``frame_index``, else its list position)."""
        frame = im.get("frame_index", index) if isinstance(im, dict) else index
        if isinstance(frame, float) and frame.is_integer():
            frame = int(frame)
        where = f"image {image_id}" if image_id >= 0 else f"image #{index}"
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            self._bad.setdefault(index, (DataError(self.src, where, f"bad frame_index {frame!r}"), None))
            return -1
        if frame in seen_frames:
            self._bad.setdefault(index, (DataError(self.src, where, f"frame {frame} is listed twice"), None))
            return -1
        seen_frames.add(frame)
        return frame

    def _image_entry(self, im, index: int, seen: set[int]) -> tuple[int, str, int, int]:
        """(id, file name, width, height) of one image entry; a problem is recorded against ``index``."""
        malformed = DataError(self.src, f"image #{index}", f"malformed image entry {im!r}")
        try:
            image_id = int(im["id"])
        except (KeyError, TypeError, ValueError, OverflowError):
            self._bad[index] = (malformed, None)
            return -1, "", 0, 0
        where = f"image {image_id}"
        if image_id in seen:
            self._bad[index] = (DataError(self.src, where, "duplicate image id"), None)
            return -1, "", 0, 0
        seen.add(image_id)
        try:
            name = str(im["file_name"] if self.video_size is None else im.get("file_name", ""))
            w, h = int(im.get("width", 0)), int(im.get("height", 0))
        except (KeyError, TypeError, ValueError, OverflowError):
            self._bad[index] = (malformed, None)  # its id stays known: its annotations are not orphans
            return image_id, "", 0, 0
        if self.video_size is not None:
            vw, vh = self.video_size
            if (w > 0 and h > 0) and (w, h) != (vw, vh):
                msg = f"JSON says {w}x{h}, the video is {vw}x{vh}"
                self._bad[index] = (DataError(self.src, where, msg), None)
            return image_id, name, vw, vh
        path = self.root / name
        try:
            if self.check_images or w <= 0 or h <= 0:
                fw, fh = image_size(path, decode=self.check_images)
                if (w > 0 and h > 0) and (fw, fh) != (w, h):
                    raise DataError(self.src, where, f"{path}: file is {fw}x{fh}, JSON says {w}x{h}")
                w, h = fw, fh
            elif not path.is_file():
                raise DataError(self.src, where, f"image file not found: {path}")
        except DataError as e:
            self._bad[index] = (e, str(path))
        return image_id, name, w, h

    # --- pass 2: annotations -------------------------------------------------------------------------------
    def _scan_annotations(self, cats: dict[int, int]) -> None:
        """Validate every annotation against its image; keep the good ones as compact columns."""
        # image id -> index (a duplicate id's first entry owns it: later ones are stored as id -1)
        order = np.flatnonzero(self._ids >= 0)
        order = order[np.argsort(self._ids[order], kind="stable")]
        sorted_ids = self._ids[order]
        cols = {k: array.array(t) for k, t in (("image", "q"), ("box", "f"), ("point", "f"), ("cls", "h"))}
        cols.update(has_point=array.array("b"), lid=array.array("q"), dist=array.array("f"))
        cols.update(crowd=array.array("b"))
        orphans: set[str] = set()
        for a in self._events("annotations.item"):
            key = a.get("image_id") if isinstance(a, dict) else None
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            try:
                j = int(np.searchsorted(sorted_ids, key)) if isinstance(key, int) else len(sorted_ids)
            except (TypeError, OverflowError):
                j = len(sorted_ids)
            if j >= len(sorted_ids) or sorted_ids[j] != key:
                orphans.add(str(key) if not isinstance(key, list | dict) else repr(key))
                continue
            index = int(order[j])
            if index in self._bad:  # the image is already out (bad entry, missing file or earlier annotation)
                continue
            w, h = (int(v) for v in self._sizes[index])
            try:
                box, point, cls, lid, dist = parse_annotation(a, cats, w, h, self.src)
            except DataError as e:
                self._bad[index] = (e, str(self.root / self._name(index)))
                continue
            cols["image"].append(index)
            cols["box"].extend(box.astype(np.float32).tolist())
            cols["has_point"].append(point is not None)
            cols["crowd"].append(is_ignore_region(a))
            cols["point"].extend([0.0, 0.0] if point is None else np.asarray(point, np.float32).tolist())
            cols["cls"].append(cls)
            cols["lid"].append(lid)
            cols["dist"].append(dist)
        if orphans:
            shown = sorted(orphans)[:5]
            self._orphans = DataError(self.src, None, f"annotations refer to unknown image ids {shown}")
        else:
            self._orphans = None
        image = np.frombuffer(cols["image"], np.int64)
        keep = ~np.isin(image, list(self._bad))  # annotations of images that went bad later
        order = np.argsort(image[keep], kind="stable")

        def col(name, dtype, width=1):
            return np.frombuffer(cols[name], dtype).reshape(-1, width)[keep][order]

        self._ann_image = image[keep][order]
        self._ann_box, self._ann_point = col("box", np.float32, 4), col("point", np.float32, 2)
        self._ann_has_point = col("has_point", np.int8).reshape(-1).astype(bool)
        self._ann_crowd = col("crowd", np.int8).reshape(-1).astype(bool)
        self._ann_cls, self._ann_lid = col("cls", np.int16).reshape(-1), col("lid", np.int64).reshape(-1)
        self._ann_dist = col("dist", np.float32).reshape(-1)
        self._kept = np.array([i not in self._bad for i in range(len(self._ids))], bool)

    def _raise_or_report(self) -> None:
        problems = [self._bad[i] for i in sorted(self._bad)]
        if self._orphans is not None:
            problems.append((self._orphans, None))
        for e, image in problems:
            if not self.skip_bad:
                raise e
            self.report.add(e, image)

    # --- pass 3: records ----------------------------------------------------------------------------------
    def _name(self, index: int) -> str:
        start = int(self._name_ends[index - 1]) if index else 0
        return self._names[start : int(self._name_ends[index])].decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return int(self._kept.sum())

    def _order(self) -> np.ndarray:
        """Image indices in iteration order: the file's order, or frame order for a video."""
        kept = np.flatnonzero(self._kept)
        if self._frames is None:
            return kept
        return kept[np.argsort(self._frames[kept], kind="stable")]

    def frame_indices(self) -> np.ndarray:
        """Video mode: int64 [len(self)] the frame index of each record, in iteration order."""
        if self._frames is None:
            raise ValueError(f"{self.src}: not read as a video's ground truth (no video_size)")
        return self._frames[self._order()]

    def __iter__(self) -> Iterator[ImageRecord]:
        starts = np.searchsorted(self._ann_image, np.arange(len(self._ids) + 1))
        for index in self._order():
            a, b = int(starts[index]), int(starts[index + 1])
            crowd = self._ann_crowd[a:b]
            keep = ~crowd
            boxes, classes = self._ann_box[a:b][keep], self._ann_cls[a:b][keep].astype(np.int32)
            points = (
                self.taxonomy.reference_points(boxes, classes) if len(boxes) else np.zeros((0, 2), np.float32)
            )
            has = self._ann_has_point[a:b][keep]
            points[has] = self._ann_point[a:b][keep][has]
            w, h = (int(v) for v in self._sizes[index])
            yield ImageRecord(
                image_path=str(self.root / self._name(index)),
                width=w,
                height=h,
                boxes=boxes,
                points=points,
                classes=classes,
                image_id=int(self._ids[index]),
                landmark_ids=self._ann_lid[a:b][keep],
                distances=self._ann_dist[a:b][keep],
                ignore_boxes=self._ann_box[a:b][crowd],
                ignore_classes=self._ann_cls[a:b][crowd].astype(np.int32),
                unlabelled=self._unlabelled.get(index, ()),
            )
