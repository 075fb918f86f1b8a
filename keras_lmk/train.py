"""Train a landmark detector.

    python -m keras_lmk.train                                  # built-in synthetic drives, default config
    python -m keras_lmk.train --preset debug --run-dir /tmp/r  # ~40 s: wiring check
    python -m keras_lmk.train --preset synthetic+gtsdb --set train.epochs=30 --set loss.variant=eq5
    python -m keras_lmk.train --preset finetune --set data.coco_json=data/mine.json --run-dir runs/ft
    python -m keras_lmk.train --config my.yaml --run-dir runs/x --resume

Steps: 1 config, 2 data, 3 model, 4 compile, 5 fit, 6 save. The run directory gets model.keras,
checkpoints/{best,last}.keras (+ last_state.npz for --resume), config.yaml, model_card.json, val.json (the
held-out split, COCO), history.csv, trajectory.csv, loss_trajectory.png and TensorBoard logs (tb/).

Several GPUs: MirroredStrategy is used automatically (``train.distribute=auto``). Several machines: set
TF_CONFIG on every worker (see docs/training.md) and pass ``--set train.distribute=multiworker``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from keras_lmk.cli import command, make_parser, start_tensorflow
from keras_lmk.training.config import PRESETS, resolve_config, resume_config
from keras_lmk.training.run import check_resumable, check_weights_files


def parse_args(argv=None):
    p = make_parser("python -m keras_lmk.train", __doc__)
    p.add_argument("--preset", default="synthetic", choices=sorted(PRESETS), help="named config preset")
    p.add_argument("--config", help="YAML file applied on top of the preset")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="type-checked override, e.g. --set train.epochs=3 (repeatable)",
    )
    p.add_argument("--run-dir", metavar="DIR", help="output folder of the run (default: runs/<preset>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from run-dir/checkpoints/last.keras with run-dir/config.yaml (+ --config/--set)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="start over in a run dir that already holds a trained run"
    )
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir or f"runs/{args.preset}")
    saved = run_dir / "config.yaml"
    if args.resume:
        check_resumable(run_dir)  # before TensorFlow: a mistyped folder answers at once
    if args.resume and saved.is_file():  # the run's own config, not whatever preset is named now
        cfg = resume_config(saved, args.config, args.overrides)
        print(f"      --resume: config from {saved} (--preset ignored), --config/--set on top")
    else:
        cfg = resolve_config(args.preset, args.config, args.overrides)
    check_weights_files(cfg)
    start_tensorflow()  # the config is checked: now the wait for TensorFlow is worth it
    from keras_lmk.training.run import run

    run(cfg, run_dir, resume=args.resume, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
