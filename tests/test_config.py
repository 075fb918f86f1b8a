import pytest

from keras_lmk.detector.grid import GridSpec
from keras_lmk.training.config import resolve_config
from keras_lmk.training.config_io import ConfigError, apply_overrides, load_yaml_config


def test_overrides_are_type_checked_and_unknown_keys_rejected():
    g = apply_overrides(GridSpec(), ["stride=16", "anchors=[[0.5, 0.5]]"])
    assert g.stride == 16 and g.anchors == ((0.5, 0.5),)
    with pytest.raises(ConfigError, match="unknown config key: strid"):
        apply_overrides(GridSpec(), ["strid=3"])
    with pytest.raises(ConfigError, match="stride: expected an integer"):
        apply_overrides(GridSpec(), ["stride=abc"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(GridSpec(), ["stride"])


def test_yaml_config_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("stride: 4\ninput_width: 64\n")
    g = load_yaml_config(GridSpec(), f)
    assert (g.stride, g.input_width) == (4, 64)
    f.write_text("bogus: 1\n")
    with pytest.raises(ConfigError, match="c.yaml: unknown config key: bogus"):
        load_yaml_config(GridSpec(), f)


def test_full_config_presets_and_nested_overrides():
    from keras_lmk.training.config import resolve_config

    cfg = resolve_config("debug", None, ["train.epochs=5", "loss.variant=eq5"])
    assert cfg.train.epochs == 5 and cfg.loss.variant == "eq5"
    assert cfg.grid.input_width == 160  # from the debug preset
    with pytest.raises(ConfigError, match="train.epoch"):
        resolve_config("debug", None, ["train.epoch=5"])
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_config("nope")


@pytest.mark.parametrize(
    "override, problem",
    [
        ("train.epochs=-1", "train.epochs must be >= 1"),
        ("train.epochs=0", "train.epochs must be >= 1"),
        ("train.steps_per_epoch=0", "train.steps_per_epoch must be >= 1"),
        ("train.learning_rate=0", "train.learning_rate must be > 0"),
        ("train.ema_momentum=1.0", "train.ema_momentum must be in"),
    ],
)
def test_impossible_training_values_are_refused(override, problem):
    with pytest.raises(ValueError, match=problem):
        resolve_config("debug", overrides=[override])


def test_train_cli_refuses_negative_epochs_with_exit_2(capsys, tmp_path):
    from keras_lmk.train import main

    assert main(["--preset", "debug", "--run-dir", str(tmp_path / "r"), "--set", "train.epochs=-1"]) == 2
    assert "train.epochs must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written


def test_offset_bound_must_cover_the_point_radius():
    # stride 8, point_radius 24 px -> targets within 24 / 8 + 0.5 = 3.5 cells of an anchor
    cfg = resolve_config("debug", overrides=["pipeline.point_radius=24", "model.offset_bound=3.5"])
    assert cfg.model.offset_bound == 3.5
    with pytest.raises(ValueError, match=r"offset_bound 3.0 cells would clip .* >= .* = 3.5"):
        resolve_config("debug", overrides=["pipeline.point_radius=24", "model.offset_bound=3.0"])
    with pytest.raises(ValueError, match="offset_bound 5.0 cells would clip .*point_radius"):
        resolve_config("debug", overrides=["model.offset_bound=5.0"])


def test_real_preset_bounds_offsets_to_its_point_radius():
    cfg = resolve_config("real")
    assert cfg.model.offset_bound == cfg.pipeline.point_radius / cfg.grid.stride + 0.5


def test_the_finetune_preset_continues_the_shipped_model_gently():
    # a new user's fine-tune used the from-scratch recipe: 30 epochs at 3e-3 (hours on a CPU) from the
    # shipped weights. finetune: the shipped network and weights, real-v20's own last stage (8 x 250 steps at
    # 4e-4, 0.2 epoch warm-up), on the user's COCO file, without the shipped data's sign-crop pasting
    import dataclasses
    from pathlib import Path

    real, ft = resolve_config("real"), resolve_config("finetune")
    assert ft.grid == real.grid and dataclasses.replace(ft.model, weights_path=None) == real.model
    shipped = Path(__file__).resolve().parents[1] / "models" / "real-v23.weights.h5"
    assert Path(ft.model.weights_path) == shipped and shipped.is_file()
    assert (ft.train.epochs, ft.train.steps_per_epoch, ft.train.learning_rate) == (8, 250, 4e-4)
    assert ft.train.warmup_epochs == 0.2 and real.train.learning_rate == 3e-3 and real.train.epochs == 30
    assert ft.data.source == "coco" and ft.pipeline.augment.copy_paste.classes == ()
    assert ft.data.ignore_regions == "" and not ft.data.lights_snap  # the real sets' own settings
    assert ft.pipeline.train_crop == real.pipeline.train_crop and ft.decoder == real.decoder
