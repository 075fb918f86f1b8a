"""The recipe file: read and checked before anything runs (each stage's keys, its references to earlier
stages, its whole training config), its values written as the training CLI reads them back, and the shipped
recipe's schedule."""

import re
from pathlib import Path

import pytest
import yaml

from keras_lmk.training.config import resolve_config
from keras_lmk.training.recipe import REPO
from keras_lmk.training.recipe_file import RecipeError, format_value, load_recipe, train_overrides

SHIPPED = REPO / "recipes" / "real.yaml"


def write_recipe(path: Path, stages: list, version=3) -> Path:
    path.write_text(yaml.safe_dump({"version": version, "stages": stages}, sort_keys=False))
    return path


# a small recipe with every kind of stage: train from scratch, teacher, train on, kit
SMALL = [
    {"name": "a", "run": "train", "preset": "debug", "set": {"train.epochs": 1, "data.ignore_regions": ""}},
    {"name": "t", "run": "ignore_regions", "model": "a", "options": {"threshold": 0.5}},
    {
        "name": "b",
        "run": "train",
        "preset": "debug",
        "weights": "a",
        "ignore_regions": "t",
        "set": {"train.learning_rate": 0.0004},
    },
    {"name": "kit", "run": "kit", "model": "b", "options": {"samples": 1, "lamp_refine": True}},
]


@pytest.mark.parametrize(
    "stages, message",
    [
        ([{**SMALL[0], "sett": {}}], "stage 'a': unknown key.*sett"),
        ([{**SMALL[0], "set": {"train.epoch": 3}}], "stage 'a'.*unknown config key: train.epoch"),
        ([{**SMALL[0], "set": {"train.epochs": "many"}}], "stage 'a'.*train.epochs: expected an integer"),
        ([{**SMALL[0], "preset": "rea"}], "stage 'a'.*unknown preset 'rea'"),
        ([{**SMALL[0], "run": "fit"}], "stage 'a'.*run: 'fit'.*train, ignore_regions, kit"),
        ([SMALL[1], SMALL[0]], "stage 't'.*model: 'a' is not an earlier train stage"),
        ([SMALL[0], {**SMALL[2], "weights": "c"}], "stage 'b'.*weights: 'c' is not an earlier train stage"),
        # an earlier stage, but of another kind: the teacher has no weights, a model no ignore regions
        ([*SMALL[:2], {**SMALL[2], "weights": "t"}], "stage 'b'.*weights: 't' is not an earlier train stage"),
        (
            [*SMALL[:2], {**SMALL[2], "ignore_regions": "a"}],
            "stage 'b'.*ignore_regions: 'a' is not an earlier ignore_regions stage",
        ),
        ([SMALL[0], SMALL[0]], "two stages named 'a'"),
        (
            [SMALL[0], {**SMALL[3], "model": "a", "options": {"sample": 1}}],
            "stage 'kit'.*unknown option.*sample",
        ),
        (
            [SMALL[0], {**SMALL[3], "model": "a", "options": {"lamp_refine": "yes"}}],
            "lamp_refine: expected true/false",
        ),
        (
            [SMALL[0], {**SMALL[1], "model": "a"}, {**SMALL[2], "set": {"model.weights_path": "x.h5"}}],
            "stage 'b'.*model.weights_path.*weights:",
        ),
    ],
)
def test_a_bad_stage_is_an_error_naming_the_file_and_the_stage(tmp_path, stages, message):
    path = write_recipe(tmp_path / "bad.yaml", stages)
    with pytest.raises(RecipeError, match=re.escape(str(path)) + ".*" + message):
        load_recipe(path)


def test_override_values_are_written_as_the_training_cli_reads_them():
    assert format_value("") == ""
    assert format_value(0.0004) == "0.0004"
    assert format_value(True) == "true"
    assert format_value(None) == "null"
    assert format_value(["warning", "regulatory"]) == "[warning, regulatory]"
    assert format_value("true") == '"true"'  # a string that YAML would read as a bool stays a string
    assert format_value([512, 320]) == "[512, 320]"


def test_the_shipped_recipe_is_the_chains_schedule_in_five_stages():
    """recipes/real.yaml: 63 + 24 + 5 epochs of 250 steps (the chain real-v1 ... real-v23 took 96)
    (docs/history.md), at 1280x768 from scratch, then at the preset's 1664x992 from the stage before."""
    recipe = load_recipe(SHIPPED)
    assert [(s.name, s.run) for s in recipe.stages] == [
        ("scratch", "train"),
        ("final-size", "train"),
        ("teacher", "ignore_regions"),
        ("complete-negatives", "train"),
        ("kit", "kit"),
    ]

    cfgs = [
        resolve_config(s.preset, None, train_overrides(s, Path("RUN")))
        for s in recipe.stages
        if s.run == "train"
    ]
    assert [(c.train.epochs, c.train.steps_per_epoch) for c in cfgs] == [(63, 250), (24, 250), (5, 250)]
    assert [(c.grid.input_width, c.grid.input_height) for c in cfgs] == [
        (1280, 768),
        (1664, 992),
        (1664, 992),
    ]
    assert [c.train.learning_rate for c in cfgs] == [3e-3, 4e-4, 4e-4]
    assert [c.data.ignore_regions for c in cfgs] == ["", "", "RUN/teacher/ignore_regions.json"]
    assert [c.model.weights_path for c in cfgs] == [
        None,
        "RUN/scratch/model.weights.h5",
        "RUN/final-size/model.weights.h5",
    ]
