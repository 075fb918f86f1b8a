r"""Export a trained detector to TFLite variants with model cards and a size/latency/accuracy report.

    python -m keras_lmk.export --model runs/exp/model.keras --out export_out --quant fp32 fp16 dynamic int8
    python -m keras_lmk.export --model runs/exp/model.keras --out export_out --quant int8 qat \
        --calib-data runs/exp --calib-steps 100 --eval-data data/val.json

Writes ``<name>_<quant>.tflite`` and ``<name>_<quant>.json`` (model card with per-tensor quantization read
from the interpreter) per variant, and ``export_report.json`` / ``export_report.md``. Library:
:mod:`keras_lmk.deploy.export_lib`; QAT: :mod:`keras_lmk.deploy.qat`; design notes: docs/export.md.
"""

from __future__ import annotations

import sys

from keras_lmk.cli import command, make_parser, start_tensorflow
from keras_lmk.deploy.convert import QUANT_MODES


def parse_args(argv=None):
    p = make_parser("python -m keras_lmk.export", __doc__)
    p.add_argument("--model", required=True, help="model.keras (its model card beside it)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (.tflite, model cards, report)")
    p.add_argument(
        "--quant",
        nargs="+",
        default=["fp32", "int8"],
        choices=QUANT_MODES,
        help="variants to write (default: fp32 int8)",
    )
    p.add_argument("--name", help="file name stem (default: the model's, e.g. model_int8.tflite)")
    p.add_argument("--calib-data", help="run dir (config.yaml) or COCO JSON (default: the model's run dir)")
    p.add_argument("--calib-images", help="image root for a COCO --calib-data")
    p.add_argument("--calib-steps", type=int, default=100, help="calibration images for int8")
    p.add_argument("--eval-data", help="COCO JSON or synthetic drive dir: point-mAP per variant")
    p.add_argument("--eval-images", help="image root for a COCO --eval-data")
    p.add_argument("--latency-runs", type=int, default=20, help="invokes per latency median")
    p.add_argument("--qat-steps", type=int, default=200, help="QAT fine-tuning steps")
    p.add_argument("--qat-batch-size", type=int, default=8, help="QAT fine-tuning batch size")
    p.add_argument("--qat-lr", type=float, default=1e-4, help="QAT fine-tuning learning rate")
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    start_tensorflow()
    from keras_lmk.deploy.export_lib import export_variants

    export_variants(
        args.model,
        args.out,
        args.quant,
        calib_data=args.calib_data,
        calib_images=args.calib_images,
        calib_steps=args.calib_steps,
        eval_data=args.eval_data,
        eval_images=args.eval_images,
        latency_runs=args.latency_runs,
        qat_steps=args.qat_steps,
        qat_batch_size=args.qat_batch_size,
        qat_learning_rate=args.qat_lr,
        name=args.name,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
