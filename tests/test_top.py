"""AxiStreamTop port naming (one and several input streams) and the multi-input cosim path."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.top import AxiStreamTop, input_ports, slave_prefix

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


class _Join(wiring.Component):
    """Test fixture: ``o = a + b`` per lane, one registered stage, taking a and b together."""

    a: In(stream.Signature(data.ArrayLayout(8, 2)))
    b: In(stream.Signature(data.ArrayLayout(4, 2)))
    o: Out(stream.Signature(data.ArrayLayout(9, 2)))

    def elaborate(self, platform):
        m = Module()
        advance = self.o.ready | ~self.o.valid
        m.d.comb += [self.a.ready.eq(advance & self.b.valid), self.b.ready.eq(advance & self.a.valid)]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(self.a.valid & self.b.valid)
            for lane in range(2):
                m.d.sync += self.o.payload[lane].eq(self.a.payload[lane] + self.b.payload[lane])
        return m


class _Pass(wiring.Component):
    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
        return m


def test_one_input_core_keeps_s_axis_names():
    top = AxiStreamTop(_Pass(), out_beats=1)
    assert top.inputs == ("i",)
    assert [name for name in top.signature.members if name.startswith("s_axis")] == [
        "s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast"]


def test_two_input_core_gets_one_slave_per_stream():
    top = AxiStreamTop(_Join(), out_beats=3, io_bits=32)
    assert top.inputs == ("a", "b") == input_ports(_Join())
    assert [slave_prefix(port) for port in top.inputs] == ["s_axis_a", "s_axis_b"]
    members = top.signature.members
    assert len(top.s_axis_a_tdata) == len(top.s_axis_b_tdata) == 32
    assert "s_axis_tdata" not in members


def test_core_without_streams_is_rejected():
    with pytest.raises(TypeError, match="core must be a wiring.Component with an o stream"):
        AxiStreamTop(Module(), out_beats=1)


def test_multi_input_cosim_under_backpressure():
    """Each slave has its own source and pauses; every output equals a + b of its sample."""
    from sim.cosim import cosimulate_unit
    rng = random.Random(1)
    a = [[rng.randrange(256) | rng.randrange(256) << 8 for _ in range(3)] for _ in range(300)]
    b = [[rng.randrange(256) for _ in range(3)] for _ in range(300)]
    with pytest.raises(ValueError, match="same number of samples"):
        cosimulate_unit(_Join(), "join_top", {"a": a, "b": b[:-1]}, out_beats=3)
    result = cosimulate_unit(_Join(), "join_top", {"a": a, "b": b}, out_beats=3,
                             backpressure=0.3, seed=3)
    lanes = lambda word, bits: [(word >> (k * bits)) & ((1 << bits) - 1) for k in range(2)]
    want = [[sum(pair) for pair in zip(lanes(x, 8), lanes(y, 4))] for xs, ys in zip(a, b)
            for x, y in zip(xs, ys)]
    got = [lanes(word, 9) for sample in result.received for word in sample]
    assert got == want and len(result.received) == 300 and result.passed
    assert len(result.in_stamps) == len(result.out_stamps) == 900
