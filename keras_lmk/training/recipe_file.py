"""The recipe file: a model's stages from scratch as one versioned YAML file, read and checked up front.

    recipe = load_recipe("recipes/real.yaml")   # RecipeError (a ValueError) naming the file and the stage

``version`` (the recipe's own, bumped when a stage changes) and ``stages``, a list run in order, each with a
``name`` (its folder ``RUN/<name>/``) and a ``run`` kind:

- ``train``: ``preset``, ``set`` (config key: value; the stage's whole config is resolved here, so an unknown
  key or a wrong type fails before anything runs), ``weights`` (an earlier train stage whose weights,
  ``model.weights.h5``, become ``model.weights_path``; none: random weights), ``ignore_regions`` (an
  earlier ignore_regions stage whose file becomes ``data.ignore_regions``).
- ``ignore_regions``: ``model`` (a train stage, the teacher) and ``options`` of ``python -m
  keras_lmk.ignore_regions`` (threshold, sources, threads).
- ``kit``: ``model`` (a train stage) and ``options`` of ``python -m keras_lmk.demo_assets`` (``lamp_refine:
  true`` is ``--lamp-refine``).

The runner and the commands each stage becomes: :mod:`keras_lmk.training.recipe`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from keras_lmk.training.config import PRESETS, resolve_config
from keras_lmk.training.config_io import ConfigError, read_yaml_mapping

KINDS = {
    "train": ("name", "run", "preset", "set", "weights", "ignore_regions"),
    "ignore_regions": ("name", "run", "model", "options"),
    "kit": ("name", "run", "model", "options"),
}
# each kind's options: their type (bool = a flag without a value)
OPTIONS = {
    "ignore_regions": {"threshold": float, "sources": list, "threads": int},
    "kit": {
        "samples": int,
        "calib_steps": int,
        "localization_threshold": float,
        "calibrate_on": str,
        "lamp_refine": bool,
        "side_balanced": bool,
        "input_size": str,
        "merge_across_classes": bool,
        "suppress_radius": float,
        "score_threshold": float,
    },
}
IGNORE_FILE = "ignore_regions.json"
WEIGHTS_FILE = "model.weights.h5"  # a train stage's final weights, written beside its model.keras
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class RecipeError(ValueError):
    """A recipe file, or a run directory, that cannot be run as asked; the message names the file."""


@dataclass(frozen=True)
class Stage:
    name: str
    run: str
    preset: str = ""
    overrides: tuple[str, ...] = ()  # train: the recipe's own --set KEY=VALUE, in file order
    weights: str = ""  # train: the stage whose weights start this one ("" = random weights)
    ignore_regions: str = ""  # train: the stage whose ignore-region file is data.ignore_regions
    model: str = ""  # ignore_regions, kit: the train stage whose model it uses
    options: tuple[tuple[str, object], ...] = ()  # ignore_regions, kit: command-line options


@dataclass(frozen=True)
class Recipe:
    path: Path
    version: object
    stages: tuple[Stage, ...]

    def names(self) -> list[str]:
        return [s.name for s in self.stages]


# ------------------------------------------------------------------------------------------------ reading


def format_value(value) -> str:
    """A recipe value as ``--set KEY=VALUE`` writes it: read back as YAML by the training CLI, it is the
    same value (a string YAML would read otherwise is quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        try:
            same = value == "" or yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        return value if same else json.dumps(value)
    raise TypeError(f"{value!r}: not a config value")


def _check_option(where: str, key: str, value, kind: type) -> None:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        want = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list"}
        raise RecipeError(f"{where}: option {key}: expected {want[kind]}, got {value!r}")


def _stage(path: Path, raw, earlier: list[Stage]) -> Stage:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not NAME.fullmatch(raw["name"]):
        raise RecipeError(
            f"{path}: each stage is a mapping with a name (letters, digits, - _ .), got {raw!r}"
        )
    name, run = raw["name"], raw.get("run")
    where = f"{path}: stage {name!r}"
    if name in [s.name for s in earlier]:
        raise RecipeError(f"{path}: two stages named {name!r}")
    if run not in KINDS:
        raise RecipeError(f"{where}: run: {run!r} is not one of {', '.join(KINDS)}")
    unknown = sorted(set(raw) - set(KINDS[run]))
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; a {run} stage takes {KINDS[run]}")

    def earlier_stage(key: str, kind: str, required: bool) -> str:
        ref = raw.get(key, "")
        if (ref or required) and ref not in [s.name for s in earlier if s.run == kind]:
            raise RecipeError(f"{where}: {key}: {ref!r} is not an earlier {kind} stage")
        return ref

    if run != "train":
        model = earlier_stage("model", "train", required=True)
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise RecipeError(f"{where}: options must be a mapping, got {options!r}")
        for key, value in options.items():
            if key not in OPTIONS[run]:
                raise RecipeError(f"{where}: unknown option {key!r}; known: {', '.join(OPTIONS[run])}")
            _check_option(where, key, value, OPTIONS[run][key])
        return Stage(name, run, model=model, options=tuple(options.items()))

    weights = earlier_stage("weights", "train", required=False)
    ignore = earlier_stage("ignore_regions", "ignore_regions", required=False)
    settings = raw.get("set") or {}
    if not isinstance(settings, dict):
        raise RecipeError(f"{where}: set must be a mapping of config keys to values, got {settings!r}")
    for key, own, given in (
        ("model.weights_path", "weights", weights),
        ("data.ignore_regions", "ignore_regions", ignore),
    ):
        if given and key in settings:
            raise RecipeError(f"{where}: {key} is set by `{own}: {given}` already, not both")
    stage = Stage(
        name,
        run,
        preset=raw.get("preset"),
        overrides=tuple(f"{k}={format_value(v)}" for k, v in settings.items()),
        weights=weights,
        ignore_regions=ignore,
    )
    if stage.preset not in PRESETS:
        raise RecipeError(f"{where}: unknown preset {stage.preset!r}; known: {', '.join(PRESETS)}")
    try:  # the config the stage will train with, checked now rather than hours from now
        resolve_config(stage.preset, None, train_overrides(stage, Path("RUN")))
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{where}: {e}") from None
    return stage


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file: every key, reference and training override."""
    path = Path(path)
    try:
        raw = read_yaml_mapping(path, "recipe")
    except ConfigError as e:
        raise RecipeError(f"{e}; a recipe is a mapping with version and stages") from None
    unknown = sorted(set(raw) - {"version", "stages"})
    if unknown:
        raise RecipeError(f"{path}: unknown key(s) {', '.join(map(str, unknown))}; known: version, stages")
    if not isinstance(raw.get("version"), int | str) or isinstance(raw.get("version"), bool):
        raise RecipeError(f"{path}: no `version:` (a number or a string, bumped when a stage changes)")
    if not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise RecipeError(f"{path}: no `stages:` (a list of stages, run in order)")
    stages: list[Stage] = []
    for item in raw["stages"]:
        stages.append(_stage(path, item, stages))
    return Recipe(path, raw["version"], tuple(stages))


def train_overrides(stage: Stage, run_dir: Path) -> list[str]:
    """The stage's --set overrides: its own, then the outputs of the stages it starts from."""
    out = list(stage.overrides)
    if stage.weights:
        out.append(f"model.weights_path={run_dir / stage.weights / WEIGHTS_FILE}")
    if stage.ignore_regions:
        out.append(f"data.ignore_regions={run_dir / stage.ignore_regions / IGNORE_FILE}")
    return out
