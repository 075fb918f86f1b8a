"""Road-marking quad importer: one outlined marking per line of a CSV -> ImageRecords.

The format of the Road Marking Detection dataset (Wu and Ranganathan, IV 2012), no header, one line per
outlined marking::

    x1,x2,x3,x4,y1,y2,y3,y4,label,file

the four x coordinates, then the four y coordinates of the quad's vertices (pixels), the marking type
(``leftturn``, ``stop``, ...) and the image file name, relative to the CSV's folder. The dataset names its
images ``.png`` while re-hosted copies hold ``.jpg`` files of the same stem: when the named file is missing,
an image with the same stem and another image suffix is used.

Every marking type becomes one taxonomy class (``road_marking`` by default). Its reference point comes from
the quad with the class's point rule (:func:`keras_lmk.data.taxonomy.outline_point`): for ``road_marking`` the
lower-right end, i.e. of the two lowest vertices the right one. The box is the quad's bounding box. Several
lines may name the same image (several markings); the image's records are merged.

Mirrored copies (``mirror_dir``): a horizontally mirrored marking frame is a new training image (a left-turn
arrow becomes a right-turn one) only if its point is the *mirrored* marking's lower-right end, which is the
mirror of the original's lower-left vertex, not of its lower-right one. The training pipeline's flip carries
boxes, not outlines, so it cannot know that point; here the outline is known: each image is mirrored once
into ``mirror_dir`` and each quad is mirrored (x -> width - x, pixel i covering [i, i+1)) before the class's
point rule picks the point.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import cv2
import numpy as np

from keras_lmk.atomic import atomic_write_bytes
from keras_lmk.data.frames import read_image_rgb
from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy, outline_point
from keras_lmk.data.validation import (
    DataError,
    LoadReport,
    check_box,
    check_point,
    image_size,
    parse_number,
    read_text,
    resolve_image,
)


def _parse_line(fields: list[str], csv_path: Path, lineno: int):
    if len(fields) != 10:
        raise DataError(
            csv_path,
            lineno,
            f"malformed line: {len(fields)} fields (want x1,x2,x3,x4,y1,y2,y3,y4,label,file)",
        )
    names = ["x1", "x2", "x3", "x4", "y1", "y2", "y3", "y4"]
    v = [parse_number(f, csv_path, lineno, n) for f, n in zip(fields[:8], names, strict=True)]
    label, name = fields[8].strip(), fields[9].strip()
    if not label or not name:
        raise DataError(csv_path, lineno, "empty marking label or file name")
    return np.array(v[:4]), np.array(v[4:]), label, name


def load_quads(
    csv_path: str | Path,
    taxonomy: Taxonomy,
    *,
    class_name: str = "road_marking",
    images_dir: str | Path | None = None,
    skip_bad: bool = False,
    report: LoadReport | None = None,
    mirror_dir: str | Path | None = None,
) -> list[ImageRecord]:
    """Import a marking-quad CSV. Records are sorted by image path; image_id = 1..N in that order.

    Problems raise ``DataError("annotations.csv:LINE: problem")`` (a bad number, a degenerate quad, a vertex
    outside the image, a missing image); with ``skip_bad`` the image is left out and counted in ``report``.
    ``mirror_dir``: the records describe horizontally mirrored copies of the images, written there once
    (see the module docstring).
    """
    csv_path = Path(csv_path)
    folder = Path(images_dir) if images_dir is not None else csv_path.parent
    report = report if report is not None else LoadReport()
    if class_name not in taxonomy.names[1:]:
        raise DataError(csv_path, None, f"class {class_name!r} is not in taxonomy {taxonomy.name!r}")
    cid = taxonomy.class_id(class_name)
    rule = taxonomy.rule_of(cid)
    per_image: dict[Path, list] = {}
    bad: set[Path] = set()
    sizes: dict[Path, tuple[int, int]] = {}
    for lineno, fields in enumerate(csv.reader(io.StringIO(read_text(csv_path))), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        image = None
        try:
            xs, ys, _label, name = _parse_line(fields, csv_path, lineno)
            image = resolve_image(folder, name)
            if image is None:
                raise DataError(csv_path, lineno, f"image {name!r} not found in {folder}")
            if image not in sizes:
                sizes[image] = image_size(image)
            w, h = sizes[image]
            if mirror_dir is not None:
                xs = w - xs
            box = check_box([xs.min(), ys.min(), xs.max(), ys.max()], w, h, csv_path, lineno)
            point = check_point(outline_point(xs, ys, rule), w, h, csv_path, lineno)
        except DataError as e:
            if not skip_bad:
                raise
            report.add(e, str(image or fields[-1]))
            if image is not None:
                bad.add(image)
            continue
        per_image.setdefault(image, []).append((box, point))
    records = []
    for image in sorted(per_image):
        if image in bad:
            continue
        w, h = sizes[image]
        boxes = np.array([b for b, _ in per_image[image]], np.float32)
        points = np.array([p for _, p in per_image[image]], np.float32)
        classes = np.full((len(boxes),), cid, np.int32)
        path = os.path.abspath(image) if mirror_dir is None else str(mirrored_image(image, mirror_dir))
        records.append(ImageRecord(path, w, h, boxes, points, classes, image_id=len(records) + 1))
    return records


def mirrored_image(image: Path, out_dir: str | Path) -> Path:
    """``image`` mirrored left-right in ``out_dir`` (same suffix; JPEG at quality 95), written once: an
    existing copy newer than the image is reused. The name carries a hash of the source path (two folders may
    hold equal file names) and ends in the image's own stem."""
    image = Path(image).resolve()
    tag = hashlib.sha1(str(image).encode()).hexdigest()[:10]
    # the stem last, so the frame number stays the name's last number (sources.number_of)
    out = Path(out_dir) / f"mirrored_{tag}_{image.stem}{image.suffix.lower()}"
    if out.exists() and out.stat().st_mtime >= image.stat().st_mtime:
        return out
    rgb = read_image_rgb(image)  # None for a truncated JPEG too (OpenCV alone would half-grey it)
    if rgb is None:
        raise DataError(image, None, "cannot read the image to mirror it (missing, corrupt or truncated)")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if out.suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(out.suffix, cv2.cvtColor(rgb[:, ::-1], cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DataError(out, None, "cannot encode the mirrored image")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data.tobytes())
    return out
