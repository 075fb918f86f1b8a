"""The model card: built once, read back to the same spec, taxonomy and decoder; bad cards named."""

import json

import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.detector.card import (
    ModelCardError,
    card_at_input_size,
    find_model_card,
    load_model_card,
    model_card,
)
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.detector.grid import GridSpec

SPEC = GridSpec(input_height=768, input_width=1280, stride=8, num_classes=7)
TAX = load_taxonomy("korea")


def test_round_trip_and_output_shapes(tmp_path):
    card = model_card(SPEC, TAX, DecoderConfig(score_threshold=0.42))
    # 96 x 160 cells, 5 anchors, 7 classes: by hand
    assert card["outputs"][0]["shape"] == [1, 96 * 160, 5, 7]
    assert card["outputs"][1]["shape"] == [1, 96 * 160, 5, 2]
    assert (card["input"]["height"], card["input"]["width"]) == (768, 1280)
    (tmp_path / "model.json").write_text(json.dumps(card))
    (tmp_path / "model.tflite").write_bytes(b"")
    assert find_model_card(tmp_path / "model.tflite") == tmp_path / "model.json"
    back = load_model_card(tmp_path / "model.tflite")
    assert back.spec == SPEC and back.taxonomy.names == TAX.names and back.decoder.score_threshold == 0.42


def test_card_at_another_input_size_keeps_everything_but_the_size():
    card = model_card(SPEC, TAX, DecoderConfig(score_threshold=0.42, side_balanced_classes=(6,)))
    card["lamp_refine"] = {"classes": ["signal"], "box_px": 8.0, "min_gain": 1.25, "min_lit": 0.15}
    card["localization"] = {"score_threshold": 0.5}
    out = card_at_input_size(card, 1664, 992)
    # 124 x 208 cells at stride 8, by hand
    assert out["outputs"][0]["shape"] == [1, 124 * 208, 5, 7] and out["outputs"][1]["shape"] == [
        1,
        124 * 208,
        5,
        2,
    ]
    assert (out["input"]["height"], out["input"]["width"]) == (992, 1664)
    assert (out["grid"]["input_height"], out["grid"]["input_width"]) == (992, 1664)
    assert out["grid"]["stride"] == 8 and out["grid"]["anchors"] == card["grid"]["anchors"]
    for key in ("lamp_refine", "localization", "decoder", "taxonomy"):
        assert out[key] == card[key]
    assert card["input"]["width"] == 1280  # the given card is not changed
    with pytest.raises(ValueError, match="1660x992"):
        card_at_input_size(card, 1660, 992)


def test_bad_cards_name_the_file(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="model.json: invalid JSON"):
        load_model_card(tmp_path / "model.tflite")
    card = model_card(SPEC, TAX)
    card["grid"]["num_classes"] = 5
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="taxonomy has 7 classes but the grid has 5"):
        load_model_card(tmp_path / "model.tflite")
    with pytest.raises(ModelCardError, match="no model card found"):
        find_model_card(tmp_path / "elsewhere" / "m.tflite")


def test_localization_threshold_is_read_and_range_checked(tmp_path):
    card = model_card(SPEC, TAX, DecoderConfig(score_threshold=0.999))
    assert load_model_card("m.tflite", card).localization_threshold is None  # absent: localize uses 0.999
    card["localization"] = {"score_threshold": 0.5}
    back = load_model_card("m.tflite", card)
    assert back.localization_threshold == 0.5 and back.decoder.score_threshold == 0.999
    card["localization"] = {"score_threshold": 1.5}
    with pytest.raises(ModelCardError, match=r"localization.score_threshold must be in \[0, 1\), got 1.5"):
        load_model_card("m.tflite", card)


def test_a_per_class_threshold_list_of_the_wrong_length_is_refused_when_the_card_loads(tmp_path):
    card = model_card(SPEC, TAX, DecoderConfig())
    card["decoder"]["class_score_thresholds"] = [None, 0.9]  # the grid has more classes
    path = tmp_path / "model.json"
    path.write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match=r"model.json: .*class_score_thresholds has 2 entries"):
        load_model_card("model.tflite", path)


def test_localize_takes_the_cards_localization_threshold(tmp_path, monkeypatch):
    # model_detections hands the decoder the card's localization threshold unless one is given
    import keras_lmk.inference.runtime as runtime
    from keras_lmk.localization.inputs import model_detections

    seen = []

    class Runner:
        card = load_model_card(
            "m.tflite", {**model_card(SPEC, TAX), "localization": {"score_threshold": 0.5}}
        )
        decoder, taxonomy = card.decoder, card.taxonomy

    monkeypatch.setattr(runtime, "open_runner", lambda model: Runner())
    monkeypatch.setattr(runtime, "with_threshold", lambda cfg, t: seen.append(t) or cfg)
    monkeypatch.setattr("keras_lmk.data.frames.drive_frames", lambda drive: drive)
    monkeypatch.setattr("keras_lmk.data.frames.FrameSource", lambda path: [])
    for given, expected in ((None, 0.5), (0.9, 0.9)):
        list(model_detections("m.tflite", tmp_path, None, [], given))
        assert seen[-1] == expected
