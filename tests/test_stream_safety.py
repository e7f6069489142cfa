"""Stream safety: the stall checks can fail, every unit passes them, and a reset mid-sample recovers.

``simulate_stream`` asserts, whenever the consumer stalls a shown beat, that
``valid`` stays up and the payload does not change until the beat is taken
(docs/design/hardware.md). The first tests show the check catches both faults
on deliberately broken units; then every unit factory of ``tests/fuzz``
runs under heavy stalls with the check exercised on many beats. Last, a
composed network's AXI4-Stream top takes a synchronous reset while a
sample is half in, data is in flight and the output is half out; the
samples streamed after it come out exact with ``tlast`` on every sample's
last word.
"""

import random
import types

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.amaranth_streams import simulate_stream, stream_get, stream_put

from .fuzz.unit_factories import FACTORIES, run_amaranth

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


class _Broken(wiring.Component):
    """Passes beats through a register, but breaks one stream rule while stalled."""

    i: In(stream.Signature(data.ArrayLayout(8, 1)))
    o: Out(stream.Signature(data.ArrayLayout(8, 1)))

    def __init__(self, fault):
        self._fault = fault
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        value = Signal(8)
        m.d.comb += [self.i.ready.eq(~full | self.o.ready), self.o.valid.eq(full),
                     self.o.payload.as_value().eq(value)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [full.eq(1), value.eq(self.i.payload.as_value())]
        with m.Elif(self.o.ready):
            m.d.sync += full.eq(0)
        with m.Elif(self._fault == "payload"):
            m.d.sync += value.eq(value + 1)            # changes the shown beat
        with m.Else():
            m.d.sync += full.eq(0)                     # withdraws the shown beat
        return m


# The assertion stops the simulation inside Amaranth's tick generator, which then reports
# that it could not be closed; that report is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("fault, message", [("payload", "payload changed while stalled"),
                                            ("valid", "valid dropped without a handshake")])
def test_stall_check_catches_a_broken_unit(fault, message):
    with pytest.raises(AssertionError, match=message):
        simulate_stream(_Broken(fault), list(range(40)), 40, stall=0.5, seed=1)
    import gc
    gc.collect()            # report the unclosed generators here, under this test's filter


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_unit_holds_its_output_while_stalled(name):
    """Three drawn cases of 24+ output beats each: the consumer stalls 70 % of the cycles
    while the producer never does, so shown beats are stalled (and checked, in every
    stalled cycle) many times, even where a unit's beats come far apart."""
    stats = {}

    @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run_case(data):
        case = FACTORIES[name](data.draw)
        repeat = -(-24 // (len(case.want) * case.beats_per_vector()))
        case = case.repeated(repeat)
        got = run_amaranth(case, stall=0.7, in_stall=0.0, seed=data.draw(st.integers(0, 99)),
                           stats=stats, hold=True)
        assert got.tolist() == case.want.tolist()

    run_case()
    assert stats.get("stalled_beats", 0) >= 3, stats


RESET_NET = """\
name: reset_net
input: {shape: [32], bits: 1}
seed: 3
target: {io_bits: 8}
layers:
  - {name: fc1, op: binary_dense, out_features: 16, pe: 4, simd: 8, pipeline: 2,
     activation: {op: threshold, bits: 1}}
  - {name: fc2, op: binary_dense, out_features: 6, pe: 2, simd: 4}
"""


class _WithReset(Elaboratable):
    """``dut`` in an explicit ``sync`` domain whose synchronous reset is ``rst``."""

    def __init__(self, dut):
        self.dut = dut
        self.rst = Signal()

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = domain = ClockDomain("sync")
        m.d.comb += domain.rst.eq(self.rst)
        m.submodules.dut = self.dut
        return m


@pytest.mark.parametrize("seed", [0, 1])
def test_reset_mid_sample_recovers(seed):
    from hwgen.layout import from_beats, to_beats
    from hwgen.network import build_network
    from hwgen.spec import loads
    from sim.network import random_samples
    from sw_reference.network import run

    spec = loads(RESET_NET)
    design = build_network(spec)
    top = design.top
    assert design.in_beats == 4 and design.out_beats == 6
    s_axis = types.SimpleNamespace(valid=top.s_axis_tvalid, ready=top.s_axis_tready,
                                   payload=top.s_axis_tdata)
    m_axis = types.SimpleNamespace(valid=top.m_axis_tvalid, ready=top.m_axis_tready,
                                   payload=top.m_axis_tdata)
    before = random_samples(spec, 3, seed=10 + seed)
    x = random_samples(spec, 6, seed=20 + seed)
    partial = [w for f in to_beats(before, spec.input.shape, design.in_per_beat, 1) for w in f]
    partial = partial[:2 * design.in_beats + design.in_beats // 2]     # 2.5 samples
    words = [w for f in to_beats(x, spec.input.shape, design.in_per_beat, 1) for w in f]
    wrapper = _WithReset(top)
    state = {"reset": False, "done": False, "received": [], "tlast": [], "stale": 0}

    async def producer(ctx):
        await stream_put(ctx, s_axis, partial, rng=random.Random(seed), stall=0.3)
        for _ in range(1000):               # until sample 0 is partly out (2 of its 6 words)
            if state["stale"] >= 2 + seed:
                break
            await ctx.tick()
        state["reset"] = True
        ctx.set(wrapper.rst, 1)
        await ctx.tick()
        ctx.set(wrapper.rst, 0)
        state["done"] = True
        await stream_put(ctx, s_axis, words, rng=random.Random(seed + 2), stall=0.3)

    async def consumer(ctx):
        rng = random.Random(seed + 3)
        while not state["reset"]:                   # drain half of what comes, then stop
            ctx.set(m_axis.ready, rng.random() < 0.5)
            *_, valid, ready = await ctx.tick().sample(m_axis.valid, m_axis.ready)
            state["stale"] += valid and ready
        ctx.set(m_axis.ready, 0)
        while not state["done"]:
            await ctx.tick()
        state["received"] = await stream_get(ctx, m_axis, len(x) * design.out_beats,
                                             rng=random.Random(seed + 4), stall=0.3)

    async def monitor(ctx):
        async for _, _, valid, ready, last in ctx.tick().sample(
                top.m_axis_tvalid, top.m_axis_tready, top.m_axis_tlast):
            if state["done"] and valid and ready:
                state["tlast"].append(int(last))

    sim = Simulator(wrapper)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(monitor, background=True)
    sim.run()

    assert state["stale"] >= 1, "the reset came before any output: not mid-stream"
    frames = [state["received"][n:n + design.out_beats]
              for n in range(0, len(state["received"]), design.out_beats)]
    got = from_beats(frames, spec.output.shape, design.out_per_beat, design.out_bits,
                     design.out_signed)
    np.testing.assert_array_equal(got, run(spec, x))
    assert state["tlast"] == ([0] * (design.out_beats - 1) + [1]) * len(x)
