"""SkidBuffer: every beat passes once, in order, at full rate, with ready cut to a register."""

import random

import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from hwgen.units.skid import SkidBuffer
from sim.amaranth_streams import simulate_stream

LAYOUT = data.ArrayLayout(signed(5), 3)


def random_words(count, bits, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(bits) for _ in range(count)]


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_construction_error():
    with pytest.raises(TypeError, match="payload_shape must be a shape or layout such as "
                                        r"ArrayLayout\(unsigned\(1\), 16\), not 'x'"):
        SkidBuffer("x")
    with pytest.raises(TypeError, match="registered_output must be True or False, not 1"):
        SkidBuffer(LAYOUT, registered_output=1)


REGISTERED = pytest.mark.parametrize("registered_output", [False, True],
                                     ids=["ring", "registered-output"])


@REGISTERED
@pytest.mark.parametrize("in_stall, out_stall", [(0.0, 0.5), (0.5, 0.0), (0.3, 0.3), (0.7, 0.7)])
def test_no_beat_lost_or_duplicated_under_stalls(in_stall, out_stall, registered_output):
    words = random_words(400, 15, seed=int(10 * in_stall + 100 * out_stall))
    stats = {}
    got = simulate_stream(SkidBuffer(LAYOUT, registered_output=registered_output), words, len(words), stall=out_stall,
                          in_stall=in_stall, seed=4, stats=stats)
    assert got == words
    if out_stall:
        # stream_get checked this many stalled beats for a stable payload.
        assert stats["stalled_beats"] > 20


@REGISTERED
def test_full_rate_and_latency_one_without_stalls(registered_output):
    words = random_words(64, 15, seed=1)
    stamps = ([], [])
    assert simulate_stream(SkidBuffer(LAYOUT, registered_output=registered_output), words, len(words), stamps=stamps) == words
    ins, outs = stamps
    assert ins == list(range(ins[0], ins[0] + len(words)))      # no bubble on the input
    assert outs == [cycle + 1 for cycle in ins]                  # one cycle later, every cycle


@REGISTERED
def test_ready_does_not_follow_o_ready_combinationally(registered_output):
    """With a beat shown and the skid empty, flipping o.ready within a cycle leaves i.ready."""
    dut = SkidBuffer(unsigned(4), registered_output=registered_output)
    seen = []

    async def tb(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 5)
        ctx.set(dut.o.ready, 0)
        await ctx.tick()                      # 5 -> output register
        ctx.set(dut.i.payload, 6)
        for ready in (0, 1, 0):
            ctx.set(dut.o.ready, ready)
            seen.append(ctx.get(dut.i.ready))
        await ctx.tick()                      # o stalled: 6 -> skid, i.ready falls
        for ready in (0, 1, 0):
            ctx.set(dut.o.ready, ready)
            seen.append(ctx.get(dut.i.ready))
        assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload)) == (1, 5)
        ctx.set(dut.o.ready, 1)
        await ctx.tick()                      # 5 leaves, 6 moves up from the skid
        assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload), ctx.get(dut.i.ready)) == (1, 6, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [1, 1, 1, 0, 0, 0]


@REGISTERED
def test_skid_cosim_under_backpressure(registered_output):
    """The exported Verilog under Verilator, 30 % pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    frames = [random_words(4, 15, seed=n) for n in range(300)]
    result = cosimulate_unit(SkidBuffer(LAYOUT, registered_output=registered_output),
                             "skid_top", frames, out_beats=4, backpressure=0.3, seed=2)
    assert result.received == frames
    steady = cosimulate_unit(SkidBuffer(LAYOUT, registered_output=registered_output),
                             "skid_top", frames[:50], out_beats=4)
    assert steady.received == frames[:50]
    assert steady.steady_cycles_per_sample(4) == 4.0


def test_registered_output_payload_is_a_register():
    """With registered_output, o.payload is driven by a flip-flop: changing i.payload within a
    cycle never reaches it, and o.ready reaches the output register (its fanout says so)."""
    dut = SkidBuffer(unsigned(4), registered_output=True)
    assert dut.ready_fanout == 4 + 2 and SkidBuffer(unsigned(4)).ready_fanout == 4

    async def tb(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 9)
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        for payload in (3, 12, 0):
            ctx.set(dut.i.payload, payload)
            assert (ctx.get(dut.o.valid), ctx.get(dut.o.payload)) == (1, 9)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
