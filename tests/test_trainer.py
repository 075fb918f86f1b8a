"""LandmarkTrainer: the class-first switch (claim 11) learns landmarks from scratch under a confidence
threshold; the state it keeps is what it says."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.losses import LossConfig, landmark_cell_accuracy
from keras_lmk.detector.model import ModelConfig, build_model
from keras_lmk.detector.targets import encode_targets
from keras_lmk.training.trainer import LandmarkTrainer

SPEC = GridSpec(input_height=32, input_width=48, stride=8, num_classes=3)


def toy_batches(n: int, seed: int = 0):
    """Images with one bright 12x12 square (class 1) or a dark-on-grey one (class 2) at a random place."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 32, 48, 3), 110, np.float32)
    targets = {"gt_class": [], "gt_point": [], "cls_mask": []}
    for i in range(n):
        x, y, c = int(rng.integers(0, 36)), int(rng.integers(0, 20)), int(rng.integers(1, 3))
        images[i, y : y + 12, x : x + 12] = 250 if c == 1 else 0
        t = encode_targets(SPEC, [[x, y, x + 12, y + 12]], [[x + 6, y + 6]], [c], rng=i)
        for k in targets:
            targets[k].append(t[k])
    return images, {k: np.stack(v) for k, v in targets.items()}


def train(loss_cfg: LossConfig, steps: int = 120):
    keras.utils.set_random_seed(0)
    net = build_model(SPEC, ModelConfig(width=0.5, head_channels=16, head_depth=1))
    trainer = LandmarkTrainer(net, loss_cfg)
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    x, y = toy_batches(16 * 8)
    hist = trainer.fit(x, y, batch_size=16, epochs=steps // 8, verbose=0, shuffle=True)
    xv, yv = toy_batches(32, seed=1)
    # batch statistics: on 32x48 toys the stride-32 maps are 1x2 cells, too few for BatchNorm's moving
    # averages to stand for a batch; what is measured here is what the loss taught, not BN's estimate
    out = net(xv, training=True)
    acc = float(keras.ops.convert_to_numpy(landmark_cell_accuracy(out["class_logits"], yv["gt_class"])))
    lm = yv["gt_class"] > 0  # mean point error (cell units) of the landmark cells' anchors
    err = np.abs(keras.ops.convert_to_numpy(out["points"])[lm] - yv["gt_point"][lm][:, None, :]).mean()
    return trainer, hist.history, acc, float(err)


def test_class_first_switch_learns_landmarks_under_a_confidence_threshold():
    # a fresh model's landmark confidence is ~0.01 (background prior); the switch keeps the localisation
    # term (and its threshold) out until the classifier is right on recent batches, then brings it in
    trainer, hist, acc, err = train(LossConfig(conf_threshold=0.5, loc_start_accuracy=0.6))
    assert float(trainer.loc_gate.numpy()) == 1.0  # the switch opened
    assert hist["loc_on"][0] < 1.0 and hist["loc_on"][-1] == 1.0  # closed at first, open at the end
    assert acc > 0.6  # held-out landmark cells are classified
    # and localised: the untrained head (anchor positions) is 0.42 cell off on these images
    assert err < 0.35


def test_threshold_alone_no_longer_stalls_the_classifier():
    # before: the threshold also gated the class term, no landmark anchor passed 0.5 at the start, and the
    # landmarks were never learnt (held-out accuracy ~0.03). It gates only the localisation term now.
    _, _, acc, _ = train(LossConfig(conf_threshold=0.5))
    assert acc > 0.6


def test_gate_state_starts_open_without_a_switch():
    net = build_model(SPEC, ModelConfig(width=0.5, head_channels=16, head_depth=1))
    assert float(LandmarkTrainer(net, LossConfig()).loc_gate.numpy()) == 1.0
    assert float(LandmarkTrainer(net, LossConfig(loc_start_accuracy=0.5)).loc_gate.numpy()) == 0.0
    with pytest.raises(ValueError, match="loc_start_accuracy"):
        LossConfig(loc_start_accuracy=1.5)


# a fresh process: logical devices must be configured before TensorFlow starts
TWO_REPLICAS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras import ops
from test_trainer import SPEC, toy_batches
from keras_lmk.detector.losses import LossConfig, batch_loss
from keras_lmk.detector.model import ModelConfig, build_model
from keras_lmk.training.distribute import pick_strategy
from keras_lmk.training.trainer import LandmarkTrainer
strategy = pick_strategy("mirrored")
x, y = toy_batches(8)
with strategy.scope():
    keras.utils.set_random_seed(0)
    net = build_model(SPEC, ModelConfig(width=0.5, head_channels=16, head_depth=1))
    trainer = LandmarkTrainer(net, LossConfig())
    trainer.compile(optimizer=keras.optimizers.SGD(0.0))
halves = []  # what each replica computes: its half of the global batch, BatchNorm over that half
for part in (slice(0, 4), slice(4, 8)):
    out = {k: ops.cast(v, "float32") for k, v in net(x[part], training=True).items()}
    halves.append(float(batch_loss(out, {k: v[part] for k, v in y.items()}, LossConfig())[0]))
logged = trainer.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history["loss"][0]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "halves": halves, "logged": logged}))
"""


def test_two_replicas_log_and_train_the_global_batch_mean():
    """Under two replicas (two logical CPU devices) the logged loss is the mean of the replicas' losses on
    their halves of the global batch; it was their sum (and the gradients twice the mean's) before the loss
    was divided by the replica count, as Keras's own losses are."""
    tests = Path(__file__).resolve().parent
    out = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=600, cwd=tests
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["logged"] == pytest.approx(np.mean(result["halves"]), rel=1e-5)
