r"""Dataset command line: import GTSDB/YOLO/marking quads into COCO keypoint JSON, split it, and summarise it.

    python -m keras_lmk.data convert --from gtsdb --input /data/gtsdb-train --out gtsdb.json
    python -m keras_lmk.data convert --from yolo --input /data/y --mapping names.txt --out y.json --skip-bad
    python -m keras_lmk.data convert --from quads --input /data/road-markings/annotations.csv --out m.json
    python -m keras_lmk.data split --input gtsdb.json --val-fraction 0.2 --seed 0 \
        --out-train train.json --out-val val.json
    python -m keras_lmk.data split --source real --out-train real_train.json --out-val real_val.json
    python -m keras_lmk.data stats --input train.json

Bad input stops the command with ``FILE:LINE: problem`` (exit status 2) unless ``--skip-bad``: then the images
with problems are left out and a report of what was skipped is printed. The library functions are in
keras_lmk.data.coco, keras_lmk.data.gtsdb and keras_lmk.data.yolo; this module adds the split and the
statistics.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from keras_lmk.atomic import check_writable_dir
from keras_lmk.cli import HelpFormatter, add_input_argument, command, make_parser
from keras_lmk.data.coco import load_coco, write_coco
from keras_lmk.data.splits import split_records
from keras_lmk.data.stats import dataset_stats
from keras_lmk.data.taxonomy import Taxonomy, load_taxonomy
from keras_lmk.data.validation import DataError, LoadReport


def _convert(args, taxonomy: Taxonomy, report: LoadReport) -> int:
    check_writable_dir(Path(args.out).parent)  # before reading the whole dataset
    if args.source == "gtsdb":
        from keras_lmk.data.gtsdb import DEFAULT_MAPPING, load_gtsdb

        src = Path(args.input)
        gt = src if src.is_file() else None
        records = load_gtsdb(
            src.parent if gt else src,
            taxonomy,
            mapping=args.mapping or DEFAULT_MAPPING,
            gt_file=gt,
            skip_bad=args.skip_bad,
            report=report,
        )
    elif args.source == "quads":
        from keras_lmk.data.quads import load_quads

        records = load_quads(
            args.input,
            taxonomy,
            class_name=args.mapping or "road_marking",
            skip_bad=args.skip_bad,
            report=report,
        )
    else:
        from keras_lmk.data.yolo import load_yolo

        if not args.mapping:
            raise DataError(
                args.input, None, "convert --from yolo needs --mapping FILE (class index -> taxonomy class)"
            )
        records = load_yolo(args.input, taxonomy, args.mapping, skip_bad=args.skip_bad, report=report)
    out = write_coco(records, taxonomy, args.out, image_root=args.image_root)
    n = sum(r.num_landmarks for r in records)
    print(f"wrote {out}: {len(records)} images, {n} landmarks")
    return 0


def _split(args, taxonomy: Taxonomy, report: LoadReport) -> int:
    for out in (args.out_train, args.out_val):
        check_writable_dir(Path(out).parent)
    if args.named_source:  # the fixed splits of the built-in sources, as training makes them
        from keras_lmk.data.sources import load_source_splits
        from keras_lmk.training.config import DataConfig

        cfg = DataConfig(source=args.named_source, skip_bad=args.skip_bad)
        splits = load_source_splits(cfg, taxonomy).values()
        train, val = [r for t, _ in splits for r in t], [r for _, v in splits for r in v]
    else:
        records = load_coco(args.input, taxonomy, skip_bad=args.skip_bad, report=report)
        train, val = split_records(records, args.val_fraction, args.seed)
    write_coco(train, taxonomy, args.out_train)
    write_coco(val, taxonomy, args.out_val)
    print(f"train: {len(train)} images -> {args.out_train}; val: {len(val)} images -> {args.out_val}")
    return 0


def _stats(args, taxonomy: Taxonomy, report: LoadReport) -> int:
    records = load_coco(
        args.input, taxonomy, skip_bad=args.skip_bad, report=report, check_images=args.check_images
    )
    s = dataset_stats(records, taxonomy)
    print(
        f"{args.input}: {s['images']} images ({s['negative_images']} without landmarks), "
        f"{s['landmarks']} landmarks"
    )
    for name, n in s["per_class"].items():
        print(f"  {name:<14} {n}")
    if s["box_size_px"]:
        b = s["box_size_px"]
        print(f"  box size sqrt(w*h) px: min {b['min']:.1f}, median {b['median']:.1f}, max {b['max']:.1f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("python -m keras_lmk.data", __doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--taxonomy", default="korea", help="packaged taxonomy name or JSON file")
    common.add_argument(
        "--skip-bad", action="store_true", help="leave out images with bad labels, and report them"
    )
    sub = p.add_subparsers(dest="command", required=True)

    sub_parser = functools.partial(sub.add_parser, parents=[common], formatter_class=HelpFormatter)
    c = sub_parser("convert", help="import GTSDB, YOLO or marking quads into COCO keypoint JSON")
    c.add_argument(
        "--from", dest="source", choices=("gtsdb", "yolo", "quads"), required=True, help="dataset format"
    )
    add_input_argument(
        c, "dataset folder (GTSDB: folder with gt.txt, or gt.txt itself; quads: the annotations CSV)"
    )
    c.add_argument("--out", required=True, metavar="FILE", help="COCO JSON file to write")
    c.add_argument(
        "--mapping",
        help="class mapping: packaged name (gtsdb_to_korea) or file; for quads the taxonomy class of every "
        "marking (default road_marking)",
    )
    c.add_argument("--image-root", help="file_name relative to this folder (default: the JSON's folder)")
    c.set_defaults(run=_convert)

    s = sub_parser("split", help="deterministic train/val split by image")
    add_input_argument(s, "COCO keypoint JSON to split", old=("--in",)).add_argument(
        "--source",
        dest="named_source",
        metavar="NAME",
        help="instead of --input: the fixed splits of built-in sources, as training makes them (gtsdb, "
        "markings, lights, synthetic, real = the three real sets; join with +; real data from "
        "$KERAS_LMK_DATA or ../shared/data); training labels as training sees them (data.lights_snap off)",
    )
    s.add_argument("--val-fraction", type=float, default=0.2, help="share of the images for validation")
    s.add_argument("--seed", type=int, default=0, help="seed of the split")
    s.add_argument("--out-train", required=True, metavar="FILE", help="COCO JSON file for the training part")
    s.add_argument("--out-val", required=True, metavar="FILE", help="COCO JSON file for the validation part")
    s.set_defaults(run=_split)

    t = sub_parser("stats", help="images, landmarks per class, box sizes")
    add_input_argument(t, "COCO keypoint JSON", old=("--in",))
    t.add_argument("--check-images", action="store_true", help="decode every image and check its size")
    t.set_defaults(run=_stats)
    return p


@command
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = LoadReport()
    rc = args.run(args, load_taxonomy(args.taxonomy), report)
    if report.count:
        print(report.summary())
    return rc


if __name__ == "__main__":
    sys.exit(main())
