"""Input pipeline vs training speed: tf.data images/s, training images/s, and their ratio (goal >= 3).

    python benchmarks/bench_pipeline.py --quick     # 20 steps each, a minute or two on 2 cores
    python benchmarks/bench_pipeline.py             # 60 steps each

Same config as the default training (512x320, batch 16, augmentation on, built-in synthetic set). Prints a
table and writes pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="bench_out/pipeline")
    p.add_argument("--preset", default="synthetic")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from keras_lmk.data.sources import load_training_records
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.detector.model import build_model
    from keras_lmk.training.config import resolve_config, with_num_classes
    from keras_lmk.training.pipeline import make_dataset, pipeline_throughput
    from keras_lmk.training.trainer import LandmarkTrainer

    steps = 20 if args.quick else 60
    taxonomy = load_taxonomy()
    cfg = with_num_classes(resolve_config(args.preset), taxonomy.num_classes)
    train, _ = load_training_records(cfg.data, taxonomy)
    ds = make_dataset(train, cfg.grid, cfg.pipeline, taxonomy=taxonomy, training=True, seed=0).repeat()
    data_ips = pipeline_throughput(ds, steps)

    import keras

    trainer = LandmarkTrainer(build_model(cfg.grid, cfg.model), cfg.loss)
    trainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    batches = list(ds.take(4).as_numpy_iterator())  # in memory: time the training step alone
    x, y = batches[0]
    trainer.train_on_batch(x, y)  # trace
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        trainer.train_on_batch(x, y)
    train_ips = steps * cfg.pipeline.batch_size / (time.perf_counter() - t0)

    result = {
        "pipeline_images_per_s": round(data_ips, 1),
        "train_images_per_s": round(train_ips, 1),
        "ratio": round(data_ips / train_ips, 2),
        "batch_size": cfg.pipeline.batch_size,
        "input": f"{cfg.grid.input_width}x{cfg.grid.input_height}",
        "steps": steps,
        "cores": os.cpu_count(),
    }
    print("| tf.data images/s | training images/s | ratio (goal >= 3) |\n|---|---|---|")
    print(f"| {result['pipeline_images_per_s']} | {result['train_images_per_s']} | {result['ratio']} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
