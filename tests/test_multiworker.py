"""Two real workers on this machine (``MultiWorkerMirroredStrategy``, one CPU replica each, loopback ports
chosen at run time): the README's multi-machine recipe, run to completion, then a worker killed mid-run and
the run resumed. Each worker is ``python -m keras_lmk.train`` with its own ``TF_CONFIG``; its output goes to
a log file that the test reads (the worker's in-memory weights are in it as a sha256 fingerprint).

Marked slow (several minutes on a 2-core machine, most of it tracing the step functions in three processes):
``python -m pytest -m slow tests/test_multiworker.py``."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

# the README's recipe (README.md, "Several machines"), after --run-dir
RECIPE = [
    "--preset", "debug",
    "--set", "train.distribute=multiworker",
    "--set", "train.tensorboard=true",
    "--set", "train.trajectory_every=1",
]  # fmt: skip
TIMEOUT_S = 900  # a generous bound for a loaded 2-core machine
FINGERPRINT = re.compile(r"weights sha256 ([0-9a-f]{16})")
# the single-process reference: the same two replicas, as two logical CPU devices of one process
REFERENCE = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_lmk.train import main
sys.exit(main(sys.argv[1:]))
"""


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:  # all bound at once: n different ports
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(argv: list[str], log: Path, tf_config: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, *argv], env=env, stdout=out, stderr=subprocess.STDOUT)


def start_workers(run_dir: Path, args: list[str], tag: str) -> tuple[list[subprocess.Popen], list[Path]]:
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    logs = [run_dir.parent / f"{tag}-worker{i}.log" for i in range(2)]
    procs = [
        start(
            ["-m", "keras_lmk.train", "--run-dir", str(run_dir), *args],
            logs[i],
            {"cluster": cluster, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    ]
    return procs, logs


def wait(procs: list[subprocess.Popen], logs: list[Path], timeout: float = TIMEOUT_S) -> list[int]:
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs)
        pytest.fail(f"workers still running after {timeout} s:\n{tails}")


def files_of(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def history(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(run_dir / "history.csv")))


def saved_weights(path: Path) -> tuple[str, list[np.ndarray]]:
    from keras_lmk.detector.model import load_model
    from keras_lmk.training.distribute import weights_fingerprint

    net = load_model(path)
    return weights_fingerprint(net), [np.asarray(w) for w in net.get_weights()]


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    """The recipe's two workers, and beside them the same training in one process (the reference)."""
    root = tmp_path_factory.mktemp("multiworker")
    t0 = time.monotonic()
    procs, logs = start_workers(root / "run", RECIPE, "run")
    ref_args = ["--run-dir", str(root / "reference"), *RECIPE]
    ref_args[ref_args.index("train.distribute=multiworker")] = "train.distribute=mirrored"
    logs.append(root / "reference.log")
    procs.append(start(["-c", REFERENCE, *ref_args], logs[-1]))
    codes = wait(procs, logs)
    seconds = time.monotonic() - t0
    assert codes == [0, 0, 0], "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs)
    print(f"two workers + reference: {seconds:.0f} s")
    return root / "run", root / "reference", [log.read_text() for log in logs]


@pytest.mark.slow
def test_two_workers_write_one_run_directory(two_worker_run):
    run_dir, reference, (chief_log, worker_log, _) = two_worker_run
    # exactly the files a one-process run writes: the chief's, no second copy, no worker temp dir left
    not_tb = {f for f in files_of(run_dir) if not f.startswith("tb/")}  # (event file names hold a pid)
    assert not_tb == {f for f in files_of(reference) if not f.startswith("tb/")}
    chief_only = ["model.keras", "model_card.json", "eval/metrics.json", "history.csv", "trajectory.csv",
                  "checkpoints/last.keras", "checkpoints/last_state.npz", "summary.json"]  # fmt: skip
    assert set(chief_only) <= files_of(run_dir)
    assert len([f for f in files_of(run_dir) if f.startswith("tb/train/events.out.tfevents")]) == 1
    assert not list(run_dir.glob(".worker*"))
    assert "worker 0 of 2 (chief, writes the run directory)" in chief_log
    assert f"[6/6] saved {run_dir / 'model.keras'}" in chief_log
    assert f"checkpoints to {run_dir / '.worker1-tmp'}" in worker_log
    assert "the chief saves" in worker_log and "[6/6] saved" not in worker_log
    for log in (chief_log, worker_log):
        assert "global batch 8 = 4 per replica x 2 replica(s); 3 global steps an epoch" in log
        assert "cosine over 6 global steps" in log  # the schedule counts global steps: 2 epochs x 3


@pytest.mark.slow
def test_both_workers_end_with_the_chiefs_saved_weights(two_worker_run):
    run_dir, _, (chief_log, worker_log, _) = two_worker_run
    saved, _ = saved_weights(run_dir / "model.keras")
    assert FINGERPRINT.findall(worker_log) == [saved]  # the other worker's weights, in its memory
    assert FINGERPRINT.findall(chief_log) == [saved]
    with np.load(run_dir / "checkpoints" / "last_state.npz") as state:
        assert int(state["v0000"]) == 6  # optimizer.iterations: global steps, not 2 x 6 replica steps


@pytest.mark.slow
def test_losses_match_one_process_on_the_same_global_batches(two_worker_run):
    """Each step's global batch of 8 is split in two halves of 4: one per worker there, one per logical CPU
    device in the reference. Same batches, same BatchNorm groups, same averaging: the same numbers."""
    run_dir, reference, _ = two_worker_run
    traj = np.loadtxt(run_dir / "trajectory.csv", delimiter=",", skiprows=1)
    ref_traj = np.loadtxt(reference / "trajectory.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(traj[0], ref_traj[0], rtol=1e-5)  # step 1: the same global batch
    np.testing.assert_allclose(traj, ref_traj, rtol=1e-4)
    for row, ref in zip(history(run_dir), history(reference), strict=True):
        for key in ("loss", "cls", "loc", "val_loss"):
            assert float(row[key]) == pytest.approx(float(ref[key]), rel=1e-4), key
    _, weights = saved_weights(run_dir / "model.keras")
    _, ref_weights = saved_weights(reference / "model.keras")
    for w, r in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(w, r, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_killed_worker_stops_the_run_and_resume_continues_after_the_last_epoch(tmp_path):
    """SIGKILL worker 1 during epoch 2: the chief stops within seconds with a message saying how to go on,
    the epoch-1 checkpoint stays; the same command plus --resume on both workers finishes epoch 2."""
    run_dir = tmp_path / "run"
    args = [*RECIPE, "--set", "train.calibrate_threshold=false"]  # (calibration: the test above)
    procs, logs = start_workers(run_dir, args, "killed")
    epoch1 = run_dir / "checkpoints" / "last_state.npz"
    deadline = time.monotonic() + TIMEOUT_S
    while not epoch1.exists():
        assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
        assert time.monotonic() < deadline, "no epoch-1 checkpoint"
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert wait(procs, logs) == [1, -signal.SIGKILL]
    print(f"the chief stopped {time.monotonic() - killed:.1f} s after the kill")
    message = logs[0].read_text()
    assert (
        "error: worker 0 of 2 (chief, writes the run directory): lost contact with the other workers"
        in message
    )
    assert "(no heartbeat from /job:worker/replica:0/task:1)" in message  # TensorFlow's health check
    assert f"The last complete epoch is in {run_dir / 'checkpoints'}" in message and "--resume" in message
    assert [int(r["epoch"]) for r in history(run_dir)] == [1]
    assert (run_dir / ".worker1-tmp").exists()  # a SIGKILLed process cannot clean up; its next start does

    procs, logs = start_workers(run_dir, [*args, "--resume"], "resumed")
    codes = wait(procs, logs)
    chief_log, worker_log = (log.read_text() for log in logs)
    assert codes == [0, 0], chief_log[-3000:] + worker_log[-3000:]
    for log in (chief_log, worker_log):
        assert "resumed after epoch 1" in log and "fit: epochs 2..2" in log
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2]
    assert not list(run_dir.glob(".worker*"))
    saved, _ = saved_weights(run_dir / "model.keras")
    assert FINGERPRINT.findall(worker_log) == FINGERPRINT.findall(chief_log) == [saved]


def test_the_documented_recipe_is_what_these_tests_run():
    # the README is for users and links docs/training.md, where multi-worker training is documented
    guide = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    assert " ".join(RECIPE) in guide
