"""Unit factory: which units an op gets, the dense-after-flatten column permutation, what still raises."""

import numpy as np
import pytest

from hwgen.network import build_network
from hwgen.ops._mvu import flatten_columns
from hwgen.spec import SpecError, loads
from hwgen.units.maxpool import StreamingMaxPool
from hwgen.units.mvau import MVAU
from hwgen.units.registry import units_for
from hwgen.units.swg import ConvolutionInputGenerator


def spec_of(layers, input_="{shape: [4, 6, 6], bits: 1}"):
    text = f"name: t\ninput: {input_}\nseed: 1\nlayers:\n" + "".join(
        f"  - {layer}\n" for layer in layers)
    return loads(text, source="t.yaml")


def test_flatten_columns_match_torch_flatten_of_chw():
    rng = np.random.default_rng(0)
    c, h, w = 3, 2, 4
    weight = rng.integers(-5, 5, size=(7, c * h * w))
    x = rng.integers(-9, 9, size=(c, h, w))
    hwc = x.transpose(1, 2, 0).reshape(-1)                 # the stream order
    np.testing.assert_array_equal(flatten_columns(weight, (c, h, w)) @ hwc,
                                  weight @ x.reshape(-1))


def test_binary_conv2d_is_swg_then_mvau():
    spec = spec_of(["{name: c, op: binary_conv2d, out_channels: 8, kernel_size: 3, padding: 1, "
                    "stride: 2, pe: 4, simd: 2}"])
    (swg, mvau), cycles = units_for(spec.layers[0])
    assert isinstance(swg, ConvolutionInputGenerator) and isinstance(mvau, MVAU)
    assert (swg.padding, swg.stride, swg.pad_value, swg.simd) == (1, 2, 0, 2)
    assert (mvau.mh, mvau.mw, mvau.nf, mvau.sf) == (8, 36, 2, 18)
    assert cycles == 3 * 3 * 2 * 18


def test_maxpool_and_flatten():
    spec = spec_of(["{name: p, op: maxpool2d, kernel_size: 2, pe: 2}", "{name: f, op: flatten}",
                    "{name: d, op: binary_dense, out_features: 4}"])
    (pool,), cycles = units_for(spec.layers[0])
    assert isinstance(pool, StreamingMaxPool) and cycles == 36 * 2
    assert units_for(spec.layers[1]) == ([], 0)
    design = build_network(spec)
    np.testing.assert_array_equal(design.layers[2].units[0].weights,
                                  flatten_columns(spec.layers[2].params["weight"], (4, 3, 3)))


@pytest.mark.parametrize("layer, input_", [
    ("{name: c, op: conv2d, out_channels: 4, kernel_size: 3, weight_bits: 4, padding: 1}",
     "{shape: [2, 5, 5], bits: 4}"),
    ("{name: c, op: binary_conv2d, out_channels: 4, kernel_size: 3}",
     "{shape: [3, 5, 5], bits: 8}"),
])
def test_integer_pixels_take_the_integer_mvau(layer, input_):
    from hwgen.units.mvau_int import IntegerMVAU
    spec = spec_of([layer], input_)
    (swg, mvau), _ = units_for(spec.layers[0])
    assert isinstance(swg, ConvolutionInputGenerator) and isinstance(mvau, IntegerMVAU)


@pytest.mark.parametrize("layers, input_, message", [
    (["{name: c, op: binary_conv2d, out_channels: 4, kernel_size: 3, padding: 1}"],
     "{shape: [3, 5, 5], bits: 8}", "binary_conv2d pads with -1, which unsigned 8-bit inputs"),
    (["{name: f, op: flatten}", "{name: d, op: threshold, bits: 1}"],
     "{shape: [2, 2, 2], bits: 4}",
     "op 'threshold' after a flatten of a feature map [2, 2, 2]"),
])
def test_what_still_raises(layers, input_, message):
    with pytest.raises(NotImplementedError) as info:
        build_network(spec_of(layers, input_))
    assert message in str(info.value)


def test_ending_in_a_flatten_of_a_feature_map_raises():
    with pytest.raises(NotImplementedError, match="ends in a flatten of a feature map"):
        build_network(spec_of(["{name: p, op: maxpool2d, kernel_size: 3}",
                               "{name: f, op: flatten}"]))


def test_add_joins_both_inputs_in_an_add_streams():
    from amaranth.hdl import signed, unsigned

    from hwgen.units.add import AddStreams
    spec = spec_of(["{name: r, op: requant, bits: 6, pe: 2}",
                    "{name: s, op: add, inputs: [input, r], bits: 8, signed: false, pe: 4}"],
                   "{shape: [2, 8], bits: 8, signed: true}")
    layer = spec.layers[1]
    (unit,), cycles = units_for(layer)
    assert isinstance(unit, AddStreams) and cycles == 16 // 4
    assert unit.a.payload.shape().elem_shape == signed(8)
    assert unit.b.payload.shape().elem_shape == signed(6)
    assert unit.o.payload.shape().elem_shape == unsigned(8) and unit.pe == 4
    assert unit.multiplier == tuple(layer.params["multiplier"].tolist())
    assert unit.shift == tuple(layer.params["shift"].tolist())
    assert unit.zero_point == int(layer.params["zero_point"][0])
    with pytest.raises(SpecError, match=r"t.yaml:6: layers\[1\].pe: pe must divide the channels"):
        spec_of(["{name: r, op: requant, bits: 6, pe: 2}",
                 "{name: s, op: add, inputs: [input, r], bits: 8, signed: false, pe: 3}"],
                "{shape: [2, 8], bits: 8, signed: true}")


def test_add_of_binary_inputs_raises():
    spec = spec_of(["{name: s, op: add, inputs: [input, input], bits: 4}"], "{shape: [8], bits: 1}")
    with pytest.raises(NotImplementedError, match=r"layer 's': add of binary \(-1/\+1\) inputs"):
        units_for(spec.layers[0])


def test_matmul_layers_of_the_ivit_block_take_matmul_units():
    """scores = q @ k^T and ctx = attn @ v: operand ranges from the spec, output type equal
    to the spec's exact bound, so the inline requant chains on it."""
    from pathlib import Path

    from hwgen.spec import load
    from hwgen.units.matmul import MatMul
    from hwgen.units.registry import element_shape
    from hwgen.units.requant import Requant
    spec = load(Path(__file__).resolve().parents[2] / "examples" / "ivit_block.yaml")
    layers = {layer.name: layer for layer in spec.layers}
    for name, transpose_b in (("scores", True), ("ctx", False)):
        layer = layers[name]
        (unit, requant), cycles = units_for(layer)
        assert isinstance(unit, MatMul) and isinstance(requant, Requant)
        assert unit.transpose_b == transpose_b and (unit.heads, unit.pe, unit.simd) == (4, 4, 4)
        assert unit.out_shape == element_shape(layer.op_type)
        a, b = layer.in_types
        assert (unit.a_range, unit.b_range) == ((a.lo, a.hi), (b.lo, b.hi))
        # 16 rows x 4 heads x NF 4 x SF 4; loading the next b (16 rows of 4 heads x 16,
        # b_lanes 4) overlaps it
        assert cycles == unit.cycles_per_sample == max(16 * 64 // 4, 16 * 4 * 4 * 4)


def test_matmul_on_binary_operands_raises():
    spec = spec_of(["{name: m, op: matmul, inputs: [input, input], transpose_b: true}"],
                   "{shape: [4, 8], bits: 1}")
    with pytest.raises(NotImplementedError, match="matmul on binary"):
        units_for(spec.layers[0])


def test_rounding_reaches_requant_add_and_their_golden_modules():
    from sw_reference.modules import module_for
    spec = spec_of(["{name: fc, op: dense, out_features: 8, "
                    "activation: {op: requant, bits: 8, rounding: floor}}",
                    "{name: rq, op: requant, bits: 6, rounding: half_even}",
                    "{name: res, op: add, inputs: [fc, rq], bits: 8, rounding: half_even}"],
                   "{shape: [8], bits: 8, signed: true}")
    fc, rq, res = spec.layers
    assert fc.activation.attrs.rounding == "floor"
    units = [units_for(layer)[0][-1] for layer in spec.layers]
    assert [unit.rounding for unit in units] == ["floor", "half_even", "half_even"]
    assert module_for(fc).act.rounding == "floor"
    assert [module_for(layer).rounding for layer in (rq, res)] == ["half_even", "half_even"]
