"""Distribution helpers in one process: TF_CONFIG checks, the one-process role, the shard policy, the weights
fingerprint. The two-worker runs themselves are in test_multiworker.py."""

import json
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lmk.training.distribute import (
    SyncReplicaStatistics,
    cluster_from_env,
    pick_strategy,
    shard_by_data,
    weights_fingerprint,
    worker_role,
)


def test_multiworker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG on every worker"):
        pick_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not a cluster"):
        cluster_from_env()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})
    )
    with pytest.raises(ValueError, match="index 3 is not one of the 1 workers"):
        cluster_from_env()


def test_one_process_is_the_chief_and_writes_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    role = worker_role(pick_strategy("none"), tmp_path)
    assert (role.index, role.count, role.is_chief, role.write_dir) == (0, 1, True, tmp_path)
    role.cleanup()
    assert tmp_path.exists()
    assert pick_strategy("mirrored").num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


@pytest.mark.parametrize(
    "cluster, task, want",
    [
        # TensorFlow's convention: a `chief` job is the chief, and worker 0 is then the second process
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("chief", 0), (0, 3, True)),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("worker", 0), (1, 3, False)),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("worker", 1), (2, 3, False)),
        # without a chief job, worker 0 is the chief
        ({"worker": ["a:1", "b:1"]}, ("worker", 0), (0, 2, True)),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), (1, 2, False)),
    ],
)
def test_worker_0_is_the_chief_only_when_the_cluster_has_no_chief_job(
    tmp_path, monkeypatch, cluster, task, want
):
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task[0], "index": task[1]}})
    )
    strategy = types.SimpleNamespace(
        cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver()
    )
    role = worker_role(strategy, tmp_path)
    assert (role.index, role.count, role.is_chief) == want
    assert role.write_dir == (tmp_path if role.is_chief else tmp_path / f".worker{role.index}-tmp")
    role.cleanup()
    assert tmp_path.exists() and not (tmp_path / f".worker{role.index}-tmp").exists()


def test_datasets_are_sharded_by_data():
    ds = shard_by_data(tf.data.Dataset.from_tensor_slices(np.arange(8)).batch(4))
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_fingerprint_follows_every_weight():
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()])
    before = weights_fingerprint(net)
    assert before == weights_fingerprint(net) and len(before) == 16
    moving_mean = net.layers[1].moving_mean
    moving_mean.assign(moving_mean + 1e-6)  # a non-trainable weight counts too
    assert weights_fingerprint(net) != before


def test_statistics_sync_is_a_no_op_on_one_replica():
    net = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    sync = SyncReplicaStatistics(tf.distribute.get_strategy(), net)
    assert [v.name for v in sync.variables] == ["moving_mean", "moving_variance"]
    sync.on_epoch_end(0)
    np.testing.assert_array_equal(net.layers[0].moving_mean.numpy(), np.zeros(3))


# a fresh process: logical devices must be configured before TensorFlow starts
TWO_REPLICAS = """
import json, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_lmk.training.distribute import SyncReplicaStatistics, pick_strategy
strategy = pick_strategy("mirrored")
with strategy.scope():
    net = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.0)])
    net.compile(optimizer="sgd", loss="mse")
x = np.concatenate([np.zeros((4, 3)), np.full((4, 3), 2.0)]).astype("float32")  # replica 0: 0s, 1: 2s
net.fit(x, x, batch_size=8, epochs=1, verbose=0, shuffle=False)
copies = lambda: [v.numpy().tolist() for v in net.layers[0].moving_mean.value.values]
before = copies()
SyncReplicaStatistics(strategy, net).on_epoch_end(0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "before": before, "after": copies()}))
"""


def test_statistics_sync_averages_batchnorm_over_two_replicas():
    """Keras 3 keeps a BatchNorm moving mean per replica, each from its own half of the batch; the sync
    leaves every replica with their mean (here two logical CPU devices, momentum 0: the batch means)."""
    out = subprocess.run([sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["before"] == [[0.0] * 3, [2.0] * 3]
    assert result["after"] == [[1.0] * 3, [1.0] * 3]
