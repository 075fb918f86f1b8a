import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lmk.detector.grid import GridSpec
from keras_lmk.detector.model import (
    BACKGROUND_PRIOR,
    ModelConfig,
    build_model,
    count_macs,
    load_model,
    with_input_size,
)

TINY = GridSpec(input_height=64, input_width=96, stride=8, num_classes=3)
TINY_CFG = ModelConfig(width=0.5, head_channels=16, head_depth=1)


@pytest.fixture(scope="module")
def tiny_model():
    return build_model(TINY, TINY_CFG)


def test_outputs_names_shapes_dtypes(tiny_model):
    s, a, m = TINY.num_cells, TINY.num_anchors, TINY.num_classes
    assert s == 8 * 12
    x = np.random.default_rng(0).integers(0, 256, (2, 64, 96, 3)).astype(np.float32)  # uint8 range
    out = tiny_model(x)
    assert set(out) == {"class_logits", "points"}
    assert tuple(out["class_logits"].shape) == (2, s, a, m)
    assert tuple(out["points"].shape) == (2, s, a, 2)
    assert out["class_logits"].dtype == "float32" and out["points"].dtype == "float32"
    assert np.all(np.isfinite(out["class_logits"])) and np.all(np.isfinite(out["points"]))
    assert tiny_model.input.name == "image" or tiny_model.inputs[0].name == "image"


def test_initial_state_background_prior_and_points_near_anchors(tiny_model):
    x = np.full((1, 64, 96, 3), 128, np.float32)
    out = tiny_model(x)
    p_bg = tf.nn.softmax(out["class_logits"], axis=-1)[..., 0].numpy()
    # bias gives exactly BACKGROUND_PRIOR; untrained kernels perturb it a little
    assert abs(np.median(p_bg) - BACKGROUND_PRIOR) < 0.02
    bias = tiny_model.get_layer("class_conv").bias.numpy().reshape(TINY.num_anchors, TINY.num_classes)
    assert np.allclose(bias[:, 0], math.log(BACKGROUND_PRIOR * 2 / (1 - BACKGROUND_PRIOR)))
    # offsets start small: points sit near their anchors (cell units)
    anchors = TINY.anchor_array()[None, None]
    assert np.abs(out["points"].numpy() - anchors).max() < 1.0


def test_keras_save_load_safe_mode_round_trip(tiny_model, tmp_path):
    path = tmp_path / "m.keras"
    tiny_model.save(path)
    loaded = load_model(path)  # safe mode: custom layers must come back from their get_config alone
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    a, b = tiny_model(x), loaded(x)
    for k in ("class_logits", "points"):
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))


def test_weights_path_loads(tiny_model, tmp_path):
    path = tmp_path / "w.weights.h5"
    tiny_model.save_weights(path)
    again = build_model(TINY, ModelConfig(width=0.5, head_channels=16, head_depth=1, weights_path=str(path)))
    x = np.full((1, 64, 96, 3), 50, np.float32)
    np.testing.assert_allclose(np.asarray(again(x)["points"]), np.asarray(tiny_model(x)["points"]))


def test_default_model_is_small_and_cheap():
    model = build_model(GridSpec(), ModelConfig())
    params = model.count_params()
    macs = count_macs(model)
    assert params < 1_200_000, params
    # SSDLite-MobileNetV2 is ~0.8 GMACs at 300x300, ~1.4 GMACs at 512x320; we must stay well under half
    assert macs < 0.4e9, macs
    assert tuple(model.output["points"].shape) == (None, 64 * 40, 5, 2)


def test_stride_16_and_mobilenetv2_backbone():
    spec = GridSpec(input_height=64, input_width=64, stride=16, num_classes=2, anchors=((0.5, 0.5),))
    model = build_model(spec, ModelConfig(backbone="mobilenetv2", head_channels=16))
    out = model(np.zeros((1, 64, 64, 3), np.float32))
    assert tuple(out["class_logits"].shape) == (1, 16, 1, 2)


def test_tflite_float_conversion_builtin_ops_only(tiny_model):
    converter = tf.lite.TFLiteConverter.from_keras_model(tiny_model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flat = converter.convert()
    interp = tf.lite.Interpreter(  # no XNNPACK: list the model's own ops, not "DELEGATE"
        model_content=flat,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    ops = {d["op_name"] for d in interp._get_ops_details()}
    # SHAPE/STRIDED_SLICE/PACK only compute the dynamic batch size of the reshapes (folded at batch 1)
    allowed = {"ADD", "MUL", "CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_NEAREST_NEIGHBOR", "RESHAPE", "PAD"}
    assert ops <= allowed | {"SHAPE", "STRIDED_SLICE", "PACK"}, ops
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_NEAREST_NEIGHBOR"} <= ops
    runner = interp.get_signature_runner()
    x = np.random.default_rng(2).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    got = runner(image=x)
    want = tiny_model(x)
    assert set(got) == {"class_logits", "points"}
    for k in got:
        np.testing.assert_allclose(got[k], np.asarray(want[k]), atol=1e-4)


def test_with_input_size_runs_crop_weights_on_the_full_input(tiny_model):
    # trained on 64x96 crops, deployed at 128x192: same weights, and on an image that is the crop tiled
    # with background the deployed model gives the crop model's logits in the interior cells
    big = GridSpec(input_height=128, input_width=192, stride=8, num_classes=3)
    deployed = with_input_size(tiny_model, big, TINY_CFG)
    assert deployed.output["class_logits"].shape[1] == big.num_cells
    for w0, w1 in zip(tiny_model.get_weights(), deployed.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert with_input_size(tiny_model, TINY, TINY_CFG) is tiny_model
    img = np.zeros((1, 128, 192, 3), np.float32)
    img[:, 32:96, 48:144] = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3))
    crop = img[:, 32:96, 48:144]
    small = keras.ops.convert_to_numpy(tiny_model(crop)["class_logits"]).reshape(8, 12, -1)
    full = keras.ops.convert_to_numpy(deployed(img)["class_logits"]).reshape(16, 24, -1)
    # deep cells see only crop pixels in both (receptive field aside, the centre cell must agree closely)
    assert np.abs(full[4 + 4, 6 + 6] - small[4, 6]).max() < np.abs(small).max()


def test_offset_bound_fixes_the_int8_points_step(tmp_path):
    # An untrained offset head with a bias of +-40 cells stands for background cells that regress far
    # points: unbounded, the calibrated int8 range spans > 80 cells (step > 0.3 cell); with offset_bound 3.5
    # the points output lies in [-3.25, 4.25] and its int8 step is at most 7.5 / 255 ~= 0.0294 cell.
    # Issue 14 item 5: int8 and float points then differ by <= 0.25 px (median, stride 8).
    from ai_edge_litert.interpreter import Interpreter

    from keras_lmk.deploy.convert import convert_keras
    from keras_lmk.inference.runtime import dequantize_output, quantization_of, quantize_input

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (1, TINY.input_height, TINY.input_width, 3)).round().astype(np.float32)

    def step_and_error(bound):
        model = build_model(TINY, ModelConfig(head_channels=8, head_depth=0, offset_bound=bound))
        conv = model.get_layer("offset_conv")
        conv.bias.assign(np.tile([40.0, -40.0], TINY.num_anchors).astype(np.float32))
        it = Interpreter(model_content=convert_keras(model, TINY, "int8", [x]))
        it.allocate_tensors()
        (inp,) = it.get_input_details()
        (points,) = [d for d in it.get_output_details() if d["shape"][-1] == 2]
        it.set_tensor(inp["index"], quantize_input(x, inp))
        it.invoke()
        q = dequantize_output(it.get_tensor(points["index"]), points).reshape(-1, 2)
        f = np.asarray(model(x)["points"]).reshape(-1, 2)
        err_px = np.median(np.linalg.norm(q - f, axis=1)) * TINY.stride
        return float(quantization_of(points)[0][0]), float(err_px)

    step, err = step_and_error(None)
    assert step > 0.3 and err > 0.25
    step, err = step_and_error(3.5)
    assert step <= 7.5 / 255 + 1e-6 and err <= 0.25


def test_backbone_weights_path_copies_the_backbone_and_leaves_a_fresh_head(tmp_path):
    """Fine-tuning from another run: backbone layers take the donor's weights, the head starts as a new model
    (background prior in the class bias), and the donor's head weights are not carried over."""
    donor = build_model(TINY, TINY_CFG)
    rng = np.random.default_rng(3)
    for layer in donor.layers:  # make every weight recognisable
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    path = tmp_path / "donor.weights.h5"
    donor.save_weights(path)

    net = build_model(
        TINY, ModelConfig(width=0.5, head_channels=16, head_depth=1, backbone_weights_path=str(path))
    )
    stem = [np.asarray(w) for w in net.get_layer("stem_conv").get_weights()]
    np.testing.assert_array_equal(stem[0], donor.get_layer("stem_conv").get_weights()[0])
    deep = net.get_layer("s32_ir1_project_bn").get_weights()  # gamma, beta, moving mean, moving variance
    for got, want in zip(deep, donor.get_layer("s32_ir1_project_bn").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    m = TINY.num_classes
    prior = math.log(BACKGROUND_PRIOR * (m - 1) / (1 - BACKGROUND_PRIOR))
    bias = net.get_layer("class_conv").get_weights()[1].reshape(TINY.num_anchors, m)
    np.testing.assert_allclose(bias[:, 0], prior, rtol=1e-6)
    np.testing.assert_array_equal(bias[:, 1:], 0.0)
    for name in ("lateral8_conv", "head0_pw_conv", "offset_conv"):
        assert not np.allclose(net.get_layer(name).get_weights()[0], donor.get_layer(name).get_weights()[0])


def test_freeze_backbone_trains_only_the_head():
    """With freeze_backbone a training step moves the head and leaves every backbone weight, BatchNorm
    statistics included, where it was."""
    net = build_model(TINY, ModelConfig(width=0.5, head_channels=16, head_depth=1, freeze_backbone=True))
    backbone = {
        v.path for v in net.get_layer("stem_conv").weights + net.get_layer("s8_ir0_expand_bn").weights
    }
    trainable = {v.path for v in net.trainable_variables}
    assert not backbone & trainable
    assert {v.path for v in net.get_layer("class_conv").weights} <= trainable
    before = {
        name: [np.array(w) for w in net.get_layer(name).get_weights()]
        for name in ("stem_bn", "s8_ir0_expand_bn", "head0_pw_conv", "lateral8_bn")
    }
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype(np.float32)
    opt = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        out = net(x, training=True)
        loss = tf.reduce_mean(out["class_logits"] ** 2) + tf.reduce_mean(out["points"] ** 2)
    opt.apply_gradients(
        zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables, strict=True)
    )
    for name in ("stem_bn", "s8_ir0_expand_bn"):
        for got, want in zip(net.get_layer(name).get_weights(), before[name], strict=True):
            np.testing.assert_array_equal(got, want)
    assert not np.allclose(net.get_layer("head0_pw_conv").get_weights()[0], before["head0_pw_conv"][0])
    moved = net.get_layer("lateral8_bn").get_weights()[2]  # the head's BN statistics still update
    assert not np.allclose(moved, before["lateral8_bn"][2])


def test_weights_path_and_backbone_weights_path_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        ModelConfig(weights_path="a.weights.h5", backbone_weights_path="b.weights.h5")
