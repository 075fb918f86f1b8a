"""Distribution for training: which ``tf.distribute`` strategy, which worker writes, and how data is split.

    strategy = pick_strategy("multiworker")      # TF_CONFIG names the cluster and this worker
    role = worker_role(strategy, run_dir)        # role.is_chief, role.write_dir, role.cleanup()
    ds = shard_by_data(ds)                       # every worker builds the global batch, keeps its slice

Several machines (``train.distribute=multiworker``, ``tf.distribute.MultiWorkerMirroredStrategy``): every
worker runs the same command with its own ``TF_CONFIG``; the run directory must be one shared folder. Only
the chief (task ``chief``, else ``worker`` 0) writes the run directory. The others write their checkpoints
into ``RUN/.worker<i>-tmp/`` (the TensorFlow multi-worker guide's ``workertemp_<i>``), removed when they
finish and at their next start after a kill. Every worker reads the chief's checkpoint on ``--resume``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


class WorkerLostError(RuntimeError):
    """A worker of a multi-worker run stopped answering; the survivors stop too (exit code 1)."""


def pick_strategy(mode: str) -> tf.distribute.Strategy:
    """``none``: the default strategy. ``mirrored``: ``MirroredStrategy`` over the local GPUs, else over the
    logical CPU devices (one unless configured otherwise). ``multiworker``: ``MultiWorkerMirroredStrategy``
    from ``TF_CONFIG``. ``auto``: multiworker when ``TF_CONFIG`` is set, mirrored with several GPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if mode == "multiworker" or (mode == "auto" and "TF_CONFIG" in os.environ):
        cluster_from_env()  # a clear error before TensorFlow waits for a cluster that cannot form
        return tf.distribute.MultiWorkerMirroredStrategy()
    if mode == "mirrored" or (mode == "auto" and len(gpus) > 1):
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def cluster_from_env() -> dict:
    """The parsed ``TF_CONFIG``; ``ValueError`` naming what is missing."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        raise ValueError(
            "train.distribute=multiworker needs TF_CONFIG on every worker, e.g. TF_CONFIG="
            '\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"TF_CONFIG is not a cluster + task description ({e!r}): {raw}") from e
    if task["type"] == "worker" and not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG task index {index} is not one of the {len(workers)} workers")
    return tf_config


@dataclass(frozen=True)
class WorkerRole:
    """Where this process writes. ``index``/``count`` number the workers (chief first)."""

    index: int
    count: int
    is_chief: bool
    run_dir: Path
    write_dir: Path  # run_dir on the chief, RUN/.worker<i>-tmp elsewhere

    def cleanup(self) -> None:
        if not self.is_chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)

    def describe(self) -> str:
        if self.count == 1:
            return "one worker"
        what = "chief, writes the run directory" if self.is_chief else f"checkpoints to {self.write_dir}"
        return f"worker {self.index} of {self.count} ({what})"


def worker_role(strategy: tf.distribute.Strategy, run_dir: Path) -> WorkerRole:
    """The chief is task ``chief`` or, in a cluster without one, ``worker`` 0 (TensorFlow's convention)."""
    run_dir = Path(run_dir)
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if not task_type:  # one process: it is the chief
        return WorkerRole(0, 1, True, run_dir, run_dir)
    cluster = resolver.cluster_spec().as_dict()
    count = sum(len(cluster.get(job, ())) for job in ("chief", "worker"))
    has_chief = "chief" in cluster
    is_chief = task_type == "chief" or (task_type == "worker" and resolver.task_id == 0 and not has_chief)
    index = 0 if task_type == "chief" else resolver.task_id + int(has_chief)
    if is_chief:
        return WorkerRole(index, count, True, run_dir, run_dir)
    temp = run_dir / f".worker{index}-tmp"
    shutil.rmtree(temp, ignore_errors=True)  # left by a killed earlier run of this worker
    (temp / "checkpoints").mkdir(parents=True)
    return WorkerRole(index, count, False, run_dir, temp)


def shard_by_data(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Auto-shard policy DATA: each worker runs the whole pipeline and keeps its replicas' part of every
    global batch. The source is a list of records in memory (``from_tensor_slices``), not files a reader op
    opens, so FILE sharding cannot split it; and DATA keeps the global batch, augmentation seeds included,
    the one a single process would draw. The cost: each worker decodes and augments the whole global batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def weights_fingerprint(model: keras.Model) -> str:
    """sha256 (first 16 hex digits) of every weight's dtype, shape and bytes, in ``model.weights`` order."""
    digest = hashlib.sha256()
    for w in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(w.value))
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


class SyncReplicaStatistics(keras.callbacks.Callback):
    """Average the float non-trainable weights (BatchNorm moving mean and variance) over all replicas,
    before each validation and at each epoch end (before the checkpoint callbacks that follow it).

    Keras 3 creates them with aggregation "none": each replica updates its own copy from its own part of
    the batch, so the copies drift apart and a checkpoint would hold only the chief's. Their moving
    averages are linear in the per-step statistics, so the replicas' mean is the moving average of the
    per-step mean over the global batch. Trainable weights are all-reduced every step and need nothing."""

    def __init__(self, strategy: tf.distribute.Strategy, net: keras.Model):
        super().__init__()
        self.strategy = strategy
        self.variables = [w for w in net.non_trainable_weights if "float" in str(w.dtype)]
        self._sync = None

    def sync(self) -> None:
        if self.strategy.num_replicas_in_sync == 1 or not self.variables:
            return
        if self._sync is None:
            tf_vars = [w.value for w in self.variables]

            def replica_fn():
                ctx = tf.distribute.get_replica_context()
                means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in tf_vars])
                for v, mean in zip(tf_vars, means, strict=True):
                    v.assign(mean)

            self._sync = tf.function(lambda: self.strategy.run(replica_fn))
        self._sync()

    def on_test_begin(self, logs=None):
        self.sync()

    def on_epoch_end(self, epoch, logs=None):
        self.sync()
