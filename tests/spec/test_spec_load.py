"""Valid networks: defaults, inferred shapes and ranges, parameters (npz and seed)."""

import glob
from dataclasses import asdict
import os
import warnings

import numpy as np
import pytest

from hwgen.ops import OPS
from hwgen.spec import NetworkSpec, SpecError, TensorType, load, loads

from spec_numpy_ref import forward, random_input

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))


BNN = """\
name: bnn
input: {shape: [64], bits: 1}
seed: 0
layers:
  - {name: fc1, op: binary_dense, out_features: 256, pe: 16, simd: 32,
     activation: {op: threshold, bits: 1}}
  - {name: fc2, op: binary_dense, out_features: 10, pe: 10, simd: 32}
  - {name: top1, op: argmax}
"""


def test_binary_mlp():
    net = loads(BNN)
    assert isinstance(net, NetworkSpec)
    assert net.name == "bnn" and net.seed == 0 and net.weights_file is None
    assert net.input == TensorType((64,), 1, False, -1, 1)
    fc1, fc2, top = net.layers
    assert fc1.inputs == ("input",) and fc2.inputs == ("fc1",) and top.inputs == ("fc2",)
    assert (fc1.pe, fc1.simd, fc2.pe, fc2.simd, top.pe, top.simd) == (16, 32, 10, 32, 1, 1)
    assert fc1.op_type == TensorType((256,), 8, True, -64, 64)        # popcount range +-K
    assert fc1.out_type.binary and fc1.out_type.shape == (256,)
    act = fc1.activation
    assert act.name == "fc1.act" and act.op == "threshold" and act.inputs == ("fc1",)
    assert act.in_types == (fc1.op_type,) and act.out_type == fc1.out_type
    assert asdict(act.attrs) == {"bits": 1, "per_channel": True}
    assert act.params["thresholds"].shape == (256, 1)
    assert fc2.in_types == (fc1.out_type,)
    assert fc2.op_type == TensorType((10,), 10, True, -256, 256)
    assert fc2.activation is None and fc2.out_type == fc2.op_type
    assert top.out_type == TensorType((), 4, False, 0, 9)
    assert net.output == top.out_type
    assert fc1.params["weight"].shape == (256, 64) and fc1.params["weight"].dtype == np.int64
    assert set(np.unique(fc1.params["weight"])) == {-1, 1}
    assert not fc1.params["weight"].flags.writeable
    assert fc1.location.line == 5 and fc1.location.path == "layers[0]"
    assert str(fc1.location) == "<string>:5: layers[0]"
    assert net.target.clock_mhz == 100.0 and net.target.device == "ecp5-25k" and net.target.io_bits == 64
    assert net.layer("fc2") is fc2


CNN = """\
name: cnn
input: {shape: [3, 12, 12], bits: 8}
seed: 7
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, weight_bits: 4, bias: true,
     pe: 4, simd: 3, activation: {op: requant, bits: 4, signed: false, per_channel: true}}
  - {name: pool1, op: maxpool2d, kernel_size: 2, pe: 8}
  - {name: conv2, op: conv2d, out_channels: 16, kernel_size: 3, stride: 2, weight_type: ternary,
     activation: {op: threshold, bits: 2}}
  - {name: flat, op: flatten}
  - {name: fc, op: dense, out_features: 10, weight_bits: 3, simd: 64}
  - {name: top1, op: argmax}
"""


def _mvu_bounds(weight, lo, hi, bias=None):
    w = weight.reshape(weight.shape[0], -1)
    a, b = w * lo, w * hi
    low, high = np.minimum(a, b).sum(1), np.maximum(a, b).sum(1)
    if bias is not None:
        low, high = low + bias, high + bias
    return int(low.min()), int(high.max())


def test_conv_net():
    net = loads(CNN)
    conv1, pool1, conv2, flat, fc, top = net.layers
    assert asdict(conv1.attrs) == {"out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1,
                                 "weight_bits": 4, "weight_type": "int", "bias": True,
                                 "resource": "lut", "pipeline": 1}
    assert conv1.op_type.shape == (8, 12, 12)
    assert conv1.params["weight"].shape == (8, 3, 3, 3) and conv1.params["bias"].shape == (8,)
    assert np.abs(conv1.params["weight"]).max() <= 8
    # padding with 0 is inside the uint8 input range, so the bound is exact
    assert (conv1.op_type.lo, conv1.op_type.hi) == _mvu_bounds(conv1.params["weight"], 0, 255,
                                                              conv1.params["bias"])
    assert conv1.out_type == TensorType((8, 12, 12), 4, False, 0, 15)
    rq = conv1.activation.params
    assert rq["multiplier"].shape == rq["shift"].shape == rq["zero_point"].shape == (8,)
    assert pool1.out_type == TensorType((8, 6, 6), 4, False, 0, 15)
    assert conv2.op_type.shape == (16, 2, 2)                      # (6 - 3) // 2 + 1
    assert conv2.attrs.weight_bits == 2 and set(np.unique(conv2.params["weight"])) <= {-1, 0, 1}
    assert (conv2.op_type.lo, conv2.op_type.hi) == _mvu_bounds(conv2.params["weight"], 0, 15)
    assert conv2.out_type == TensorType((16, 2, 2), 2, False, 0, 3)
    assert conv2.activation.params["thresholds"].shape == (16, 3)
    assert flat.out_type == TensorType((64,), 2, False, 0, 3)
    assert fc.params["weight"].shape == (10, 64) and fc.simd == 64
    assert (fc.op_type.lo, fc.op_type.hi) == _mvu_bounds(fc.params["weight"], 0, 3)
    assert top.out_type.shape == () and (top.out_type.lo, top.out_type.hi) == (0, 9)


ATTENTION = """\
name: attention
input: {shape: [10, 32], bits: 8, signed: true}
seed: 3
layers:
  - {name: ln, op: layernorm, bias: true, activation: {op: requant, bits: 8, per_channel: true}}
  - {name: q, op: dense, inputs: [ln], out_features: 32, activation: {op: requant, bits: 8}}
  - {name: k, op: dense, inputs: [ln], out_features: 32, activation: {op: requant, bits: 8}}
  - {name: v, op: dense, inputs: [ln], out_features: 32, activation: {op: requant, bits: 8}}
  - {name: scores, op: matmul, inputs: [q, k], transpose_b: true, heads: 4, pe: 2, simd: 8}
  - {name: attn, op: shiftmax, input_scale: 0.3, heads: 4}
  - {name: ctx, op: matmul, inputs: [attn, v], heads: 4, simd: 10,
     activation: {op: requant, bits: 8}}
  - {name: res, op: add, inputs: [input, ctx], bits: 8}
"""


def test_attention_block():
    net = loads(ATTENTION)
    ln, q, k, v, scores, attn, ctx, res = net.layers
    assert ln.op_type.shape == (10, 32) and ln.op_type.signed
    bias = ln.params["bias"]
    assert (ln.op_type.lo, ln.op_type.hi) == (-(2 ** 30) + bias.min(), 2 ** 30 - 1 + bias.max())
    assert ln.activation.params["multiplier"].shape == (32,)
    for layer in (q, k, v):
        assert layer.inputs == ("ln",) and layer.in_types[0] == ln.out_type
        assert layer.op_type.shape == (10, 32) and layer.params["weight"].shape == (32, 32)
        assert layer.out_type == TensorType((10, 32), 8, True, -128, 127)
        assert layer.activation.params["multiplier"].shape == (1,)
    assert scores.inputs == ("q", "k")
    assert scores.op_type.shape == (10, 40)                       # [M, H*R], R = 10 tokens
    assert (scores.op_type.lo, scores.op_type.hi) == (8 * -128 * 127, 8 * 128 * 128)  # Ka = 8
    assert asdict(scores.attrs) == {"transpose_b": True, "heads": 4, "pipeline": 4,
                                    "resource": "lut"}
    assert attn.attrs.x0 == -4 and attn.attrs.input_scale == 0.3     # floor(-1/0.3)
    assert attn.out_type == TensorType((10, 40), 8, False, 0, 127)
    assert ctx.op_type.shape == (10, 32)                          # a [10, 4*10] @ v [10, 4*8]
    assert (ctx.op_type.lo, ctx.op_type.hi) == (10 * 127 * -128, 10 * 127 * 127)
    assert res.inputs == ("input", "ctx") and res.out_type == TensorType((10, 32), 8, True, -128, 127)
    assert res.params["multiplier"].shape == (2,) and res.params["zero_point"].shape == (1,)


def test_matmul_non_transposed_needs_rows():
    text = ATTENTION.replace("simd: 10,", "simd: 4,")
    with pytest.raises(SpecError, match=r"simd must divide the contraction length per head \(10\)"):
        loads(text)


def test_shiftgelu_and_layernorm_ivit():
    net = loads("name: g\ninput: {shape: [4, 16], bits: 8, signed: true}\nlayers:\n"
                "  - {name: ln, op: layernorm, sqrt: ivit}\n"
                "  - {name: g, op: shiftgelu, x0: -7}\n")
    ln, g = net.layers
    assert not ln.params and ln.attrs.sqrt == "ivit"
    # Newton's k >= isqrt(var) >= |y|, as for the exact root
    assert (ln.op_type.lo, ln.op_type.hi) == (-(2 ** 30), 2 ** 30 - 1)
    assert (g.op_type.lo, g.op_type.hi) == (-(2 ** 30) * 127, (2 ** 30 - 1) * 127)
    assert g.attrs.x0 == -7
    net = loads("name: g\ninput: {shape: [16], bits: 8, signed: true}\nlayers:\n"
                "  - {name: g, op: shiftgelu, input_scale: 0.1}\n")
    assert net.layers[0].attrs.x0 == -6           # floor(-1 / (0.1 * 1.702))
    assert (net.layers[0].op_type.lo, net.layers[0].op_type.hi) == (-128 * 127, 127 * 127)
    # with |x0| > 255 a saturated sum lets sig reach |x0| >> 1 > 127
    net = loads("name: g\ninput: {shape: [16], bits: 8, signed: true}\nlayers:\n"
                "  - {name: g, op: shiftgelu, x0: -1000}\n")
    assert (net.layers[0].op_type.lo, net.layers[0].op_type.hi) == (-128 * 500, 127 * 500)


@pytest.mark.parametrize("sqrt", ["exact", "ivit"])
def test_layernorm_range_holds_at_the_corners(sqrt):
    from spec_numpy_ref import layernorm
    net = loads(f"name: l\ninput: {{shape: [64], bits: 16, signed: true}}\nlayers:\n"
                f"  - {{name: ln, op: layernorm, sqrt: {sqrt}}}\n")
    t = net.layers[0].op_type
    rng = np.random.default_rng(0)
    rows = [np.zeros(64), np.full(64, -32768), np.r_[32767, np.full(63, -32768)],
            np.r_[-32768, np.full(63, 32767)], np.r_[1, np.zeros(63)], np.r_[-1, np.zeros(63)],
            np.r_[0, 1, np.zeros(62)], *rng.integers(-32768, 32768, (50, 64)),
            *rng.integers(-3, 4, (50, 64))]
    y = layernorm(np.array(rows, dtype=np.int64), 0, sqrt)
    assert t.lo <= y.min() and y.max() <= t.hi
    assert y.max() == t.hi or sqrt == "ivit"


def test_dense_on_rows_and_binary_ops_on_integers():
    net = loads("name: r\ninput: {shape: [6, 8], bits: 4}\nseed: 1\nlayers:\n"
                "  - {name: fc, op: binary_dense, out_features: 5}\n"
                "  - {name: top, op: argmax}\n")
    fc, top = net.layers
    assert fc.op_type.shape == (6, 5) and fc.params["weight"].shape == (5, 8)
    # integer input to a binary op: w = +-1, x in [0, 15]; exact per-channel bounds
    assert (fc.op_type.lo, fc.op_type.hi) == _mvu_bounds(fc.params["weight"], 0, 15)
    assert top.out_type == TensorType((6,), 3, False, 0, 4)


def test_no_params_needs_no_seed():
    net = loads("name: p\ninput: {shape: [2, 4, 4], bits: 1}\nlayers:\n"
                "  - {name: p, op: maxpool2d, kernel_size: 2}\n  - {name: f, op: flatten}\n")
    assert net.output == TensorType((8,), 1, False, -1, 1)
    assert net.seed is None and net.weights_file is None


def test_anchors_and_merge_keys():
    net = loads("name: m\ninput: {shape: [64], bits: 1}\nseed: 0\nlayers:\n"
                "  - {<<: &fold {pe: 2, simd: 8}, name: a, op: binary_dense, out_features: 16}\n"
                "  - {<<: *fold, name: b, op: binary_dense, out_features: 4, pe: 4}\n")
    a, b = net.layers
    assert (a.pe, a.simd, b.pe, b.simd) == (2, 8, 4, 8)


# --- seeded parameters ----------------------------------------------------------------------


def _arrays(net):
    out = {}
    for layer in net.layers:
        for sub in (layer, layer.activation):
            if sub is not None:
                out.update({f"{sub.name}.{k}": v for k, v in sub.params.items()})
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_seeded_params_deterministic_and_valid(path):
    a, b = _arrays(load(path)), _arrays(load(path))
    assert a.keys() == b.keys() and a
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    net = load(path)
    for layer in net.layers:
        for sub in (layer, layer.activation):
            if sub is None:
                continue
            p = sub.params
            if "thresholds" in p:
                t = p["thresholds"]
                assert (np.diff(t, axis=1) >= 0).all()
                assert t.min() >= sub.in_types[0].lo and t.max() <= sub.in_types[0].hi
            if "multiplier" in p:
                assert ((p["multiplier"] >= 1) & (p["multiplier"] < 2 ** 31)).all()
                assert ((p["shift"] >= 0) & (p["shift"] < 64)).all()
                assert ((p["zero_point"] >= sub.out_type.lo) & (p["zero_point"] <= sub.out_type.hi)).all()
            if "weight" in p and sub.op in ("dense", "conv2d"):
                half = 1 << (sub.attrs.weight_bits - 1)
                assert p["weight"].min() >= -half and p["weight"].max() < half


def test_seed_changes_params_and_layers_are_independent():
    a = loads(BNN)
    b = loads(BNN.replace("seed: 0", "seed: 1"))
    assert not np.array_equal(a.layers[0].params["weight"], b.layers[0].params["weight"])
    # adding a layer in front does not change fc2's weights (per-layer generators)
    c = loads(BNN.replace("  - {name: fc2, op: binary_dense, out_features: 10, pe: 10, simd: 32}\n",
                          "  - {name: extra, op: binary_dense, out_features: 256}\n"
                          "  - {name: fc2, op: binary_dense, out_features: 10, pe: 10, simd: 32}\n"))
    assert np.array_equal(a.layer("fc2").params["weight"], c.layer("fc2").params["weight"])


@pytest.mark.parametrize("name", ["tiny_bnn", "int8_mlp", "ternary_mlp", "int4_cnn", "requant", "ivit_block"])
def test_ranges_hold_and_seeded_activations_are_useful(name):
    net = load(os.path.join(ROOT, "examples", f"{name}.yaml"))
    x = random_input(net, 64, np.random.default_rng(0))
    for layer, y, out in forward(net, x):
        assert y.min() >= layer.op_type.lo and y.max() <= layer.op_type.hi, layer.name
        assert out.min() >= layer.out_type.lo and out.max() <= layer.out_type.hi, layer.name
        if layer.activation is not None or layer.op in ("requant", "threshold"):
            levels = len(np.unique(out))
            span = layer.out_type.hi - layer.out_type.lo + 1
            assert levels >= min(span, 8) // 2, (layer.name, levels)          # not all saturated
            if layer.out_type.binary:
                assert 0.2 < np.mean(out == 1) < 0.8, layer.name
            else:
                frac_clamped = np.mean((out == layer.out_type.lo) | (out == layer.out_type.hi))
                assert frac_clamped < 0.5, (layer.name, frac_clamped)


# --- examples --------------------------------------------------------------------------------


def test_examples_exist():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert {"tiny_bnn.yaml", "requant.yaml", "int8_mlp.yaml", "ternary_mlp.yaml", "int4_cnn.yaml",
            "ivit_block.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_loads(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = load(path)
    assert net.source == path and net.layers
    with open(path) as f:
        assert f.readline().startswith("#"), "each example starts with a comment header"


def test_tiny_bnn_is_the_design_example():
    net = load(os.path.join(ROOT, "examples", "tiny_bnn.yaml"))
    assert [(l.name, l.op, l.pe, l.simd) for l in net.layers] == [
        ("fc1", "binary_dense", 16, 32), ("fc2", "binary_dense", 10, 32), ("top1", "argmax", 1, 1)]
    assert net.input == TensorType((64,), 1, False, -1, 1) and net.seed == 0
    assert net.layers[0].activation.attrs.bits == 1


def test_requant_example():
    net = load(os.path.join(ROOT, "examples", "requant.yaml"))
    (rq,) = net.layers
    assert net.input == TensorType.of_bits((64,), 16, True)
    assert rq.op == "requant" and rq.pe == 4
    assert asdict(rq.attrs) == {"bits": 8, "signed": True, "per_channel": True,
                                "rounding": "half_up"}
    assert rq.params["multiplier"].shape == (64,) and rq.out_type == TensorType.of_bits((64,), 8, True)


def test_ivit_example_shapes():
    net = load(os.path.join(ROOT, "examples", "ivit_block.yaml"))
    assert net.input.shape == (16, 64) and net.output.shape == (16, 64)
    assert net.layer("scores").op_type.shape == (16, 64)
    assert net.layer("fc1").out_type.shape == (16, 128)
    assert {l.op for l in net.layers} == {"layernorm", "dense", "matmul", "shiftmax", "add", "shiftgelu"}


def test_ops_table():
    assert tuple(OPS) == ("binary_dense", "binary_conv2d", "dense", "conv2d", "threshold", "requant",
                   "maxpool2d", "flatten", "argmax", "add", "add_const", "matmul", "shiftmax", "shiftgelu",
                   "layernorm")


@pytest.mark.parametrize("text", [BNN, CNN, ATTENTION], ids=["bnn", "cnn", "attention"])
def test_ranges_hold_inline_networks(text):
    net = loads(text)
    x = random_input(net, 32, np.random.default_rng(1))
    for layer, y, out in forward(net, x):
        assert layer.op_type.lo <= y.min() and y.max() <= layer.op_type.hi, layer.name
        assert layer.out_type.lo <= out.min() and out.max() <= layer.out_type.hi, layer.name


from hypothesis import example, given, settings, strategies as st  # noqa: E402


@st.composite
def random_networks(draw):
    bits = draw(st.sampled_from([1, 2, 4, 8, 16]))
    signed = bits > 1 and draw(st.booleans())
    image = draw(st.booleans())
    lines = []
    if image:
        c, hw = draw(st.integers(1, 3)), draw(st.sampled_from([4, 6, 8]))
        shape = [c, hw, hw]
        k = draw(st.integers(1, 3))
        pad = draw(st.integers(0, 1))
        op = draw(st.sampled_from(["conv2d", "binary_conv2d"]))
        extra = f", weight_bits: {draw(st.integers(2, 8))}, bias: {str(draw(st.booleans())).lower()}" \
            if op == "conv2d" else ""
        lines.append(f"  - {{name: c, op: {op}, out_channels: {draw(st.integers(1, 4))}, kernel_size: {k}, "
                     f"padding: {pad}, stride: {draw(st.integers(1, 2))}{extra}, "
                     f"activation: {{op: requant, bits: {draw(st.integers(2, 8))}, "
                     f"signed: {str(draw(st.booleans())).lower()}, per_channel: true}}}}")
        lines.append("  - {name: f, op: flatten}")
    else:
        shape = [draw(st.integers(1, 12))]
    for i in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["dense", "binary_dense"]))
        extra = ""
        if op == "dense":
            wt = draw(st.sampled_from(["int", "ternary"]))
            extra = f", weight_bits: {draw(st.integers(2, 8))}, weight_type: {wt}, " \
                    f"bias: {str(draw(st.booleans())).lower()}"
        act = draw(st.sampled_from(["", "threshold", "requant"]))
        if act == "threshold":
            extra += f", activation: {{op: threshold, bits: {draw(st.integers(1, 4))}, " \
                     f"per_channel: {str(draw(st.booleans())).lower()}}}"
        elif act == "requant":
            extra += f", activation: {{op: requant, bits: {draw(st.integers(2, 16))}, " \
                     f"signed: {str(draw(st.booleans())).lower()}, per_channel: {str(draw(st.booleans())).lower()}}}"
        lines.append(f"  - {{name: d{i}, op: {op}, out_features: {draw(st.integers(1, 12))}{extra}}}")
    lines.append("  - {name: top, op: argmax}")
    return (f"name: rnd\ninput: {{shape: {shape}, bits: {bits}, signed: {str(signed).lower()}}}\n"
            f"seed: {draw(st.integers(0, 2**32))}\nlayers:\n" + "\n".join(lines) + "\n")


# Found by the property test below in CI: a seeded requant after three dense
# layers drew a multiplier with |x| * m past int64, and the loader rejected
# its own random parameters.
WIDE_REQUANT = (
    "name: rnd\ninput: {shape: [1, 4, 4], bits: 1, signed: false}\nseed: 1\nlayers:\n"
    "  - {name: c, op: conv2d, out_channels: 2, kernel_size: 1, padding: 0, stride: 1, "
    "weight_bits: 2, bias: false, activation: {op: requant, bits: 8, signed: false, "
    "per_channel: true}}\n"
    "  - {name: f, op: flatten}\n"
    "  - {name: d0, op: dense, out_features: 3, weight_bits: 5, weight_type: int, bias: false}\n"
    "  - {name: d1, op: dense, out_features: 8, weight_bits: 8, weight_type: int, bias: false}\n"
    "  - {name: d2, op: dense, out_features: 1, weight_bits: 8, weight_type: int, bias: false, "
    "activation: {op: requant, bits: 2, signed: false, per_channel: false}}\n"
    "  - {name: top, op: argmax}\n")


@example(WIDE_REQUANT)
@settings(max_examples=40, deadline=None)
@given(random_networks())
def test_inferred_ranges_are_sound(text):
    """Whatever the seeded weights, every value a layer produces lies in its inferred range."""
    try:
        net = loads(text)
    except SpecError as exc:             # e.g. a kernel larger than a small padded image
        assert "kernel_size" in exc.message, exc
        return
    x = random_input(net, 16, np.random.default_rng(0))
    for layer, y, out in forward(net, x):
        assert layer.op_type.lo <= y.min() and y.max() <= layer.op_type.hi, (layer.name, text)
        assert layer.out_type.lo <= out.min() and out.max() <= layer.out_type.hi, (layer.name, text)
