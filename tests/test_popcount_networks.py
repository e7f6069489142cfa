"""Binary networks with ``popcount: compressor`` (the compressor-tree MVAU lane): bit-exact
under Verilator with random pauses on both sides, and the same cycles per sample as the
default tree."""

from pathlib import Path

import pytest

from hwgen.export import to_verilog
from hwgen.network import build_network
from hwgen.spec import loads
from sim.network import cosimulate
from tests.test_networks import samples

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: a binary convolution (SF = 9) and a dense layer with two stages, both compressor trees
CONV = """name: pop_cnv
input: {shape: [4, 6, 6], bits: 1}
seed: 3
layers:
  - {name: conv0, op: binary_conv2d, out_channels: 8, kernel_size: 3, pe: 4, simd: 4,
     popcount: compressor, activation: {op: threshold, bits: 1}}
  - {name: flat, op: flatten}
  - {name: fc, op: binary_dense, out_features: 10, pe: 5, simd: 32, pipeline: 2,
     popcount: compressor}
  - {name: top1, op: argmax}
"""

#: weight ROMs deeper than a weight table: fc0's 36 words x 49 bits stored by rom_plan (36 bits
#: in block RAM, 13 in logic), fc1's 64 words x 9 bits in logic (not worth a block RAM)
DEEP = """name: pop_deep
input: {shape: [196], bits: 1}
seed: 4
layers:
  - {name: fc0, op: binary_dense, out_features: 36, pe: 4, simd: 49, pipeline: 1,
     popcount: compressor, activation: {op: threshold, bits: 1}}
  - {name: fc1, op: binary_dense, out_features: 32, pe: 2, simd: 9, pipeline: 2,
     popcount: compressor}
  - {name: top1, op: argmax}
"""


def tiny_bnn_with(tree):
    """examples/tiny_bnn.yaml with ``popcount: tree`` on both binary_dense layers."""
    text = (EXAMPLES / "tiny_bnn.yaml").read_text()
    return loads(text.replace("pipeline: 2", f"pipeline: 2, popcount: {tree}"))


def cosimulate_spec(spec, count, tmp_path, **kwargs):
    design = build_network(spec)
    run = cosimulate(spec, samples(spec, count, seed=1), design=design,
                     verilog=to_verilog(design.top, spec.name), work_dir=tmp_path / "sim",
                     log=lambda *a: None, **kwargs)
    assert run.mismatches == 0, run.mismatched_samples[:5]
    assert len(run.got) == count
    return design, run


def test_tiny_bnn_with_compressor_trees(tmp_path):
    spec = tiny_bnn_with("compressor")
    design, _ = cosimulate_spec(spec, 200, tmp_path, backpressure=0.3, seed=5)
    units = [u for layer in design.layers for u in layer.units]
    assert [u.popcount for u in units if hasattr(u, "popcount")] == ["compressor"] * 2
    default = build_network(tiny_bnn_with("adder"))
    assert design.ideal_cycles == default.ideal_cycles
    assert ([layer.cycles_per_sample for layer in design.layers]
            == [layer.cycles_per_sample for layer in default.layers])


def test_binary_conv_with_compressor_tree(tmp_path):
    cosimulate_spec(loads(CONV), 30, tmp_path, backpressure=0.3, seed=6)


def test_deep_weight_roms_stored_by_rom_plan(tmp_path):
    design, _ = cosimulate_spec(loads(DEEP), 30, tmp_path, backpressure=0.3, seed=7)
    mvaus = [u for layer in design.layers for u in layer.units if hasattr(u, "popcount")]
    assert [u.weight_depth for u in mvaus] == [36, 64]


@pytest.mark.parametrize("tree", ["compressor", "ecp5_carry"])
def test_popcount_tree_on_integer_inputs_is_not_implemented(tree):
    spec = loads(CONV.replace("bits: 1}", "bits: 4}", 1).replace("popcount: compressor",
                                                                 f"popcount: {tree}"))
    with pytest.raises(NotImplementedError, match=f"popcount: {tree} is the XNOR-popcount tree "
                                                  f"of binary inputs; this layer reads uint4"):
        build_network(spec)


def test_tiny_bnn_with_ecp5_carry_trees(tmp_path):
    """``popcount: ecp5_carry``: the exported Verilog's CCU2C Instances under Verilator (with
    hwgen's model of the cell), 30% backpressure, bit-exact; the same cycles as the default."""
    spec = tiny_bnn_with("ecp5_carry")
    design, _ = cosimulate_spec(spec, 200, tmp_path, backpressure=0.3, seed=8)
    units = [u for layer in design.layers for u in layer.units]
    assert [u.popcount for u in units if hasattr(u, "popcount")] == ["ecp5_carry"] * 2
    assert "CCU2C #(" in to_verilog(design.top, spec.name)
    default = build_network(tiny_bnn_with("adder"))
    assert ([layer.cycles_per_sample for layer in design.layers]
            == [layer.cycles_per_sample for layer in default.layers])


def test_binary_conv_with_ecp5_carry_trees(tmp_path):
    cosimulate_spec(loads(CONV.replace("popcount: compressor", "popcount: ecp5_carry")), 30,
                    tmp_path, backpressure=0.3, seed=9)
