"""DuplicateStreams: every beat reaches every output once, in order, whatever each one stalls."""

import random

import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from hwgen.units.fork import DuplicateStreams
from sim.amaranth_streams import stream_get, stream_put

LAYOUT = data.ArrayLayout(signed(5), 3)


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_construction_errors():
    with pytest.raises(TypeError, match=r"payload_shape must be a shape or layout such as "
                                        r"ArrayLayout\(signed\(8\), 4\), not 'x'"):
        DuplicateStreams("x", outputs=2)
    with pytest.raises(ValueError, match="outputs"):
        DuplicateStreams(LAYOUT, outputs=1)


def run_fork(outputs, words, *, in_stall, out_stalls, stamps=None):
    """Put ``words`` in, read every output with its own stall probability; the lists out."""
    dut = DuplicateStreams(LAYOUT, outputs=outputs)
    received = [None] * outputs

    async def producer(ctx):
        await stream_put(ctx, dut.i, words, rng=random.Random(1), stall=in_stall)

    def consumer(k):
        async def get(ctx):
            received[k] = await stream_get(ctx, dut.output(k), len(words),
                                           rng=random.Random(10 + k), stall=out_stalls[k])
        return get

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready in ctx.tick().sample(dut.i.valid, dut.i.ready):
            if valid and ready:
                stamps.append(cycle)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    for k in range(outputs):
        sim.add_testbench(consumer(k))
    if stamps is not None:
        sim.add_testbench(monitor, background=True)
    sim.run()
    return received


@pytest.mark.parametrize("outputs, in_stall, out_stalls", [
    (2, 0.0, (0.0, 0.7)),
    (2, 0.3, (0.3, 0.3)),
    (3, 0.5, (0.9, 0.0, 0.4)),
    (4, 0.0, (0.2, 0.5, 0.0, 0.8)),
])
def test_every_output_gets_every_beat_once(outputs, in_stall, out_stalls):
    rng = random.Random(outputs)
    words = [rng.getrandbits(LAYOUT.size) for _ in range(300)]
    assert run_fork(outputs, words, in_stall=in_stall, out_stalls=out_stalls) == \
        [words] * outputs


def test_full_rate_when_all_outputs_ready():
    words = list(range(64))
    stamps = []
    assert run_fork(3, words, in_stall=0.0, out_stalls=(0.0, 0.0, 0.0),
                    stamps=stamps) == [words] * 3
    assert stamps == list(range(stamps[0], stamps[0] + len(words)))


def test_output_valid_ignores_ready():
    """A stalled output does not hide the beat from a ready one, nor show it twice."""
    dut = DuplicateStreams(unsigned(4), outputs=2)
    seen = []

    async def tb(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 9)
        ctx.set(dut.o0.ready, 1)
        ctx.set(dut.o1.ready, 0)
        seen.append((ctx.get(dut.o0.valid), ctx.get(dut.o1.valid), ctx.get(dut.i.ready)))
        await ctx.tick()                      # o0 took 9, o1 not yet
        seen.append((ctx.get(dut.o0.valid), ctx.get(dut.o1.valid), ctx.get(dut.i.ready)))
        ctx.set(dut.o1.ready, 1)
        seen.append((ctx.get(dut.o0.valid), ctx.get(dut.o1.valid), ctx.get(dut.i.ready)))
        await ctx.tick()                      # o1 took 9: the beat is released
        seen.append((ctx.get(dut.o0.valid), ctx.get(dut.o1.valid)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [(1, 1, 0), (0, 1, 0), (0, 1, 1), (1, 1)]
