"""Run configuration: frozen nested dataclasses, named presets, YAML files and ``--set`` overrides.

    cfg = resolve_config(preset="debug", config_file=None, overrides=["train.epochs=2"])

Each module owns its own section's dataclass (``ModelConfig`` in model.py, ``LossConfig`` in losses.py, ...);
this module only composes them and names the presets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.loss_config import LossConfig
from keras_lmk.detector.model_config import ModelConfig
from keras_lmk.training.config_io import ConfigError, apply_overrides, load_yaml_config, replace_nested
from keras_lmk.training.pipeline_config import PipelineConfig


@dataclass(frozen=True)
class DataConfig:
    # one source or several joined by "+": synthetic, gtsdb, markings, lights, coco; "real" = the three real
    # sets (see keras_lmk/data/sources.py for their fixed validation splits)
    source: str = "synthetic"
    taxonomy: str = "korea"
    # built-in synthetic drive (generated once into the user cache, then reused)
    synthetic_frames: int = 1200
    synthetic_seed: int = 0
    synthetic_width: int = 640
    synthetic_height: int = 360
    # real data folders; "" = the shared data folder ($KERAS_LMK_DATA, else ../shared/data) + the set's name
    gtsdb_dir: str = ""
    gtsdb_mapping: str = "gtsdb_to_korea"
    # the project's own auxiliary-plate labels of GTSDB (keras_lmk/data/labels/); "" = plates unlabelled
    gtsdb_plates: str = "gtsdb_auxiliary.csv"
    markings_dir: str = ""
    lights_dir: str = ""
    lights_mapping: str = "traffic_light_kr_to_korea"
    # move training light boxes that sit beside the lit lamp onto it (keras_lmk/data/lamp_snap.py); the
    # validation labels stay as published
    lights_snap: bool = False
    # the project's own labels of the light photos' other five classes (signs, plates, road paint;
    # keras_lmk/data/labels/kr_landmarks.csv, or a path); "" = those classes unlabelled there
    kr_labels: str = ""
    # also train on mirrored copies of the marking frames, their points by the rule on the mirrored quads
    # (written once under the cache folder; the validation frames are never mirrored)
    markings_mirror: bool = False
    # complete negatives: a teacher's ignore-region file (keras_lmk/data/labels/ or a path); the real sources'
    # training images then teach every class as background outside those regions (keras_lmk/data/sources.py)
    ignore_regions: str = ""
    balance: bool = False  # repeat smaller sources' training images so each source weighs the same
    coco_json: str = ""
    coco_images: str = ""
    val_coco_json: str = ""  # explicit validation set; otherwise a split of the training data
    val_fraction: float = 0.15
    split_seed: int = 0
    skip_bad: bool = False


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 24
    steps_per_epoch: int | None = None  # None: one pass over the training split
    validation_steps: int | None = None
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    clipnorm: float = 5.0
    seed: int = 0
    mixed_precision: bool = False  # mixed_float16 on GPU
    jit_compile: bool = False  # XLA
    distribute: Literal["auto", "none", "mirrored", "multiworker"] = "auto"
    trajectory_every: int = 5  # steps between (L_cls, L_loc) samples for the FIG. 11 plot
    tensorboard: bool = True
    verbose: int = 1
    # after training, evaluate on the held-out split (RUN/eval/) and set the model card's decoder threshold to
    # the score of best pooled F1 there; off: the card keeps decoder.score_threshold as configured
    calibrate_threshold: bool = True
    # ... and each class with enough held-out landmarks its own (decoder.class_score_thresholds)
    calibrate_per_class: bool = True
    ema_momentum: float = 0.0  # > 0: keep an exponential moving average of the weights and ship it

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {self.epochs}")
        for name in ("steps_per_epoch", "validation_steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"train.{name} must be >= 1 or null, got {v}")
        if not self.learning_rate > 0 or self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ValueError("train.learning_rate must be > 0, weight_decay and warmup_epochs >= 0")
        if not 0 <= self.ema_momentum < 1:
            raise ValueError(f"train.ema_momentum must be in [0, 1), got {self.ema_momentum}")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    grid: GridSpec = field(default_factory=GridSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self):
        # a bounded offset head must reach every training target: a point within point_radius px of a cell
        # centre lies within point_radius / stride + 0.25 cells of that cell's farthest anchor (+ margin)
        bound, radius = self.model.offset_bound, self.pipeline.point_radius
        if bound is not None:
            need = None if radius is None else radius / self.grid.stride + 0.5
            if need is None or bound < need:
                raise ValueError(
                    f"model.offset_bound {bound} cells would clip training targets: it needs "
                    + (
                        "pipeline.point_radius (every cell of a box regresses the point)"
                        if need is None
                        else f">= pipeline.point_radius / grid.stride + 0.5 = {need:g}"
                    )
                )


PRESETS: dict[str, dict] = {
    # the default: the built-in synthetic drives
    "synthetic": {},
    "gtsdb": {"data": {"source": "gtsdb"}, "train": {"epochs": 40}},
    "synthetic+gtsdb": {"data": {"source": "synthetic+gtsdb"}},
    # the real-data recipe (the shipped model): the three real sets and the synthetic drives, balanced, at
    # 1664x992 with partial labels ignored where a source does not annotate a class; trained on 512x320 crops
    # at full-frame scale (docs/history.md has the recipe and what each lever gave)
    "real": {
        # light boxes beside the lit lamp moved onto it, training split only (real-v6)
        # complete negatives: every class is background in the real training images outside the teacher's
        # ignore regions (real-v22; real-v22's kit as teacher since real-v23; keras_lmk/data/labels/,
        # docs/real_data.md); the Korean photos' own labels of signs, plates and road paint (real-v23)
        "data": {
            "source": "real+synthetic",
            "balance": True,
            "synthetic_frames": 600,
            "lights_snap": True,
            "ignore_regions": "ignore_regions_real_v22.json",
            "kr_labels": "kr_landmarks.csv",
        },
        # real-v20 (1280x768 until real-v11, 1408x832 for real-v15, 1536x928 for real-v17); its markings need
        # side-balanced merging at this scale (demo_assets --side-balanced)
        "grid": {"input_height": 992, "input_width": 1664},
        "model": {"offset_bound": 3.5},  # cells: int8 points step <= (2 * 3.5 + 1) / 255 = 0.031 cell
        "pipeline": {
            "batch_size": 16,
            "train_crop": (512, 320),
            "crop_focus": 0.7,
            "point_radius": 24.0,  # px: a landmark trains its cells near its point (24 / 8 + 0.5 = 3.5)
            "far_cells": "background",  # a box's cells beyond point_radius: hard negatives (real-v3)
            "mined_negatives": 0.5,  # half the balanced background cells: the highest-loss ones (real-v6)
            # three background cells per landmark cell, 64 at least in a crop (real-v23; 1 and 32 before)
            "background_ratio": 3.0,
            "min_background": 64,
            "augment": {
                "zoom_min": 0.7,
                "zoom_max": 1.4,
                "translate": 0.05,
                "ignore_cut": True,
                # sign images flip (real-v20); crops holding a light do not (Korean horizontal lights have
                # no mirror image), nor marking frames (safe_only: a mirrored lower-right end is lower-left)
                "hflip_prob": 0.5,
                "hflip_exclude_classes": ("signal",),
                # real sign crops pasted into other training images (real-v7), down to half their size
                # for more small signs (real-v11); plates too, drawn half-balanced per class (real-v23)
                "copy_paste": {
                    "classes": ("warning", "regulatory", "indicating", "auxiliary"),
                    "scale_min": 0.5,
                    "balance": 0.5,
                },
            },
        },
        "train": {"epochs": 30, "learning_rate": 3e-3, "ema_momentum": 0.999, "warmup_epochs": 1.0},
        # votes of one landmark closer than 10 model-input px merge (chosen on the real validation splits
        # with real-v3: lights AP 0.38 / 0.47 / 0.47 / 0.34 / 0.32 at 8 / 10 / 12 / 14 / 16 px, others flat)
        # a weaker detection within 16 px of a kept one of its class is dropped (real-v23's kit; chosen on the
        # validation splits with real-v22: lights precision 0.47 -> 0.61 at equal recall)
        "decoder": {"merge_radius_px": 10.0, "merge_across_classes": True, "suppress_radius_px": 16.0},
    },
    # about 40 s on a 2-core CPU (mostly TensorFlow start-up and tracing): wiring checks, CI
    "debug": {
        "data": {
            "synthetic_frames": 24,
            "synthetic_width": 256,
            "synthetic_height": 144,
            "val_fraction": 0.25,
        },
        "grid": {"input_height": 96, "input_width": 160},
        "pipeline": {"batch_size": 4, "shuffle_buffer": 16},
        "train": {"epochs": 2, "steps_per_epoch": 3, "validation_steps": 1, "tensorboard": False},
    },
}


def _on_top(base: dict, extra: dict) -> dict:
    """Nested dict ``base`` with ``extra``'s values in place of its own (one preset built on another)."""
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _on_top(base[key], value) if both else value
    return out


# the shipped model's float weights (in a clone of the repository; a wheel does not ship them)
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "real-v23.weights.h5"

# fine-tune the shipped model on your own COCO file (--set data.coco_json=...): its network and weights, and
# real-v20's own last stage (8 x 250 steps at 4e-4 after a 0.2-epoch warm-up; 37 min of training on 2 CPU
# cores, see docs/training.md). Without the real data's sign-crop pasting (it needs signs in your data).
PRESETS["finetune"] = _on_top(
    PRESETS["real"],
    {
        # the real preset's data settings are about its own sets (their ignore regions, light snapping)
        "data": {
            "source": "coco",
            "balance": False,
            "lights_snap": False,
            "ignore_regions": "",
            "kr_labels": "",
        },
        "model": {"weights_path": str(SHIPPED_WEIGHTS)},
        "pipeline": {"augment": {"copy_paste": {"classes": ()}}},
        "train": {"epochs": 8, "steps_per_epoch": 250, "learning_rate": 4e-4, "warmup_epochs": 0.2},
    },
)


def resolve_config(preset: str = "synthetic", config_file: str | None = None, overrides=()) -> Config:
    """Preset, then YAML file, then ``--set`` overrides (later wins)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    cfg = replace_nested(Config(), PRESETS[preset])
    if config_file:
        cfg = load_yaml_config(cfg, config_file)
    cfg = apply_overrides(cfg, list(overrides))
    return cfg


# what a checkpoint's weights and outputs were built for: a resumed run may not change these
NETWORK_KEYS = ("grid", "model", "data.taxonomy")


def resume_config(saved_yaml: str | Path, config_file: str | None = None, overrides=()) -> Config:
    """The config of a resumed run: the run's own resolved ``config.yaml``, then ``config_file`` and
    ``overrides`` on top (to extend epochs, say). Changing the network (``NETWORK_KEYS``) is a ConfigError."""
    saved = load_yaml_config(Config(), saved_yaml)
    cfg = load_yaml_config(saved, config_file) if config_file else saved
    cfg = apply_overrides(cfg, list(overrides))
    changed = []
    for key in NETWORK_KEYS:
        section, _, name = key.partition(".")
        old, new = getattr(saved, section), getattr(cfg, section)
        if name:
            old, new = {name: getattr(old, name)}, {name: getattr(new, name)}
        else:
            old, new = dataclasses.asdict(old), dataclasses.asdict(new)
        changed += [f"{section}.{k}: {old[k]!r} -> {new[k]!r}" for k in old if old[k] != new[k]]
    if changed:
        raise ConfigError(
            f"{saved_yaml}: --resume cannot change the network the checkpoint was built for "
            f"({'; '.join(changed)}); start a new --run-dir instead"
        )
    return cfg


def with_num_classes(cfg: Config, num_classes: int) -> Config:
    """The grid's class count always follows the taxonomy."""
    return dataclasses.replace(cfg, grid=dataclasses.replace(cfg.grid, num_classes=num_classes))
