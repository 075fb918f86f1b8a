"""The model card: everything besides the weights that a decoder needs (grid spec, taxonomy, decoder
settings, input and outputs), written beside every model file; one builder (:func:`model_card`) and one
reader (:func:`load_model_card`) for training, export, the runtime and the Android kit.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keras_lmk.data.taxonomy import Taxonomy, parse_taxonomy
from keras_lmk.detector.decode import DecoderConfig
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.lamp_refine import LampRefineConfig


class ModelCardError(ValueError):
    """The model card is missing, malformed, or does not match the model file."""


@dataclass(frozen=True)
class ModelCard:
    spec: GridSpec
    taxonomy: Taxonomy
    decoder: DecoderConfig
    source: str = "<dict>"
    # the score threshold for map-based localization (``localize``), when it differs from the decoder's
    # display threshold: the localizer's robust association wants recall (card key "localization")
    localization_threshold: float | None = None
    # move traffic-light points onto the lit lamp after decoding (card key "lamp_refine"; None: off)
    lamp_refine: LampRefineConfig | None = None

    @classmethod
    def from_json(cls, d: Mapping, source: str = "<dict>") -> ModelCard:
        try:
            spec = GridSpec.from_json(d["grid"])
            taxonomy = parse_taxonomy(d["taxonomy"], f"{source}:taxonomy")
            decoder = DecoderConfig.from_json(d.get("decoder"))
            decoder.class_thresholds(spec.num_classes)  # a per-class list must have one entry per class
            loc = (d.get("localization") or {}).get("score_threshold")
            if loc is not None and not 0.0 <= float(loc) < 1.0:
                raise ValueError(f"localization.score_threshold must be in [0, 1), got {loc}")
            lamp_refine = LampRefineConfig.from_json(d.get("lamp_refine"))
            for name in lamp_refine.classes if lamp_refine else ():
                taxonomy.class_id(name)  # KeyError naming the known classes
        except (KeyError, TypeError, ValueError) as e:
            raise ModelCardError(f"{source}: malformed model card ({type(e).__name__}: {e})") from e
        if taxonomy.num_classes != spec.num_classes:
            raise ModelCardError(
                f"{source}: taxonomy has {taxonomy.num_classes} classes but the grid has {spec.num_classes}"
            )
        return cls(spec, taxonomy, decoder, source, None if loc is None else float(loc), lamp_refine)


def model_card(spec: GridSpec, taxonomy: Taxonomy, decoder: DecoderConfig | None = None) -> dict:
    """The card of a model built for ``spec`` (written by training; export and the Android kit add the
    interpreter's tensor details to it)."""
    return {
        "format": "keras_lmk.model_card/1",
        "input": {
            "name": "image",
            "height": spec.input_height,
            "width": spec.input_width,
            "channels": 3,
            "color": "RGB",
            "range": [0, 255],
            "normalisation": "inside the model: x / 127.5 - 1",
            "resize": "letterbox: scale = min(W/w, H/h), centred, pad value 114",
        },
        "grid": spec.to_json(),
        "taxonomy": taxonomy.to_json(),
        "decoder": (decoder or DecoderConfig()).to_json(),
        "outputs": [
            {
                "name": "class_logits",
                "shape": [1, spec.num_cells, spec.num_anchors, spec.num_classes],
                "meaning": "per cell and anchor, logits over classes (0 = background)",
            },
            {
                "name": "points",
                "shape": [1, spec.num_cells, spec.num_anchors, 2],
                "meaning": "reference point in cell units: pixel = (cell_origin + value * stride)",
            },
        ],
    }


def card_at_input_size(card: Mapping, width: int, height: int) -> dict:
    """A copy of the card JSON ``card`` for the same weights at a ``width`` x ``height`` input: its input,
    grid and output shapes follow (a size off the grid stride raises ValueError); everything else (decoder,
    taxonomy, lamp refinement, localization threshold) is kept."""
    spec = dataclasses.replace(GridSpec.from_json(card["grid"]), input_width=width, input_height=height)
    fresh = model_card(spec, parse_taxonomy(card["taxonomy"]))
    return {**copy.deepcopy(dict(card)), **{k: fresh[k] for k in ("input", "grid", "outputs")}}


def find_model_card(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    for cand in (model_path.with_suffix(".json"), model_path.parent / "model_card.json"):
        if cand.is_file():
            return cand
    raise ModelCardError(
        f"{model_path}: no model card found (looked for {model_path.with_suffix('.json').name} and "
        f"model_card.json in {model_path.parent}); it holds the grid spec and taxonomy needed to decode"
    )


def load_model_card(model_path: str | Path, card: str | Path | Mapping | None = None) -> ModelCard:
    """The card given (path or dict), else the one found beside ``model_path``."""
    if isinstance(card, Mapping):
        return ModelCard.from_json(card)
    path = Path(card) if card is not None else find_model_card(model_path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise ModelCardError(f"{path}: cannot read model card ({e.strerror or e})") from e
    except json.JSONDecodeError as e:
        raise ModelCardError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return ModelCard.from_json(data, str(path))
