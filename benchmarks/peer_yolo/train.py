"""Train the peer from scratch into a run directory, resumably; and the per-step CPU cost of both detectors.

Run directory (outside the repository, e.g. ~/runs/peer-yolov8):

- ``config.json``: the settings of the run (peer, schedule, data, pipeline), written once; ``--resume``
  reads it back, so a resumed run is the same run;
- ``checkpoints/step-NNNNNN/`` (``weights.weights.h5`` + ``state.npz``: optimizer variables and the
  run state) and ``checkpoints/latest`` naming the newest, switched atomically after both files are written,
  so a kill at any moment leaves the previous checkpoint whole; the two newest are kept;
- ``snapshots/step-NNNNNN.weights.h5``: the moving-average weights every ``snapshot_every`` steps (what the
  evaluation reads: the peer at several budgets), ``final.weights.h5`` at the end;
- ``progress.csv``: per checkpoint, steps, mean loss of the interval, process CPU seconds and wall seconds
  (both summed over every resume: the budget actually spent).
"""

from __future__ import annotations

import csv
import io
import json
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from keras_lmk.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

# the shipped model's chain of runs in steps of 16 crops of 512x320: real-v22's 91 epochs x 250 steps
# (recipes/real.yaml) and real-v23's 5 x 250 on top (docs/history.md)
OURS_STEPS = 22_750 + 1_250


@dataclass(frozen=True)
class TrainSettings:
    steps: int  # total optimizer steps of ``batch_size`` crops (one cosine over them)
    steps_per_checkpoint: int = 50
    snapshot_every: int = 1250  # steps between moving-average snapshots kept for evaluation
    # Ultralytics' automatic choice for a short run and 6 classes: AdamW at 0.002 * 5 / (4 + 6) = 1e-3,
    # decoupled weight decay 5e-4 (not on biases or normalisation), gradient norm clipped at 10
    learning_rate: float = 1e-3
    weight_decay: float = 5e-4
    warmup_steps: int = 250  # one of our epochs, as the real preset's from-scratch warm-up
    clipnorm: float = 10.0
    ema_momentum: float = 0.999  # the real preset's
    seed: int = 0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_optimizer(s: TrainSettings) -> keras.optimizers.Optimizer:
    from keras_lmk.training.schedule import WarmupCosine

    schedule = WarmupCosine(
        initial=s.learning_rate * 0.05,
        peak=s.learning_rate,
        warmup_steps=s.warmup_steps,
        decay_steps=max(1, s.steps - s.warmup_steps),
        alpha=0.02,
    )
    opt = keras.optimizers.AdamW(
        schedule,
        weight_decay=s.weight_decay,
        global_clipnorm=s.clipnorm,
        use_ema=True,
        ema_momentum=s.ema_momentum,
    )
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt


def compile_peer(net, s: TrainSettings) -> keras.optimizers.Optimizer:
    opt = make_optimizer(s)
    # KerasCV's YOLOv8 loss: CIoU on the decoded boxes (weight 7.5) and BCE on the task-aligned class
    # targets (0.5), both normalised by the sum of target scores; no separate distribution focal loss
    net.compile(optimizer=opt, box_loss="ciou", classification_loss="binary_crossentropy", jit_compile=False)
    return opt


def ema_weights(net, opt) -> list[np.ndarray]:
    """The model's weights with the optimizer's moving averages in place of the trainable ones."""
    avg = {
        id(v): a for v, a in zip(opt._trainable_variables, opt._model_variables_moving_average, strict=True)
    }  # noqa: SLF001
    return [np.asarray(avg[id(v)].numpy() if id(v) in avg else v.numpy()) for v in net.weights]


def save_weights_file(net, weights: list[np.ndarray] | None, path: Path) -> None:
    """``net.save_weights`` to ``path`` (``*.weights.h5``) atomically, after ``net.set_weights(weights)``
    when given (a compiled model's file also holds its optimizer's variables)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    if weights is not None:
        net.set_weights(weights)
    net.save_weights(tmp)
    tmp.replace(path)


class PeerCheckpoint(keras.callbacks.Callback):
    """Every epoch (``steps_per_checkpoint`` steps): checkpoint, progress row, snapshot when due."""

    def __init__(self, run_dir: Path, net, opt, s: TrainSettings, state: dict, bare):
        """``bare``: an uncompiled twin of ``net`` that writes the snapshots (weights only)."""
        super().__init__()
        self.run_dir, self.net, self.opt, self.s, self.state = run_dir, net, opt, s, state
        self.bare = bare
        self.cpu0, self.wall0 = cpu_seconds(), time.time()
        self.cpu_base, self.wall_base = state.get("cpu_s", 0.0), state.get("wall_s", 0.0)

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.s.steps_per_checkpoint
        loss = float((logs or {}).get("loss", float("nan")))
        if not np.isfinite(loss):
            self.model.stop_training = True
            print(f"non-finite loss at step {step}: stopped, the last checkpoint stays", flush=True)
            return
        cpu = self.cpu_base + cpu_seconds() - self.cpu0
        wall = self.wall_base + time.time() - self.wall0
        self.state.update(step=step, cpu_s=round(cpu, 1), wall_s=round(wall, 1))
        ckpt = self.run_dir / "checkpoints" / f"step-{step:06d}"
        save_weights_file(self.net, None, ckpt / "weights.weights.h5")
        buf = io.BytesIO()
        opt_vars = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self.opt.variables)}
        np.savez(buf, state_json=np.array(json.dumps(self.state)), **opt_vars)
        atomic_write_bytes(ckpt / "state.npz", buf.getvalue())
        atomic_write_text(self.run_dir / "checkpoints" / "latest", ckpt.name + "\n")
        for old in sorted((self.run_dir / "checkpoints").glob("step-*"))[:-2]:
            shutil.rmtree(old, ignore_errors=True)
        if step % self.s.snapshot_every == 0 or step >= self.s.steps:
            name = "final" if step >= self.s.steps else f"step-{step:06d}"
            snapshot = self.run_dir / "snapshots" / f"{name}.weights.h5"
            save_weights_file(self.bare, ema_weights(self.net, self.opt), snapshot)
        logs = logs or {}
        row = [step, loss, logs.get("box_loss", np.nan), logs.get("class_loss", np.nan), cpu, wall]
        progress = self.run_dir / "progress.csv"
        new = not progress.exists()
        with progress.open("a", newline="") as f:
            if new:
                f.write("step,loss,box_loss,class_loss,cpu_s,wall_s\n")
            csv.writer(f).writerow([row[0], *(f"{v:.4f}" for v in row[1:4]), f"{cpu:.0f}", f"{wall:.0f}"])
        rate = (cpu - self.cpu_base) / max(1, step - self.state["start_step"])
        print(
            f"step {step}/{self.s.steps} loss {loss:.3f}; {cpu:.0f} CPU s in all, {rate:.1f} CPU s/step",
            flush=True,
        )


def restore(run_dir: Path, net, opt) -> dict:
    """Load the latest checkpoint into ``net`` and ``opt``; returns its run state."""
    from keras_lmk.training.trainer import restore_optimizer_state

    ckpt = run_dir / "checkpoints" / (run_dir / "checkpoints" / "latest").read_text().strip()
    state = restore_optimizer_state(opt, net, ckpt / "state.npz")  # builds the optimizer first
    net.load_weights(ckpt / "weights.weights.h5")
    return state


def ours_section(preset: str, overrides: list[str]) -> dict:
    """The run config's ``ours`` section: the preset, the ``--set`` overrides and the config they resolve to
    now (kept, so that a run resumed after the preset changed still reads the data it started on)."""
    from keras_lmk.training.config import resolve_config
    from keras_lmk.training.config_io import to_dict

    return {
        "preset": preset,
        "set": list(overrides),
        "resolved": to_dict(resolve_config(preset, overrides=overrides)),
    }


def our_config(config: dict):
    """Our ``Config`` for the run's data and pipeline (its ``ours`` section's resolved config)."""
    from keras_lmk.data.taxonomy import load_taxonomy
    from keras_lmk.training.config import Config, with_num_classes
    from keras_lmk.training.config_io import replace_nested

    cfg = replace_nested(Config(), config["ours"]["resolved"])
    return with_num_classes(cfg, load_taxonomy(cfg.data.taxonomy).num_classes)


def training_data(cfg):
    """(taxonomy, our training records): ``load_training_records`` with the run's DataConfig."""
    from keras_lmk.data.sources import load_training_records
    from keras_lmk.data.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(cfg.data.taxonomy)
    train, _ = load_training_records(cfg.data, taxonomy)
    return taxonomy, train


def train(run_dir: Path, config: dict, *, resume: bool) -> dict:
    """Train (or, with ``resume``, continue from its latest checkpoint) the run described by ``config``:
    ``{"peer": PeerConfig fields, "train": TrainSettings fields, "ours": {"preset", "set"}}``."""
    from .data import corner_boxed_markings, peer_dataset
    from .model import PeerConfig, build_peer

    s = TrainSettings(**config["train"])
    cfg = our_config(config)
    keras.utils.set_random_seed(s.seed)
    taxonomy, records = training_data(cfg)
    peer_cfg = PeerConfig(**config["peer"])
    if peer_cfg.marking_box == "corner":
        records = corner_boxed_markings(records, taxonomy)
    elif peer_cfg.marking_box != "bbox":
        raise ValueError(f"marking_box must be 'bbox' or 'corner', got {peer_cfg.marking_box!r}")
    n_lmk = sum(r.num_landmarks for r in records)
    net = build_peer(taxonomy.num_classes - 1, peer_cfg)
    opt = compile_peer(net, s)
    state = {"step": 0, "cpu_s": 0.0, "wall_s": 0.0}
    if resume and (run_dir / "checkpoints" / "latest").exists():
        state = restore(run_dir, net, opt)
    elif resume:
        print(f"--resume: no checkpoint in {run_dir / 'checkpoints'}, starting fresh")
    state["start_step"] = state["step"]
    crop = cfg.pipeline.train_crop
    print(
        f"peer YOLOv8n: {net.count_params():,} parameters; {len(records)} training images ({n_lmk} "
        f"landmarks), batches of {cfg.pipeline.batch_size} {crop[0]}x{crop[1]} crops of the "
        f"{cfg.grid.input_width}x{cfg.grid.input_height} letterbox; step {state['step']} of {s.steps}",
        flush=True,
    )
    if state["step"] >= s.steps:
        return state
    # a resumed run draws new shuffles and augmentations instead of repeating the first steps'
    ds = peer_dataset(records, cfg.grid, cfg.pipeline, taxonomy=taxonomy, seed=s.seed + state["step"])
    spe = s.steps_per_checkpoint
    net.fit(
        ds,
        epochs=s.steps // spe,
        initial_epoch=state["step"] // spe,
        steps_per_epoch=spe,
        callbacks=[
            PeerCheckpoint(run_dir, net, opt, s, state, build_peer(taxonomy.num_classes - 1, peer_cfg))
        ],
        verbose=0,
    )
    return state


def measure_step_cost(config: dict, steps: int) -> dict:
    """CPU seconds per training step of ours and of the peer on the same training data, batch and crops
    (our ``real`` preset's model, loss and optimizer; the peer as :func:`train` builds it), each after two
    warm-up steps (tracing), one after the other in this process."""
    from keras_lmk.detector.model import build_model
    from keras_lmk.training.pipeline import make_dataset
    from keras_lmk.training.trainer import LandmarkTrainer

    from .data import peer_dataset
    from .model import PeerConfig, build_peer

    cfg = our_config(config)
    taxonomy, records = training_data(cfg)
    ours = LandmarkTrainer(build_model(cfg.pipeline.train_spec(cfg.grid), cfg.model), cfg.loss)
    ours.compile(optimizer=keras.optimizers.AdamW(1e-3, use_ema=True), jit_compile=False)
    ours_ds = make_dataset(records, cfg.grid, cfg.pipeline, taxonomy=taxonomy, training=True).repeat()
    peer = build_peer(taxonomy.num_classes - 1, PeerConfig(**config["peer"]))
    compile_peer(peer, TrainSettings(**config["train"]))
    peer_ds = peer_dataset(records, cfg.grid, cfg.pipeline, taxonomy=taxonomy)
    out = {"steps": steps, "batch": cfg.pipeline.batch_size, "crop": list(cfg.pipeline.train_crop)}
    for name, model, ds in (("ours", ours, ours_ds), ("peer", peer, peer_ds)):
        model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
        c0, t0 = cpu_seconds(), time.time()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
        out[f"{name}_cpu_s_per_step"] = round((cpu_seconds() - c0) / steps, 3)
        out[f"{name}_wall_s_per_step"] = round((time.time() - t0) / steps, 3)
        print(
            f"{name}: {out[f'{name}_cpu_s_per_step']} CPU s/step, {out[f'{name}_wall_s_per_step']} s/step",
            flush=True,
        )
    out["peer_over_ours"] = round(out["peer_cpu_s_per_step"] / out["ours_cpu_s_per_step"], 3)
    out["equal_cpu_steps"] = int(round(OURS_STEPS / out["peer_over_ours"]))
    return out


def write_config_once(run_dir: Path, config: dict) -> dict:
    """The run's config: written on the first start, read back (and used instead of ``config``) after."""
    path = run_dir / "config.json"
    if path.exists():
        return json.loads(path.read_text())
    atomic_write_json(path, config)
    return config
