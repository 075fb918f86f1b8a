"""How many traffic-light labels sit beside the lit lamp, and where `data.lights_snap` moves them.

    python benchmarks/diagnostics/light_label_audit.py  # prints counts, writes the figure
    python benchmarks/diagnostics/light_label_audit.py --figure docs/img/lights_label_offsets.jpg --split val

For the training and the validation split of `traffic-lights-kr-train` (keras_lmk/data/sources.py) it runs
`keras_lmk.data.lamp_snap.snap_record` on every image and prints the boxes moved and their median shift
(original pixels). The figure tiles 80 x 80 px crops around the moved boxes of one split, enlarged 3x: the
published box in green, the snapped one in magenta. A diagnostic of the data, not a bar.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CROP, ZOOM, COLUMNS = 80, 3, 6


def _tile(image_path: str, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    import cv2

    bgr = cv2.imread(image_path)
    cx, cy = int((old[0] + old[2]) / 2), int((old[1] + old[3]) / 2)
    half = CROP // 2
    pad = cv2.copyMakeBorder(bgr, half, half, half, half, cv2.BORDER_CONSTANT)
    size = (CROP * ZOOM, CROP * ZOOM)
    crop = cv2.resize(pad[cy : cy + CROP, cx : cx + CROP], size, interpolation=cv2.INTER_NEAREST)

    def at(x, y):
        return int((x - cx + half) * ZOOM), int((y - cy + half) * ZOOM)

    cv2.rectangle(crop, at(*old[:2]), at(*old[2:]), (0, 255, 0), 1)
    cv2.rectangle(crop, at(*new[:2]), at(*new[2:]), (255, 0, 255), 1)
    return crop


def main(argv=None) -> int:
    import cv2

    from keras_lmk.data.lamp_snap import snap_record
    from keras_lmk.data.sources import lights_split
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.training.config import DataConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figure", default="", help="write the tiles of --split's moved boxes here (.png)")
    ap.add_argument("--split", choices=("train", "val"), default="val")
    ap.add_argument("--max-tiles", type=int, default=24)
    args = ap.parse_args(argv)

    train, val = lights_split(DataConfig(), load_taxonomy("korea"))
    tiles = []
    for name, records in (("train", train), ("val", val)):
        shifts, total = [], 0
        for rec in records:
            snapped = snap_record(rec)
            total += len(rec.boxes)
            for old, new in zip(rec.boxes, snapped.boxes, strict=True):
                if np.any(old != new):
                    shifts.append(np.abs((new[:2] + new[2:] - old[:2] - old[2:]) / 2))
                    if name == args.split and len(tiles) < args.max_tiles:
                        tiles.append(_tile(rec.image_path, old, new))
        med = np.median(shifts, axis=0) if shifts else (np.nan, np.nan)
        print(
            f"{name:5s} {len(shifts):3d} of {total} boxes moved ({100 * len(shifts) / max(total, 1):.1f} %), "
            f"median shift |dx| {med[0]:.1f} px, |dy| {med[1]:.1f} px"
        )
    if args.figure and tiles:
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % COLUMNS)
        rows = [np.hstack(tiles[k : k + COLUMNS]) for k in range(0, len(tiles), COLUMNS)]
        cv2.imwrite(args.figure, np.vstack(rows))
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
