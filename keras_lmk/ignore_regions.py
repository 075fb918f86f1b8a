"""Write a teacher model's ignore regions for the real sources' training images (complete negatives).

    python -m keras_lmk.ignore_regions --model android_demo_assets/model_int8.tflite \
        --out keras_lmk/data/labels/ignore_regions_real_v20.json
    python -m keras_lmk.train --preset real --set data.ignore_regions=ignore_regions_real_v20.json

For each training image of gtsdb, markings and lights, the cells where the teacher gives a class that image
does not label (or, for the marking frames, labels only once per frame) a probability >= --threshold become
ignore regions, except on the camera car's hood (sources.VEHICLE_MASKS); training with
``data.ignore_regions`` then teaches every class as background everywhere else (keras_lmk/data/sources.py,
docs/real_data.md "Complete negatives"). Validation images are not touched.
"""

from __future__ import annotations

import sys

from keras_lmk.cli import command, make_parser, positive_int


def parse_args(argv=None):
    p = make_parser("python -m keras_lmk.ignore_regions", __doc__)
    p.add_argument("--model", required=True, help="teacher: .tflite or .keras (model card beside it)")
    p.add_argument("--out", required=True, help="ignore-region JSON to write")
    p.add_argument("--threshold", type=float, default=0.5, help="cell probability of an unlabelled class")
    p.add_argument("--sources", nargs="+", default=["gtsdb", "markings", "lights"], help="real sources")
    p.add_argument("--threads", type=positive_int, default=2, help="TFLite interpreter threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not 0 < args.threshold <= 1:
        p.error(f"--threshold must be in (0, 1], got {args.threshold}")
    return args


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from keras_lmk.data.ignore_file import write_ignore_file
    from keras_lmk.data.sources import LOADERS, PARTIAL, UNLABELLED, VEHICLE_MASKS, ignore_classes
    from keras_lmk.inference.runtime import open_runner
    from keras_lmk.inference.teacher_regions import teacher_ignore_regions
    from keras_lmk.training.config import DataConfig

    unknown = [s for s in args.sources if s not in UNLABELLED]
    if unknown:
        raise ValueError(f"--sources: {unknown} are not partially labelled real sources ({list(UNLABELLED)})")
    runner = open_runner(args.model, num_threads=args.threads)
    train = {s: LOADERS[s](DataConfig(), runner.taxonomy)[0] for s in args.sources}
    table = teacher_ignore_regions(
        runner,
        train,
        lambda source: PARTIAL.get(source, ()),
        args.threshold,
        vehicle_masks=VEHICLE_MASKS,
        progress=None if args.no_progress else tqdm,
    )
    classes = {s: list(ignore_classes(s)) for s in args.sources}
    write_ignore_file(args.out, table, teacher=str(args.model), threshold=args.threshold, classes=classes)
    n = sum(len(b) for b in table.values())
    print(f"{len(table)} images, {n} ignore regions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
