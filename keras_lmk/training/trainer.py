"""Keras training wrapper: the landmark objective inside ``Model.compute_loss``, plus run-directory callbacks.

``LandmarkTrainer`` wraps the inference network (outputs ``class_logits`` and ``points``) and adds the
loss of :func:`keras_lmk.detector.losses.batch_loss`; the network alone is what gets saved and exported.
Checkpoints are written atomically (temp file + rename): ``last.keras`` + ``last_state.npz`` (optimizer and
epoch) after every epoch, ``best.keras`` when validation loss improves.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_lmk.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from keras_lmk.detector.losses import LossConfig, batch_loss, landmark_cell_accuracy


class LandmarkTrainer(keras.Model):
    """Trains ``net`` with the class-dependent landmark loss; tracks L_cls and L_loc separately."""

    ACCURACY_MOMENTUM = 0.9  # "recent batches" for the class-first switch: an EMA over ~10 batches

    def __init__(self, net: keras.Model, loss_cfg: LossConfig, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.loss_cfg = loss_cfg
        self.cls_tracker = keras.metrics.Mean(name="cls")
        self.loc_tracker = keras.metrics.Mean(name="loc")
        self.gate_tracker = keras.metrics.Mean(name="loc_on")
        # class-first switch state (claim 11): recent landmark-cell accuracy and the sticky localisation gate;
        # "mean": under a distribution strategy every replica's update is averaged, so all replicas agree
        self.recent_accuracy = keras.Variable(
            0.0, trainable=False, name="recent_accuracy", aggregation="mean"
        )
        self.loc_gate = keras.Variable(
            0.0 if loss_cfg.loc_start_accuracy is not None else 1.0,
            trainable=False,
            name="loc_gate",
            aggregation="mean",
        )

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        outputs = {k: ops.cast(v, "float32") for k, v in y_pred.items()}  # float32 loss under mixed precision
        switched = self.loss_cfg.loc_start_accuracy is not None
        total, cls, loc = batch_loss(outputs, y, self.loss_cfg, self.loc_gate if switched else None)
        if switched and training:
            acc = landmark_cell_accuracy(outputs["class_logits"], y["gt_class"])
            m = self.ACCURACY_MOMENTUM
            recent = ops.where(ops.isnan(acc), self.recent_accuracy, m * self.recent_accuracy + (1 - m) * acc)
            self.recent_accuracy.assign(recent)
            # read back: the replicas' mean, so that every replica opens the gate at the same step
            opened = ops.cast(self.recent_accuracy >= self.loss_cfg.loc_start_accuracy, "float32")
            self.loc_gate.assign(ops.maximum(self.loc_gate, opened))  # once open, stays open
        self.cls_tracker.update_state(cls)
        self.loc_tracker.update_state(loc)
        self.gate_tracker.update_state(self.loc_gate)
        # Keras sums the replicas' gradients and reports loss x replicas (as its own losses do): a replica's
        # share of the global-batch loss is its loss / replicas
        return total / tf.distribute.get_strategy().num_replicas_in_sync

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 (3.15) all-reduces a whole first batch to get example shapes, which fails under
        # MultiWorkerMirroredStrategy (keras-team/keras#20585): this replica's part of it has the shapes
        if iterator is not None and data_batch is None and self._distribute_strategy is not None:
            local = self.distribute_strategy.experimental_local_results
            for _, _, it in iterator:
                data_batch = keras.tree.map_structure(
                    lambda v: local(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v, next(it)
                )
                break
        return super()._maybe_symbolic_build(data_batch=data_batch)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        strategy = tf.distribute.get_strategy()
        if getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)():
            # Keras 3 (3.15) averages the replicas' logs with strategy.reduce("MEAN", v, axis=0) across
            # workers, which fails on scalars: give it [1]-vectors, it returns their mean as a scalar
            logs = {k: ops.reshape(v, [1]) for k, v in logs.items()}
        return logs

    @property
    def metrics(self):
        extra = [self.gate_tracker] if self.loss_cfg.loc_start_accuracy is not None else []
        return [*super().metrics, self.cls_tracker, self.loc_tracker, *extra]


def save_keras_atomic(model: keras.Model, path: Path) -> None:
    atomic_write(path, lambda tmp: model.save(tmp))


def _optimizer_state(optimizer) -> dict[str, np.ndarray]:
    return {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}


def restore_optimizer_state(optimizer, net: keras.Model, state_path: Path) -> dict:
    """Load optimizer variables and the run state saved by :class:`RunCheckpoint`. Returns the state dict."""
    with np.load(state_path, allow_pickle=False) as data:
        state = json.loads(str(data["state_json"]))
        values = [data[k] for k in sorted(k for k in data.files if k.startswith("v"))]
    optimizer.build(net.trainable_variables)
    if len(values) != len(optimizer.variables):
        raise ValueError(
            f"{state_path}: checkpoint has {len(values)} optimizer variables, the optimizer has "
            f"{len(optimizer.variables)}; was the config changed between runs?"
        )
    for var, value in zip(optimizer.variables, values, strict=True):
        var.assign(value)
    return state


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: atomically save last.keras, last_state.npz (optimizer, epoch, history), history.csv,
    and best.keras on validation-loss improvement. Never saves a non-finite epoch."""

    def __init__(self, run_dir: Path, net: keras.Model, history: list[dict], best: float = math.inf):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.net = net
        self.history = history
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in logs.values()):
            return  # NonFiniteGuard stops training; keep the last good checkpoint
        self.history.append({"epoch": epoch + 1, **logs})
        monitor = logs.get("val_loss", logs.get("loss", math.inf))
        improved = monitor < self.best
        if improved:
            self.best = monitor
            save_keras_atomic(self.net, self.ckpt_dir / "best.keras")
        save_keras_atomic(self.net, self.ckpt_dir / "last.keras")
        state = {"epoch": epoch + 1, "best": self.best, "history": self.history}
        buf = io.BytesIO()
        np.savez(buf, state_json=np.array(json.dumps(state)), **_optimizer_state(self.model.optimizer))
        atomic_write_bytes(self.ckpt_dir / "last_state.npz", buf.getvalue())
        write_history_csv(self.run_dir / "history.csv", self.history)


def write_history_csv(path: Path, history: list[dict]) -> None:
    keys = ["epoch"] + sorted({k for row in history for k in row} - {"epoch"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, out.getvalue())


class NonFiniteLossError(RuntimeError):
    pass


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss, naming the epoch and step; the last good checkpoint stays."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.message: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: v for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            self.message = (
                f"non-finite loss at epoch {self.epoch + 1}, step {batch + 1}: "
                + ", ".join(f"{k}={v}" for k, v in bad.items())
                + "; stopped. The last good checkpoint is kept (use --resume after fixing the cause, "
                "e.g. a lower train.learning_rate)."
            )
            self.model.stop_training = True


class TrajectoryLogger(keras.callbacks.Callback):
    """Samples the running (L_cls, L_loc) every ``every`` steps into trajectory.csv (for the FIG. 11 plot)."""

    def __init__(self, path: Path, every: int = 5, rows: list | None = None):
        super().__init__()
        self.path = Path(path)
        self.every = max(1, every)
        self.rows = rows if rows is not None else []
        self.step = int(self.rows[-1][0]) if self.rows else 0  # rows read back on --resume hold floats

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0 and logs and "cls" in logs:
            self.rows.append((self.step, float(logs["cls"]), float(logs["loc"])))

    def on_epoch_end(self, epoch, logs=None):
        text = "step,cls,loc\n" + "".join(f"{int(s)},{c:.6g},{lo:.6g}\n" for s, c, lo in self.rows)
        atomic_write_text(self.path, text)
