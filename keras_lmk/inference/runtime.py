"""Run a trained detector on RGB frames: TFLite (no TensorFlow) or .keras (TensorFlow imported lazily).

    rt = open_runner("run/model.tflite")            # or run/model.keras; the model card sits beside it
    dets = rt.predict_frame(rgb_uint8)               # Detections in original-image pixels

The model card (``<model>.json`` or ``model_card.json`` next to the model file; written by
``keras_lmk.training.train``) carries the grid spec, the taxonomy and the decoder settings::

    {"grid": GridSpec.to_json(), "taxonomy": Taxonomy.to_json(), "decoder": DecoderConfig.to_json(),
     "input": {...}, "outputs": [{"name": "class_logits", ...}, {"name": "points", ...}]}

Frames are letterboxed with :func:`keras_lmk.detector.letterbox.letterbox_image`, fed as RGB 0..255
(quantised with the
input tensor's own scale/zero point for integer inputs), decoded by :mod:`keras_lmk.detector.decode`, and,
when the card has a ``lamp_refine`` section, traffic-light points are moved onto the lit lamp
(:mod:`keras_lmk.detector.lamp_refine`, which needs the original image).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from keras_lmk.data.taxonomy import Taxonomy
from keras_lmk.detector.card import ModelCard, ModelCardError, load_model_card
from keras_lmk.detector.decode import DecoderConfig, Detections, decode, dequantize_output, quantization_of
from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.lamp_refine import refine_lamp_points
from keras_lmk.detector.letterbox import Letterbox, letterbox_image
from keras_lmk.native_log import quiet_native_stderr

OUTPUT_NAMES = ("class_logits", "points")


class _Runner:
    """Shared preprocessing and decoding; subclasses implement ``infer(input_uint8) -> (logits, points)``."""

    card: ModelCard
    decoder: DecoderConfig

    @property
    def spec(self) -> GridSpec:
        return self.card.spec

    @property
    def taxonomy(self) -> Taxonomy:
        return self.card.taxonomy

    def infer(self, image_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Letterboxed RGB uint8 [H_in, W_in, 3] -> (class_logits [S, A, M], points [S, A, 2]), float32."""
        raise NotImplementedError

    def infer_frame(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, Letterbox]:
        """Original RGB uint8 [h, w, 3] -> raw float outputs and the letterbox used."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB image [h, w, 3], got shape {rgb.shape}")
        image_in, lb = letterbox_image(rgb, self.spec.input_width, self.spec.input_height)
        logits, points = self.infer(image_in)
        return logits, points, lb

    def decode(
        self, logits, points, lb: Letterbox, image_size, cfg: DecoderConfig | None = None
    ) -> Detections:
        return decode(logits, points, self.spec, lb, cfg or self.decoder, image_size=image_size)

    def refine(self, dets: Detections, rgb: np.ndarray) -> Detections:
        """The card's image-based refinement of decoded points (``lamp_refine``; unchanged without one)."""
        cfg = self.card.lamp_refine
        return dets if cfg is None else refine_lamp_points(rgb, dets, self.taxonomy, cfg)

    def predict_frame(self, rgb: np.ndarray, cfg: DecoderConfig | None = None) -> Detections:
        """Original RGB uint8 [h, w, 3] -> landmarks in its pixels: letterbox, model, decoder (the card's, or
        ``cfg``), then the card's refinement."""
        logits, points, lb = self.infer_frame(rgb)
        return self.refine(self.decode(logits, points, lb, (rgb.shape[1], rgb.shape[0]), cfg), rgb)

    def _check_shapes(self, logits: np.ndarray, points: np.ndarray, where: str):
        s, a, m = self.spec.num_cells, self.spec.num_anchors, self.spec.num_classes
        if logits.size != s * a * m or points.size != s * a * 2:
            raise ModelCardError(
                f"{where}: outputs class_logits {list(logits.shape)} / points {list(points.shape)} "
                f"do not match "
                f"the model card ({self.card.source}): expected [1, {s}, {a}, {m}] and [1, {s}, {a}, 2]"
            )
        return logits.reshape(s, a, m), points.reshape(s, a, 2)


def quantize_input(x: np.ndarray, detail: Mapping) -> np.ndarray:
    """Float pixels 0..255 -> the input tensor's dtype, with its own scale/zero point when integer."""
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scales, zps, _ = quantization_of(detail)
    if scales.size == 0:
        if dtype == np.uint8:  # an unquantised uint8 input takes raw pixels
            return x.astype(np.uint8)
        raise ModelCardError(f"input {detail.get('name')!r} is {dtype} without quantization parameters")
    info = np.iinfo(dtype)
    q = np.round(x / scales[0] + zps[0])
    return np.clip(q, info.min, info.max).astype(dtype)


class LandmarkRuntime(_Runner):
    """A .tflite detector run with ai_edge_litert (no TensorFlow)."""

    def __init__(
        self,
        tflite_path: str | Path,
        model_card: str | Path | Mapping | None = None,
        num_threads: int = 2,
        decoder: DecoderConfig | None = None,
    ):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(tflite_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such TFLite model")
        self.card = load_model_card(self.path, model_card)
        self.decoder = decoder or self.card.decoder
        try:
            with quiet_native_stderr():  # LiteRT's "INFO: Created ... XNNPACK delegate" on every interpreter
                self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelCardError(f"{self.path}: not a loadable TFLite model ({e})") from e
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelCardError(f"{self.path}: expected one input tensor, found {len(inputs)}")
        self.input_detail = inputs[0]
        want = [1, self.spec.input_height, self.spec.input_width, 3]
        shape = [int(v) for v in self.input_detail["shape"]]  # plain ints: numpy 2 prints np.int32(1)
        if shape != want:
            raise ModelCardError(
                f"{self.path}: input shape {shape} does not match the model card "
                f"({self.card.source}): expected {want}"
            )
        self.logits_detail, self.points_detail = self._find_outputs()

    def _find_outputs(self) -> tuple[dict, dict]:
        details = self.interpreter.get_output_details()
        by_index = {d["index"]: d for d in details}
        found: dict[str, dict] = {}
        # 1) signature output names (the Keras output names survive conversion there)
        for sig in self.interpreter._get_full_signature_list().values():  # noqa: SLF001 (no public index map)
            for name, idx in sig.get("outputs", {}).items():
                for key in OUTPUT_NAMES:
                    if key in name and idx in by_index:
                        found.setdefault(key, by_index[idx])
        # 2) tensor names
        for d in details:
            for key in OUTPUT_NAMES:
                if key in d["name"]:
                    found.setdefault(key, d)
        # 3) shapes: last dim M vs 2 (ambiguous when M == 2)
        if len(found) < 2 and len(details) == 2 and self.spec.num_classes != 2:
            for d in details:
                key = "points" if d["shape"][-1] == 2 else "class_logits"
                found.setdefault(key, d)
        if len(found) < 2 or found["class_logits"]["index"] == found["points"]["index"]:
            raise ModelCardError(
                f"{self.path}: cannot find outputs 'class_logits' and 'points' among "
                f"{[(d['name'], [int(v) for v in d['shape']]) for d in details]}"
            )
        s, a, m = self.spec.num_cells, self.spec.num_anchors, self.spec.num_classes
        for key, last in (("class_logits", m), ("points", 2)):
            shape = [int(v) for v in found[key]["shape"]]
            if int(np.prod(shape)) != s * a * last:
                raise ModelCardError(
                    f"{self.path}: output {key} has shape {shape}, the model card ({self.card.source}) "
                    f"expects [1, {s}, {a}, {last}]"
                )
        return found["class_logits"], found["points"]

    def infer(self, image_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = quantize_input(image_in[None].astype(np.float32), self.input_detail)
        self.interpreter.set_tensor(self.input_detail["index"], x)
        self.interpreter.invoke()
        logits = dequantize_output(
            self.interpreter.get_tensor(self.logits_detail["index"]), self.logits_detail
        )
        points = dequantize_output(
            self.interpreter.get_tensor(self.points_detail["index"]), self.points_detail
        )
        return self._check_shapes(logits, points, str(self.path))


class KerasRunner(_Runner):
    """A .keras detector (imports TensorFlow/Keras on construction)."""

    def __init__(
        self,
        model_path: str | Path,
        model_card: str | Path | Mapping | None = None,
        decoder: DecoderConfig | None = None,
        model=None,
    ):
        self.path = Path(model_path)
        self.card = load_model_card(self.path, model_card)
        self.decoder = decoder or self.card.decoder
        if model is None:
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: no such Keras model")
            from keras_lmk.detector.model import load_model

            model = load_model(self.path)
        self.model = model
        shape = list(model.inputs[0].shape[1:])
        want = [self.spec.input_height, self.spec.input_width, 3]
        if shape != want:
            raise ModelCardError(
                f"{self.path}: input shape {shape} does not match the model card ({self.card.source}): {want}"
            )

    def infer(self, image_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.model(image_in[None].astype(np.float32), training=False)
        if not isinstance(out, Mapping):
            out = dict(zip(self.model.output_names, out, strict=True))
        logits = np.asarray(out["class_logits"], np.float32)
        points = np.asarray(out["points"], np.float32)
        return self._check_shapes(logits, points, str(self.path))


def open_runner(
    model_path: str | Path, *, model_card=None, num_threads: int = 2, decoder: DecoderConfig | None = None
) -> _Runner:
    """LandmarkRuntime for .tflite, KerasRunner for .keras."""
    suffix = Path(model_path).suffix.lower()
    if suffix == ".tflite":
        return LandmarkRuntime(model_path, model_card, num_threads, decoder)
    if suffix == ".keras":
        return KerasRunner(model_path, model_card, decoder)
    raise ValueError(f"{model_path}: expected a .tflite or .keras model")


def with_threshold(cfg: DecoderConfig, score_threshold: float | None) -> DecoderConfig:
    """``cfg`` with one threshold for every class (its per-class ones dropped); unchanged when None."""
    if score_threshold is None:
        return cfg
    return dataclasses.replace(cfg, score_threshold=score_threshold, class_score_thresholds=())
