"""Training data sources named by ``DataConfig.source``, their fixed validation splits and their label gaps.

``data.source`` is one name or several joined by ``+`` (``real`` = ``gtsdb+markings+lights``):

- ``synthetic``: built-in synthetic drives; validation ``val_fraction`` of the frames (seeded).
- ``gtsdb``: ``gtsdb-train`` (600 German street images); validation images 00500-00599. Not labelled:
  signal, road_marking, and auxiliary except on the images of ``data.gtsdb_plates`` (the project's own
  hand-made plate labels, keras_lmk/data/labels/README.md; default on).
- ``markings``: ``road-markings-train`` (1,100 dashcam frames, one marking quad each); validation frames
  1001-1100, training frames 1-956 (frames 957-1000 show the validation frames' street and train nothing).
  ``markings_street`` is the street-level split: the same training frames, validation 957-1100. Not
  labelled: every sign class, signal. ``data.markings_mirror`` adds a mirrored copy of every
  training frame, its point the mirrored marking's lower-right end (``keras_lmk.data.quads``).
- ``lights``: ``traffic-lights-kr-train`` (264 images = 88 photos x 3 augmented copies); validation the last
  15 % of the photos sorted by name, all copies of a photo on one side. Not labelled: every sign class,
  road_marking, except on the images checked in ``data.kr_labels`` (the project's own labels of those five
  classes, keras_lmk/data/labels/README.md; default off). ``data.lights_snap`` moves training boxes that sit
  beside the lit lamp onto it (``keras_lmk.data.lamp_snap``); validation labels are never changed.
- ``coco``: any COCO keypoint file (``data.coco_json``); validation ``val_fraction`` (seeded) or
  ``data.val_coco_json``.

The real splits are blocks, not random draws: marking frames come from continuous drives and each light photo
appears three times, so a random split would leak near-duplicates into validation. They were fixed before
any tuning and are the splits every number on real data in docs/results.md is measured on.

"Not labelled" (``ImageRecord.unlabelled``) lists the classes a source never annotates although they appear
in its images: GTSDB's images hold traffic lights and paint, the light photos hold signs. The loss does not
teach those classes as background there (see ``keras_lmk.detector.losses``). Road markings are labelled in the
marking frames, but only one per frame: that gap is known and left to the background sampling, see
docs/real_data.md.

Complete negatives (``data.ignore_regions``, docs/real_data.md): a file of a teacher's ignore regions
(``keras_lmk.data.ignore_file``, made by ``python -m keras_lmk.ignore_regions``) turns the partial labels of
the real *training* images into complete ones: each image's ``unlabelled`` is cleared, so every class is
background wherever it is not labelled, except inside the image's ignore regions (the places the teacher
thinks an unlabelled class, or an unoutlined marking, may be). Validation records are never changed.

Returns ``(train_records, val_records)``; ``data.balance`` repeats the records of smaller sources so each
source contributes about the same number of training images per epoch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from keras_lmk.data.records import ImageRecord
from keras_lmk.data.taxonomy import Taxonomy

SHARED_DATA_ENV = "KERAS_LMK_DATA"
# classes each real source does not annotate although they occur in its images
UNLABELLED = {
    "gtsdb": ("auxiliary", "signal", "road_marking"),
    "markings": ("warning", "regulatory", "indicating", "auxiliary", "signal"),
    "lights": ("warning", "regulatory", "indicating", "auxiliary", "road_marking"),
}
# classes a source labels only in part: the marking frames outline one marking each, not every one in view
PARTIAL = {"markings": ("road_marking",)}
# the camera car's own hood in every marking frame (a fixed mount), a polygon of (x, y) fractions of the
# 800x600 frame drawn a few px inside the hood's outline (checked by eye on frames 600, 957 and 1050): never
# a landmark, so a teacher's regions there are dropped and it trains as background (teacher_regions.py)
VEHICLE_MASKS = {
    "markings": (
        (0.0, 0.7867),
        (0.15, 0.745),
        (0.25, 0.7233),
        (0.5875, 0.7233),
        (0.7, 0.7967),
        (0.8, 0.87),
        (1.0, 0.89),
        (1.0, 1.0),
        (0.0, 1.0),
    )
}
ALIASES = {"real": ("gtsdb", "markings", "lights")}
LABELS_DIR = Path(__file__).resolve().parent / "labels"  # the project's own annotation files
LIGHTS_VAL_FRACTION = 0.15
# the marking frames' validation block, and the first frame of its street (a scene cut: frames 957-1100 show
# one street, approached, then waited at); frames 957-1000 train nothing, so no training frame shows it
MARKINGS_VAL_START, MARKINGS_STREET_START = 1001, 957


def shared_data_dir() -> Path:
    """Where the real data sets live: ``$KERAS_LMK_DATA``, else the first ``shared/data`` found beside the
    working directory or beside this checkout (``../shared/data`` of a clone)."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV])
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *Path.cwd().parents, *here.parents):
        cand = base / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "data"


def source_dir(configured: str, default_name: str) -> Path:
    return Path(configured) if configured else shared_data_dir() / default_name


def parse_sources(source: str) -> list[str]:
    """``"real+synthetic"`` -> ``["gtsdb", "markings", "lights", "synthetic"]`` (known names, no repeats)."""
    names: list[str] = []
    for part in source.split("+"):
        for n in ALIASES.get(part.strip(), (part.strip(),)):
            if n not in LOADERS:
                raise ValueError(
                    f"unknown data source {n!r} in {source!r}; known: {', '.join([*LOADERS, *ALIASES])}"
                )
            if n not in names:
                names.append(n)
    return names


def _with_unlabelled(records: list[ImageRecord], names, taxonomy: Taxonomy) -> list[ImageRecord]:
    ids = tuple(taxonomy.class_id(n) for n in names if n in taxonomy.names[1:])
    return [r.with_unlabelled(ids) for r in records]


def _missing(path: Path, what: str, key: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path}: {what} not found; set data.{key} (or ${SHARED_DATA_ENV} to the folder holding the shared "
        "data sets)"
    )


# ----------------------------------------------------------------------------------------------- loaders
# each returns (train, val)


def synthetic_split(cfg, taxonomy: Taxonomy):
    from keras_lmk.data.coco import load_coco
    from keras_lmk.data.splits import split_records
    from keras_lmk.synth.drive import default_synthetic_set

    drive = default_synthetic_set(
        frames=cfg.synthetic_frames,
        seed=cfg.synthetic_seed,
        width=cfg.synthetic_width,
        height=cfg.synthetic_height,
    )
    return split_records(
        load_coco(Path(drive) / "annotations.json", taxonomy), cfg.val_fraction, cfg.split_seed
    )


def number_of(path: str) -> int:
    """The last number in a file's stem (``00512.jpg`` -> 512, ``roadmark_1001.jpg`` -> 1001); -1 if none."""
    digits = re.findall(r"\d+", Path(path).stem)
    return int(digits[-1]) if digits else -1


def gtsdb_split(cfg, taxonomy: Taxonomy):
    from keras_lmk.data.gtsdb import load_gtsdb

    gt_dir = source_dir(cfg.gtsdb_dir, "gtsdb-train")
    if not (gt_dir / "gt.txt").exists():
        raise _missing(gt_dir / "gt.txt", "GTSDB", "gtsdb_dir")
    records = load_gtsdb(gt_dir, taxonomy, mapping=cfg.gtsdb_mapping, skip_bad=cfg.skip_bad)
    records = _with_unlabelled(records, UNLABELLED["gtsdb"], taxonomy)
    if cfg.gtsdb_plates and "auxiliary" in taxonomy.names:  # the project's own plate labels
        from keras_lmk.data.added_labels import read_added_labels, with_added_labels

        path = labels_file_path(cfg.gtsdb_plates)
        plates = read_added_labels(path)
        records = with_added_labels(records, plates, taxonomy.class_id("auxiliary"), taxonomy, str(path))
    val = [r for r in records if 500 <= number_of(r.image_path) <= 599]
    return [r for r in records if not 500 <= number_of(r.image_path) <= 599], val


def markings_split(cfg, taxonomy: Taxonomy, val_from: int = MARKINGS_VAL_START):
    from keras_lmk.data.quads import load_quads

    csv = source_dir(cfg.markings_dir, "road-markings-train") / "annotations.csv"
    if not csv.exists():
        raise _missing(csv, "road-marking annotations", "markings_dir")
    records = _with_unlabelled(
        load_quads(csv, taxonomy, skip_bad=cfg.skip_bad), UNLABELLED["markings"], taxonomy
    )
    val = [r for r in records if number_of(r.image_path) >= val_from]
    train = [r for r in records if number_of(r.image_path) < MARKINGS_STREET_START]
    if cfg.markings_mirror:  # mirrored copies of the training frames, their points by the rule (quads.py)
        from keras_lmk.synth.drive import cache_root

        mirrored = load_quads(
            csv, taxonomy, skip_bad=cfg.skip_bad, mirror_dir=cache_root() / "mirrored" / "road-markings"
        )
        mirrored = [
            dataclasses.replace(r, image_id=len(records) + r.image_id)
            for r in mirrored
            if number_of(r.image_path) < MARKINGS_STREET_START
        ]
        train += _with_unlabelled(mirrored, UNLABELLED["markings"], taxonomy)
    return train, val


def markings_street_split(cfg, taxonomy: Taxonomy):
    """The marking frames' street-level split: the same training frames, validation the whole street of the
    last frames (957-1100), none of which any training frame shows."""
    return markings_split(cfg, taxonomy, val_from=MARKINGS_STREET_START)


def photo_of(path: str) -> str:
    """Source photo of a Roboflow export file: ``X_jpg.rf.<hash>.jpg`` -> ``X`` (all augmented copies)."""
    return re.sub(r"_(jpe?g|png)\.rf\.[0-9a-f]+$", "", Path(path).stem)


def lights_split(cfg, taxonomy: Taxonomy):
    from keras_lmk.data.yolo import load_yolo

    folder = source_dir(cfg.lights_dir, "traffic-lights-kr-train")
    if not (folder / "labels").is_dir():
        raise _missing(folder / "labels", "traffic-light labels", "lights_dir")
    records = load_yolo(folder, taxonomy, cfg.lights_mapping, skip_bad=cfg.skip_bad)
    records = _with_unlabelled(records, UNLABELLED["lights"], taxonomy)
    photos = sorted({photo_of(r.image_path) for r in records})
    val_photos = set(photos[len(photos) - math.ceil(LIGHTS_VAL_FRACTION * len(photos)) :])
    val = [r for r in records if photo_of(r.image_path) in val_photos]
    train = [r for r in records if photo_of(r.image_path) not in val_photos]
    if cfg.lights_snap:
        from keras_lmk.data.lamp_snap import snap_record

        train = [snap_record(r) for r in train]
    if cfg.kr_labels:  # after the snap, which moves every box of a record: it is for lights only
        from keras_lmk.data.landmark_labels import read_landmark_labels, with_landmark_labels

        path = labels_file_path(cfg.kr_labels)
        table = read_landmark_labels(path, taxonomy, UNLABELLED["lights"])
        train, val = with_landmark_labels(train, table), with_landmark_labels(val, table)
    return train, val


def coco_split(cfg, taxonomy: Taxonomy):
    from keras_lmk.data.coco import load_coco
    from keras_lmk.data.splits import split_records

    if not cfg.coco_json:
        raise ValueError("data.source=coco needs data.coco_json (and data.coco_images if not beside it)")
    records = load_coco(cfg.coco_json, taxonomy, cfg.coco_images or None, skip_bad=cfg.skip_bad)
    return split_records(records, cfg.val_fraction, cfg.split_seed)


LOADERS: dict[str, Callable] = {
    "synthetic": synthetic_split,
    "gtsdb": gtsdb_split,
    "markings": markings_split,
    "markings_street": markings_street_split,
    "lights": lights_split,
    "coco": coco_split,
}


def balance_sources(parts: list[list[ImageRecord]], seed: int = 0) -> list[ImageRecord]:
    """Repeat the records of smaller sources so each contributes about as many images as the largest.

    A source of n images next to a largest one of N is taken ``N // n`` times whole plus a seeded random
    ``N % n`` of its images, so no image is drawn more often than any other by more than one.
    """
    parts = [p for p in parts if p]
    if not parts:
        return []
    target = max(len(p) for p in parts)
    rng = np.random.default_rng(seed)
    out: list[ImageRecord] = []
    for p in parts:
        reps, rest = divmod(target, len(p))
        out += p * reps + [p[i] for i in sorted(rng.choice(len(p), size=rest, replace=False))]
    return out


def ignore_classes(source: str) -> tuple[str, ...]:
    """Class names whose unlabelled instances a teacher's ignore regions stand for in ``source``."""
    return UNLABELLED.get(source, ()) + PARTIAL.get(source, ())


def labels_file_path(configured: str) -> Path:
    """A labels file setting (``data.ignore_regions``, ``data.gtsdb_plates``, ``data.kr_labels``): a path, or
    a bare file name of the project's own labels folder."""
    p = Path(configured)
    return p if p.is_absolute() or p.exists() or len(p.parts) > 1 else LABELS_DIR / p


def load_source_splits(cfg, taxonomy: Taxonomy) -> dict[str, tuple[list[ImageRecord], list[ImageRecord]]]:
    """{source name: (train, val)} for every source of ``cfg.source``, in that order; with
    ``data.ignore_regions`` the real sources' training records made complete (see the module doc)."""
    splits = {name: LOADERS[name](cfg, taxonomy) for name in parse_sources(cfg.source)}
    if cfg.ignore_regions:
        path = labels_file_path(cfg.ignore_regions)
        from keras_lmk.data.ignore_file import made_complete, read_ignore_file

        table = read_ignore_file(path)
        for name, (train, val) in splits.items():
            if name in UNLABELLED:
                splits[name] = (made_complete(train, name, table, path), val)
    return splits


def load_training_records(cfg, taxonomy: Taxonomy) -> tuple[list[ImageRecord], list[ImageRecord]]:
    from keras_lmk.data.coco import load_coco

    splits = load_source_splits(cfg, taxonomy)
    trains = [t for t, _ in splits.values()]
    train = balance_sources(trains, cfg.split_seed) if cfg.balance and len(trains) > 1 else sum(trains, [])
    if cfg.val_coco_json:
        return train, load_coco(cfg.val_coco_json, taxonomy, skip_bad=cfg.skip_bad)
    return train, [r for _, v in splits.values() for r in v]
