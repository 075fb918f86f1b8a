"""Training data sources named by ``DataConfig.source``: built-in synthetic drives, GTSDB, any COCO file.

Returns ``(train_records, val_records)``; the validation split is carved deterministically by image
(``data.val_fraction``, ``data.split_seed``) unless ``data.val_coco_json`` names a separate set.
"""

from __future__ import annotations

from pathlib import Path

from keras_lmk.records import ImageRecord
from keras_lmk.taxonomy import Taxonomy


def synthetic_records(cfg, taxonomy: Taxonomy) -> list[ImageRecord]:
    from keras_lmk.coco import load_coco
    from keras_lmk.synth import default_synthetic_set

    drive = default_synthetic_set(
        frames=cfg.synthetic_frames,
        seed=cfg.synthetic_seed,
        width=cfg.synthetic_width,
        height=cfg.synthetic_height,
    )
    return load_coco(Path(drive) / "annotations.json", taxonomy)


def gtsdb_records(cfg, taxonomy: Taxonomy) -> list[ImageRecord]:
    from keras_lmk.gtsdb import load_gtsdb

    gt_dir = Path(cfg.gtsdb_dir)
    if not (gt_dir / "gt.txt").exists():
        raise FileNotFoundError(
            f"{gt_dir / 'gt.txt'}: GTSDB not found; set data.gtsdb_dir or $KERAS_LMK_GTSDB to the folder "
            "holding gt.txt and the images"
        )
    return load_gtsdb(gt_dir, taxonomy, mapping=cfg.gtsdb_mapping, skip_bad=cfg.skip_bad)


def coco_records(json_path: str, images: str, taxonomy: Taxonomy, skip_bad: bool) -> list[ImageRecord]:
    from keras_lmk.coco import load_coco

    if not json_path:
        raise ValueError("data.source=coco needs data.coco_json (and data.coco_images if not beside it)")
    return load_coco(json_path, taxonomy, images or None, skip_bad=skip_bad)


def load_training_records(cfg, taxonomy: Taxonomy) -> tuple[list[ImageRecord], list[ImageRecord]]:
    from keras_lmk.data import split_records

    parts: list[list[ImageRecord]] = []
    if cfg.source in ("synthetic", "synthetic+gtsdb"):
        parts.append(synthetic_records(cfg, taxonomy))
    if cfg.source in ("gtsdb", "synthetic+gtsdb"):
        parts.append(gtsdb_records(cfg, taxonomy))
    if cfg.source == "coco":
        parts.append(coco_records(cfg.coco_json, cfg.coco_images, taxonomy, cfg.skip_bad))
    if cfg.val_coco_json:
        train = [r for p in parts for r in p]
        return train, coco_records(cfg.val_coco_json, "", taxonomy, cfg.skip_bad)
    train, val = [], []
    for p in parts:  # split each source on its own so both are represented in validation
        t, v = split_records(p, cfg.val_fraction, cfg.split_seed)
        train += t
        val += v
    return train, val
