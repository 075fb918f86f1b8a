"""The model card: built once, read back to the same spec, taxonomy and decoder; bad cards named."""

import json

import pytest

from keras_lmk.data.taxonomy import load_taxonomy
from keras_lmk.detector.card import ModelCardError, find_model_card, load_model_card, model_card
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
