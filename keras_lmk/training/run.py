"""Train a landmark detector: the library behind ``python -m keras_lmk.train``.

Usage, options and what it writes: the docstring of :mod:`keras_lmk.train`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import yaml

from keras_lmk.atomic import (
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    remove_stale_temporaries,
)
from keras_lmk.detector.card import model_card
from keras_lmk.training.config import Config, with_num_classes
from keras_lmk.training.config_io import to_dict


def check_resumable(run_dir: Path) -> None:
    """``--resume`` needs a run to continue: ``run_dir`` with its config.yaml (a run stopped before its first
    checkpoint starts its first epoch again) or checkpoints/last.keras. A ValueError otherwise: a mistyped
    folder must not silently start a new run of an hour."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run directory to --resume (drop --resume to start a new run)")
    if not ((run_dir / "config.yaml").is_file() or (run_dir / "checkpoints" / "last.keras").is_file()):
        raise ValueError(
            f"{run_dir}: holds no run to --resume (no config.yaml or checkpoints/last.keras); "
            "drop --resume to start a new run there"
        )


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"  # a whole .keras model, whose weights Keras loads too


def check_weights_files(cfg: Config) -> None:
    """Every weights file the config names exists and is a Keras weights file (``*.weights.h5``, HDF5) or a
    whole ``*.keras`` model (a zip), checked before TensorFlow starts and data load: a typo answers in a
    second, not after the data and the model."""
    for key in ("weights_path", "backbone_weights_path"):
        value = getattr(cfg.model, key)
        if not value:
            continue
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file (model.{key})")
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
        keras_zip = path.suffix == ".keras" and head.startswith(ZIP_SIGNATURE)
        if head != HDF5_SIGNATURE and not keras_zip:
            raise ValueError(
                f"{path}: not a Keras weights file (model.{key}: a *.weights.h5 or a *.keras model)"
            )


def run(cfg: Config, run_dir: Path, resume: bool = False, overwrite: bool = False) -> dict:
    """Train into ``run_dir``. A directory that already holds a trained run is refused unless ``resume``
    (continue it) or ``overwrite`` (start over)."""
    import keras

    from keras_lmk.data.coco import write_coco
    from keras_lmk.data.sources import load_training_records
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.detector.model import build_model, load_model, with_input_size
    from keras_lmk.evaluation.calibration import named
    from keras_lmk.evaluation.metrics import format_threshold
    from keras_lmk.evaluation.plots import plot_loss_trajectories, read_trajectory
    from keras_lmk.training.distribute import (
        SyncReplicaStatistics,
        pick_strategy,
        shard_by_data,
        weights_fingerprint,
        worker_role,
    )
    from keras_lmk.training.pipeline import make_dataset
    from keras_lmk.training.schedule import WarmupCosine
    from keras_lmk.training.trainer import (
        LandmarkTrainer,
        NonFiniteGuard,
        NonFiniteLossError,
        RunCheckpoint,
        TrajectoryLogger,
        restore_optimizer_state,
        save_keras_atomic,
    )

    # ---- 1. config -------------------------------------------------------------------------------------
    run_dir = Path(run_dir)
    if resume:
        check_resumable(run_dir)
    done = [p.name for p in (run_dir / "model.keras", run_dir / "checkpoints" / "last.keras") if p.exists()]
    if done and not (resume or overwrite):
        raise ValueError(
            f"{run_dir}: holds a trained run ({', '.join(done)}); pass --resume to continue it, "
            "--overwrite to start over, or another --run-dir"
        )
    run_dir = check_writable_dir(run_dir)  # fail before long work starts
    # before any other TensorFlow op (multi-worker: configures collectives, waits until every worker is up)
    strategy = pick_strategy(cfg.train.distribute)
    role = worker_role(strategy, run_dir)  # only the chief writes run_dir; the others role.write_dir
    if role.is_chief:  # half-written files of a killed run: never read, now gone
        for d in (run_dir, run_dir / "checkpoints"):
            for stale in remove_stale_temporaries(d):
                print(f"      removed {stale} (temporary of an interrupted write)")
    taxonomy = load_taxonomy(cfg.data.taxonomy)
    cfg = with_num_classes(cfg, taxonomy.num_classes)
    keras.utils.set_random_seed(cfg.train.seed)  # the same on every worker: the same global batches
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(
        f"[1/6] config: preset resolved, run dir {run_dir}, {strategy.num_replicas_in_sync} replica(s), "
        f"{role.describe()}"
    )

    # ---- 2. data ---------------------------------------------------------------------------------------
    train_records, val_records = load_training_records(cfg.data, taxonomy)
    train_records, val_records = usable_images(train_records, val_records, cfg.data.skip_bad)
    n_lmk = sum(r.num_landmarks for r in train_records)
    print(f"[2/6] data: {len(train_records)} train images ({n_lmk} landmarks), {len(val_records)} val images")
    global_batch = cfg.pipeline.batch_size * strategy.num_replicas_in_sync
    pipe_cfg = dataclasses.replace(cfg.pipeline, batch_size=global_batch)
    train_ds = make_dataset(
        train_records, cfg.grid, pipe_cfg, taxonomy=taxonomy, training=True, seed=cfg.train.seed
    )
    val_ds = (
        make_dataset(val_records, cfg.grid, pipe_cfg, taxonomy=taxonomy, training=False, seed=0)
        if val_records
        else None
    )
    steps = cfg.train.steps_per_epoch or max(1, len(train_records) // global_batch)  # global steps
    train_ds = shard_by_data(train_ds.repeat())
    val_ds = shard_by_data(val_ds) if val_ds is not None else None
    print(
        f"      global batch {global_batch} = {cfg.pipeline.batch_size} per replica x "
        f"{strategy.num_replicas_in_sync} replica(s); {steps} global steps an epoch"
        + (", data sharded by global batch (auto-shard DATA)" if role.count > 1 else "")
    )

    # ---- 3. model --------------------------------------------------------------------------------------
    ckpt_dir = run_dir / "checkpoints"
    history: list[dict] = []
    traj_rows: list = []
    initial_epoch, best = 0, math.inf
    with strategy.scope():
        if resume and (ckpt_dir / "last.keras").exists():
            net = load_model(ckpt_dir / "last.keras", compile=True)
        else:
            if resume:
                print(f"      --resume: no checkpoint in {ckpt_dir}, starting fresh")
                resume = False
            net = build_model(cfg.pipeline.train_spec(cfg.grid), cfg.model)
        crop = cfg.pipeline.train_crop
        where = f", trained on {crop[0]}x{crop[1]} crops of the {cfg.grid.input_width}x" if crop else ""
        where += f"{cfg.grid.input_height} input" if crop else ""
        print(f"[3/6] model: {net.count_params():,} parameters{where}")
        # only once the data and the model are there: a start that fails on its input leaves nothing behind
        if role.is_chief:
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
            atomic_write_json(run_dir / "model_card.json", model_card(cfg.grid, taxonomy, cfg.decoder))
            if val_records:  # held-out split: `python -m keras_lmk.evaluate --data RUN/val.json`
                write_coco(val_records, taxonomy, run_dir / "val.json")

        # ---- 4. compile ----------------------------------------------------------------------------------
        total_steps = steps * cfg.train.epochs
        warmup = int(cfg.train.warmup_epochs * steps)
        schedule = WarmupCosine(
            initial=cfg.train.learning_rate * 0.05,
            peak=cfg.train.learning_rate,
            warmup_steps=warmup,
            decay_steps=max(1, total_steps - warmup),
            alpha=0.02,
        )
        ema = cfg.train.ema_momentum > 0  # the final weights are the moving average (Keras swaps them in)
        optimizer = keras.optimizers.AdamW(
            schedule,
            weight_decay=cfg.train.weight_decay,
            clipnorm=cfg.train.clipnorm,
            use_ema=ema,
            ema_momentum=cfg.train.ema_momentum if ema else 0.99,
        )
        trainer = LandmarkTrainer(net, cfg.loss)
        trainer.compile(optimizer=optimizer, jit_compile=cfg.train.jit_compile)
        if resume:
            state = restore_optimizer_state(optimizer, net, ckpt_dir / "last_state.npz")
            initial_epoch, best, history = state["epoch"], state["best"], state["history"]
            traj_path = run_dir / "trajectory.csv"
            if traj_path.exists():
                traj_rows = [tuple(r) for r in read_trajectory(traj_path) if r[0] <= initial_epoch * steps]
            print(f"      resumed after epoch {initial_epoch} (best val loss {best:.4g})")
    print(
        f"[4/6] compile: AdamW lr {cfg.train.learning_rate} (cosine over {total_steps} global steps, "
        f"{warmup} warm-up), loss {cfg.loss}"
    )

    # ---- 5. fit ----------------------------------------------------------------------------------------
    guard = NonFiniteGuard()
    callbacks = [
        guard,
        SyncReplicaStatistics(strategy, net),  # before the checkpoint: every worker holds the same weights
        RunCheckpoint(role.write_dir, net, history, best),  # non-chief: checkpoints in its temp dir
    ]
    if role.is_chief:
        callbacks.append(TrajectoryLogger(run_dir / "trajectory.csv", cfg.train.trajectory_every, traj_rows))
    if cfg.train.tensorboard and role.is_chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tb"), update_freq="epoch"))
    t0 = time.time()
    try:
        if initial_epoch < cfg.train.epochs:
            print(f"[5/6] fit: epochs {initial_epoch + 1}..{cfg.train.epochs}, {steps} steps each")
            fit_across_workers(
                trainer,
                role,
                train_ds,
                epochs=cfg.train.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                shuffle=False,  # the tf.data pipeline shuffles
                validation_steps=cfg.train.validation_steps,
                callbacks=callbacks,
                verbose=fit_verbosity(cfg.train.verbose, sys.stdout),
            )
        fit_s = time.time() - t0
        if guard.message:
            raise NonFiniteLossError(guard.message)
        # ---- 6. save -----------------------------------------------------------------------------------
        save_keras_atomic(with_input_size(net, cfg.grid, cfg.model), role.write_dir / "model.keras")
    finally:
        role.cleanup()
    if role.count > 1:  # compare across the workers' logs: all the same after a good run
        print(f"      {role.describe()}: weights sha256 {weights_fingerprint(net)}")
    if not role.is_chief:
        print(f"[6/6] done; the chief saves {run_dir / 'model.keras'}")
        return {"run_dir": str(run_dir), "epochs": cfg.train.epochs, "fit_seconds": round(fit_s, 1)}
    if (run_dir / "trajectory.csv").exists():
        plot_loss_trajectories(
            {cfg.loss.variant: read_trajectory(run_dir / "trajectory.csv")},
            run_dir / "loss_trajectory.png",
            title=str(run_dir),
        )
    operating_point = None
    if cfg.train.calibrate_threshold and val_records:
        operating_point = calibrate_operating_point(run_dir, cfg.train.calibrate_per_class)
    summary = {
        "run_dir": str(run_dir),
        "epochs": cfg.train.epochs,
        "fit_seconds": round(fit_s, 1),
        "train_images": len(train_records),
        "val_images": len(val_records),
        "final": history[-1] if history else {},
        "operating_point": operating_point,
    }
    atomic_write_json(run_dir / "summary.json", summary)
    print(f"[6/6] saved {run_dir / 'model.keras'} ({fit_s:.0f} s of training)")
    if operating_point:
        print(
            f"      held-out split: mAP {operating_point['mAP']:.3f}, best F1 {operating_point['f1']:.3f} "
            f"(P {operating_point['precision']:.3f}, R {operating_point['recall']:.3f}) at score threshold "
            f"{operating_point['threshold']:g}, now the model card's; details in {run_dir / 'eval'}"
        )
        own = named(operating_point.get("class_thresholds"), taxonomy.names)
        if own:
            print(f"      classes with their own threshold (best F1 of each): {format_threshold(own)}")
    return summary


def usable_images(train_records: list, val_records: list, skip_bad: bool) -> tuple[list, list]:
    """The records whose image files are sound (:func:`keras_lmk.data.validation.check_record_images`: first
    and last bytes, ~0.1 ms an image), checked before anything is written. A truncated or non-image file is
    an error naming it (TensorFlow would fail on it inside a training step, naming no file); with
    ``data.skip_bad`` its records are left out with a warning line each."""
    import warnings

    from keras_lmk.data.validation import DataError, LoadReport, check_record_images

    report = LoadReport()
    try:
        kept = [
            check_record_images(rs, skip_bad=skip_bad, report=report) for rs in (train_records, val_records)
        ]
    except DataError as e:
        hint = "--set data.skip_bad=true trains without the broken images"
        raise DataError(e.file, e.line, f"{e.problem}; fix or remove it ({hint})") from None
    for error in report.errors:
        warnings.warn(f"{error}, skipped (data.skip_bad)", stacklevel=2)
    return kept[0], kept[1]


def fit_verbosity(verbose: int, stream) -> int:
    """Keras ``fit``'s verbosity for output to ``stream``: its progress bar (1) only on a terminal, one line
    an epoch (2) otherwise. The bar redraws itself with ANSI colour codes that a log file keeps as garbage."""
    isatty = getattr(stream, "isatty", None)
    return 2 if verbose == 1 and not (isatty and isatty()) else verbose


def fit_across_workers(trainer, role, train_ds, **fit_kwargs) -> None:
    """``trainer.fit``; in a multi-worker run, a lost worker becomes a ``WorkerLostError`` that says how to
    go on (every worker's collective ops fail or are aborted by TensorFlow's health check)."""
    import tensorflow as tf

    from keras_lmk.training.distribute import WorkerLostError

    try:
        trainer.fit(train_ds, **fit_kwargs)
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
            tf.errors.AbortedError, tf.errors.InternalError) as e:  # fmt: skip
        if role.count == 1:
            raise
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        lost = sorted({line for line in lines if line.startswith("/job:")})  # named by the health check
        first = lines[0][:200] if lines else ""
        why = f"no heartbeat from {', '.join(lost)}" if lost else f"{type(e).__name__}: {first}"
        raise WorkerLostError(
            f"{role.describe()}: lost contact with the other workers ({why}). "
            f"Stopped. The last complete epoch is in {role.run_dir / 'checkpoints'}; start every worker "
            "again with the same command plus --resume."
        ) from e


def calibrate_operating_point(run_dir: Path, per_class: bool = True) -> dict | None:
    """Evaluate RUN/model.keras on RUN/val.json into RUN/eval/ and set the model card's decoder thresholds:
    ``score_threshold`` to the score of best pooled F1 there and, with ``per_class``, each well-represented
    class's own best-F1 score (:mod:`keras_lmk.evaluation.calibration`). Returns that point (threshold, f1,
    precision, recall, mAP, class_thresholds) or None when the split has no ground truth or the model
    predicts nothing."""
    from keras_lmk.evaluation import evaluate
    from keras_lmk.evaluation.calibration import calibrate_card

    # about 2 min on the real splits: a progress bar on a terminal (not in a log file)
    progress = sys.stderr.isatty()
    metrics = evaluate.run(run_dir / "model.keras", run_dir / "val.json", run_dir / "eval", progress=progress)
    return calibrate_card(run_dir / "model_card.json", metrics, per_class)
