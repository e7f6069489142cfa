"""``popcount: adder | compressor | ecp5_carry`` on the binary MVU ops: the tree of a folded MVAU."""

import pytest

from hwgen.network import build_network
from hwgen.spec import SpecError, loads

# Layers start on line 5.
BIN = "name: net\ninput: {shape: [64], bits: 1}\nseed: 0\nlayers:\n"
IMG = "name: net\ninput: {shape: [2, 8, 8], bits: 1}\nseed: 0\nlayers:\n"


def test_default_is_the_adder_tree_and_compressor_reaches_the_mvau():
    """Both trees keep the MVAU's default stage placement (spread over the tree)."""
    net = loads(BIN + "  - {name: a, op: binary_dense, out_features: 8, pe: 2, simd: 8,"
                " activation: {op: threshold, bits: 1}}\n"
                "  - {name: b, op: binary_dense, out_features: 4, pe: 2, simd: 4,"
                " popcount: compressor}\n")
    assert [layer.attrs.popcount for layer in net.layers] == ["adder", "compressor"]
    units = [u for layer in build_network(net).layers for u in layer.units
             if hasattr(u, "popcount")]
    assert [(u.popcount, u.stage_placement) for u in units] == [("adder", "tree"),
                                                                ("compressor", "tree")]


def test_binary_conv_takes_it():
    conv, = loads(IMG + "  - {name: c, op: binary_conv2d, out_channels: 4, kernel_size: 3,"
                  " pe: 2, simd: 2, popcount: compressor}\n").layers
    assert conv.attrs.popcount == "compressor"


@pytest.mark.parametrize("layer, path, message", [
    ("{name: fc, op: binary_dense, out_features: 16, popcount: wallace}", "layers[0].popcount",
     "expected one of 'adder', 'compressor', 'ecp5_carry', got the string 'wallace'"),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, popcount: compressor}",
     "layers[0].popcount", "popcount: compressor chooses the tree of a folded MVAU"),
    ("{name: fc, op: dense, out_features: 16, popcount: compressor}", "layers[0].popcount",
     "'popcount' belongs to binary_dense, binary_conv2d"),
    ("{name: fc, op: dense, out_features: 16, popcount: ecp5_carry}", "layers[0].popcount",
     "'popcount' belongs to binary_dense, binary_conv2d"),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, popcount: ecp5_carry}",
     "layers[0].popcount", "popcount: ecp5_carry chooses the tree of a folded MVAU"),
])
def test_rejects(layer, path, message):
    with pytest.raises(SpecError) as info:
        loads(BIN + f"  - {layer}\n", source="net.yaml")
    err = info.value
    assert (err.line, err.path) == (5, path), str(err)
    assert message in err.message + (err.hint or ""), str(err)
