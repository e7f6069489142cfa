"""StreamingDataWidthConverter and StreamFIFO: elements pass in order, regrouped, nothing lost."""

import random

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from hwgen.units.dwc import StreamingDataWidthConverter
from hwgen.units.fifo import StreamFIFO
from sim.amaranth_streams import simulate_stream, stream_put
from sim.packing import pack, unpack


def regroup(samples, per_beat, bits):
    """Expected beats: each sample's elements cut into beats, the last one zero-padded."""
    beats = []
    for sample in samples:
        for start in range(0, len(sample), per_beat):
            chunk = list(sample[start:start + per_beat])
            beats.append(pack(chunk + [0] * (per_beat - len(chunk)), bits))
    return beats


def run_unit(dut, in_beats, out_count, *, stall, seed):
    return simulate_stream(dut, in_beats, out_count, stall=stall, seed=seed)


def samples_for(elements, bits, count, seed, signed_=False):
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed_ else (0, (1 << bits) - 1)
    return rng.integers(lo, hi, size=(count, elements), endpoint=True)


@pytest.mark.parametrize("in_per_beat, out_per_beat, elements", [
    (64, 32, 784), (32, 64, 784), (8, 3, 30), (3, 8, 30), (5, 5, 25), (7, 1, 20),
    (1, 7, 20), (16, 10, 10), (10, 16, 10), (4, 6, 12),
    (8, 2, 2), (16, 1, 3),      # one input beat much wider than the sample: a short ring
])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_regroups_samples(in_per_beat, out_per_beat, elements, stall):
    bits = 3
    samples = samples_for(elements, bits, count=6, seed=in_per_beat * 100 + out_per_beat)
    dut = StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=in_per_beat,
                                      out_per_beat=out_per_beat, elements=elements)
    # Input lanes past a sample's end carry junk that must be ignored.
    in_beats = []
    for sample in samples:
        for start in range(0, elements, in_per_beat):
            chunk = list(sample[start:start + in_per_beat])
            in_beats.append(pack(chunk + [7] * (in_per_beat - len(chunk)), bits))
    want = regroup(samples, out_per_beat, bits)
    assert run_unit(dut, in_beats, len(want), stall=stall, seed=3) == want


def test_full_rate_when_widths_divide():
    """64 -> 32 elements: one output beat every cycle once filled (no bubbles)."""
    dut = StreamingDataWidthConverter(shape=unsigned(2), in_per_beat=64, out_per_beat=32,
                                      elements=64 * 8)
    samples = samples_for(64 * 8, 2, count=1, seed=0)
    in_beats = regroup(samples, 64, 2)
    cycles = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, in_beats, rng=random.Random(0))

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0
        while len(cycles) < 16:
            *_, valid = await ctx.tick().sample(dut.o.valid)
            if valid:
                cycles.append(cycle)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert cycles[-1] - cycles[0] == 15


@pytest.mark.parametrize("in_per_beat, out_per_beat, elements", [
    (64, 32, 784), (32, 64, 784), (8, 3, 30), (3, 8, 30), (16, 10, 10), (10, 1, 10),
    (1, 7, 20), (5, 3, 7), (3, 5, 7), (12, 5, 60), (16, 32, 256),
])
def test_full_rate_of_the_narrow_side(in_per_beat, out_per_beat, elements):
    """With a registered i.ready, the ring's room still keeps the narrow side busy: 6 samples
    take 6 x max(input beats, output beats) cycles, plus the latency."""
    dut = StreamingDataWidthConverter(shape=unsigned(2), in_per_beat=in_per_beat,
                                      out_per_beat=out_per_beat, elements=elements)
    samples = samples_for(elements, 2, count=6, seed=1)
    want = regroup(samples, out_per_beat, 2)
    cycles = _output_cycles(dut, regroup(samples, in_per_beat, 2), len(want))
    assert cycles[-1] <= 6 * max(dut.in_beats, dut.out_beats) + 1


def test_ready_is_registered_and_a_leaving_beat_moves_no_slot():
    """i.ready does not follow o.ready within a cycle, and with i idle a stalled or leaving
    beat keeps every slot that holds an element as it was (only the read pointer moves;
    free slots of the next beat's window load the idle input, which no beat shows)."""
    dut = StreamingDataWidthConverter(shape=unsigned(2), in_per_beat=8, out_per_beat=3,
                                      elements=30)
    assert dut.registered_ready
    wide = StreamingDataWidthConverter(shape=unsigned(1), in_per_beat=64, out_per_beat=16,
                                       elements=784)
    assert wide.ready_fanout < wide.capacity * wide.group    # o.ready does not reach the ring
    samples = samples_for(30, 2, count=1, seed=2)
    beats = regroup(samples, 8, 2)
    seen = []

    async def testbench(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload.as_value(), beats[0])
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        slots = [ctx.get(slot) for slot in dut._slots]
        read_at, level = dut._held      # level: the occupancy as a thermometer code
        for ready in (0, 1, 1, 0, 1):
            before = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, ready)
            seen.append(ctx.get(dut.i.ready) == before)
            await ctx.tick()
            count = bin(ctx.get(level)).count("1")
            held = [(ctx.get(read_at) + k) % dut.capacity for k in range(count)]
            seen.append(len(held) > 0
                        and all(ctx.get(dut._slots[k]) == slots[k] for k in held))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert all(seen)


@pytest.mark.parametrize("in_per_beat, via, out_per_beat, elements", [
    (64, 56, 49, 784), (49, 56, 64, 784), (8, 5, 3, 30), (3, 6, 8, 30), (7, 4, 1, 20),
])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_regroups_samples_via_an_intermediate_width(in_per_beat, via, out_per_beat, elements,
                                                    stall):
    """Two converters in series with a register slice between: the same beats, two more
    cycles of latency."""
    bits = 2
    samples = samples_for(elements, bits, count=4, seed=via)
    dut = StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=in_per_beat,
                                      out_per_beat=out_per_beat, elements=elements, via=via)
    assert dut.latency == 3
    in_beats = regroup(samples, in_per_beat, bits)
    want = regroup(samples, out_per_beat, bits)
    assert run_unit(dut, in_beats, len(want), stall=stall, seed=4) == want


def _output_cycles(dut, in_beats, count):
    """Cycles of the first ``count`` output beats with ``o.ready`` high and ``i`` never idle."""
    cycles = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, in_beats, rng=random.Random(0))

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0
        while len(cycles) < count:
            *_, valid = await ctx.tick().sample(dut.o.valid)
            if valid:
                cycles.append(cycle)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return cycles


def test_via_keeps_the_rate_and_retimed_picks_it_for_a_deep_shifter():
    """64 -> 49 lanes (sfc_balanced's input): a 161-slot ring, 8 rotator stages, too many for
    200 MHz on ECP5 speed 8; retimed goes via 56 lanes (21-slot rings, 5 stages each), output
    beats as often as before."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    direct = StreamingDataWidthConverter(shape=unsigned(1), in_per_beat=64, out_per_beat=49,
                                         elements=784)
    split = direct.retimed(model, 200)
    assert direct.shift_stages == 8 and (split.via, split.shift_stages) == (56, 5)
    assert direct.retimed(model, 100) is direct and split.retimed(model, 200) is split
    assert split.stage_delay(model)[0] < direct.stage_delay(model)[0]
    shallow = StreamingDataWidthConverter(shape=unsigned(1), in_per_beat=64, out_per_beat=32,
                                          elements=784)
    faster = shallow.retimed(model, 250)     # 3 stages: no via, an AND-OR of 2 levels to read
    assert (faster.via, faster.one_hot_read) == (None, True)
    samples = samples_for(784, 2, count=3, seed=0)
    beats = regroup(samples, 64, 2)
    fresh = lambda via: StreamingDataWidthConverter(shape=unsigned(2), in_per_beat=64,
                                                    out_per_beat=49, elements=784, via=via)
    one, two = (_output_cycles(fresh(via), beats, 48) for via in (None, 56))
    assert two[-1] - two[0] == one[-1] - one[0]


@pytest.mark.parametrize("in_per_beat, via, out_per_beat, elements", [
    (64, (16, 4, 28, 7), 49, 784), (8, (4, 2, 6), 3, 30), (3, (1, 5), 8, 30),
])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_regroups_samples_via_several_narrow_widths(in_per_beat, via, out_per_beat, elements,
                                                   stall):
    """A chain of converters with a register slice between each two: the same beats, two
    cycles of latency per intermediate lane count, narrower than either side (min_lanes)."""
    bits = 2
    samples = samples_for(elements, bits, count=4, seed=len(via))
    dut = StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=in_per_beat,
                                      out_per_beat=out_per_beat, elements=elements, via=via,
                                      min_lanes=min(via))
    assert dut.latency == 1 + 2 * len(via) and dut.via == via
    in_beats = regroup(samples, in_per_beat, bits)
    want = regroup(samples, out_per_beat, bits)
    assert run_unit(dut, in_beats, len(want), stall=stall, seed=5) == want


def test_retimed_goes_through_narrow_rings_when_fewer_elements_per_cycle_will_do():
    """64 -> 49 lanes where 4 elements per cycle are enough (sfc_balanced's input, whose MVAU
    reads a vector in one of 16 folds): every ring of the chain within the 3 rotator stages
    that fit 200 MHz, where full rate needs two 5-stage rings; the chain carries the rate it
    promises (a beat of 4 lanes every cycle: 196 cycles for a 784-element sample)."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    make = lambda **kw: StreamingDataWidthConverter(shape=unsigned(2), in_per_beat=64,  # noqa: E731
                                                    out_per_beat=49, elements=784, **kw)
    narrow = make(min_lanes=4).retimed(model, 200)
    assert narrow.via == (16, 4, 28, 7) and narrow.shift_stages == 3
    assert narrow.stage_delay(model)[0] <= model.budget(200)
    assert make(min_lanes=4).retimed(model, 100).via is None
    assert make().retimed(model, 200).via == 56             # full rate: as before
    # A chain only where it holds no more bits than the full-rate choice: odd_mlp's 64 -> 24
    # (4 stages, 13 slots of 8) would take 32, 16 and 8 lanes, 3 rings and 3 slices more.
    odd = StreamingDataWidthConverter(shape=unsigned(1), in_per_beat=64, out_per_beat=24,
                                      elements=96, min_lanes=2)
    kept = odd.retimed(delay_model("ecp5", "6"), 200)      # its ring, a one-hot read pointer
    assert (kept.via, kept.one_hot_read, kept.capacity) == (None, True, odd.capacity)
    samples = samples_for(784, 2, count=3, seed=1)
    cycles = _output_cycles(make(via=narrow.via, min_lanes=4), regroup(samples, 64, 2), 48)
    assert (cycles[32] - cycles[16]) <= 784 // 4


@pytest.mark.parametrize("write_copies, one_hot_read", [(2, False), (4, True), (29, False),
                                                        (1, True)])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_regroups_samples_with_copies_of_the_write_pointer(write_copies, one_hot_read, stall):
    """64 -> 28 lanes (sfc_mixed's input: 29 slots, 5 rotator stages) with the write pointer
    in several registers, each selecting the rotator of a run of slots (29: one per slot),
    and/or the read pointer one-hot: the same beats as with one binary pointer each."""
    bits = 2
    samples = samples_for(784, bits, count=3, seed=write_copies)
    dut = StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=64, out_per_beat=28,
                                      elements=784, write_copies=write_copies,
                                      one_hot_read=one_hot_read)
    want = regroup(samples, 28, bits)
    assert run_unit(dut, regroup(samples, 64, bits), len(want), stall=stall, seed=7) == want


@pytest.mark.parametrize("in_per_beat, out_per_beat, elements", [
    (8, 3, 768), (3, 8, 30), (1, 8, 64), (10, 1, 10), (16, 1, 3)])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_regroups_samples_through_a_one_hot_read_pointer(in_per_beat, out_per_beat, elements,
                                                        stall):
    """The read side as an AND-OR of the slots and a one-hot pointer (cnv_ci's 8 -> 3 input,
    int4_cnn's 1 -> 8 after pool1, tiny_bnn's 10 -> 1), partial last beats included."""
    bits = 3
    samples = samples_for(elements, bits, count=4, seed=in_per_beat + out_per_beat)
    dut = StreamingDataWidthConverter(shape=unsigned(bits), in_per_beat=in_per_beat,
                                      out_per_beat=out_per_beat, elements=elements,
                                      one_hot_read=True)
    want = regroup(samples, out_per_beat, bits)
    assert run_unit(dut, regroup(samples, in_per_beat, bits), len(want), stall=stall,
                    seed=11) == want


def test_retimed_copies_the_write_pointer_of_a_rotator_nothing_shortens():
    """64 -> 28 lanes at 200 MHz: no intermediate lane count saves two of its 5 stages, so
    retimed gives its pointer one copy per 32 bits of a stage (116: four); a 4-stage rotator
    keeps one pointer (tiny_bnn's 10 -> 1 lanes of 10 bits, which met 200 MHz). Both read
    through a one-hot pointer (3 LUT levels of AND-OR instead of 5 and 4 rotator stages)."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    wide = StreamingDataWidthConverter(shape=unsigned(1), in_per_beat=64, out_per_beat=28,
                                       elements=784)
    copied = wide.retimed(model, 200)
    assert (copied.via, copied.write_copies, copied.shift_stages) == (None, 4, 5)
    assert copied.one_hot_read
    assert wide.retimed(model, 100) is wide and copied.retimed(model, 200) is copied
    four = StreamingDataWidthConverter(shape=unsigned(10), in_per_beat=10, out_per_beat=1,
                                       elements=10).retimed(model, 200)
    assert (four.shift_stages, four.write_copies, four.one_hot_read) == (4, 1, True)


@pytest.mark.filterwarnings("ignore:.*created but never used")
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_per_beat=0), ValueError, "in_per_beat must be at least 1, not 0"),
    (dict(out_per_beat=2.5), TypeError, "out_per_beat must be an integer, not 2.5"),
    (dict(elements=0), ValueError, "elements must be at least 1, not 0"),
    (dict(shape="x"), TypeError, "shape must be a shape such as signed(8)"),
    (dict(via=1), ValueError, "via must be at least 2, not 1"),
    (dict(via=(3, 1)), ValueError, "via must be at least 2, not 1"),
    (dict(via=(1,), min_lanes=1), None, None),
    (dict(via=()), ValueError, "via must name at least one lane count, not ()"),
    (dict(min_lanes=3), ValueError, "min_lanes must be at most min(in_per_beat, out_per_beat) "
                                    "(2), not 3"),
    (dict(write_copies=0), ValueError, "write_copies must be at least 1, not 0"),
    (dict(write_copies=4), ValueError, "write_copies must be at most the ring's 3 slots, not 4"),
    (dict(via=3, write_copies=2), ValueError, "write_copies must be 1 with via"),
    (dict(one_hot_read=1), TypeError, "one_hot_read must be True or False, not 1"),
    (dict(via=3, one_hot_read=True), ValueError, "one_hot_read must be False with via"),
])
def test_construction_errors(kwargs, error, message):
    args = dict(shape=unsigned(2), in_per_beat=4, out_per_beat=2, elements=8) | kwargs
    if error is None:                       # allowed: narrower than the sides, by min_lanes
        assert StreamingDataWidthConverter(**args).via == 1
        return
    with pytest.raises(error) as info:
        StreamingDataWidthConverter(**args)
    assert message in str(info.value)


@pytest.mark.parametrize("registered_write", [False, True])
@pytest.mark.parametrize("depth", [3, 4, 10])
def test_fifo_keeps_order_under_stalls(depth, registered_write):
    layout = data.ArrayLayout(signed(5), 3)
    dut = StreamFIFO(layout, depth=depth, registered_write=registered_write)
    words = [random.Random(1).getrandbits(15) for _ in range(200)]
    assert run_unit(dut, words, len(words), stall=0.4, seed=9) == words


@pytest.mark.parametrize("registered_write", [False, True])
def test_fifo_full_rate_and_latency(registered_write):
    """With o.ready high, one beat per cycle from the second cycle after the first arrives."""
    dut = StreamFIFO(unsigned(8), depth=3, registered_write=registered_write)
    cycles = _output_cycles(dut, list(range(40)), 40)
    assert cycles == list(range(dut.latency, dut.latency + 40))


@pytest.mark.parametrize("registered_write", [False, True])
def test_fifo_holds_depth_beats_while_blocked(registered_write):
    """With o.ready low it takes exactly ``depth`` beats, then ``i.ready`` stays low."""
    dut = StreamFIFO(unsigned(8), depth=5, registered_write=registered_write)
    taken = []

    async def tb(ctx):
        ctx.set(dut.o.ready, 0)
        ctx.set(dut.i.valid, 1)
        for cycle in range(12):
            ctx.set(dut.i.payload, len(taken))
            *_, ready = await ctx.tick().sample(dut.i.ready)
            if ready:
                taken.append(cycle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert taken == list(range(5))


def test_fifo_construction_errors():
    with pytest.raises(TypeError, match="registered_write must be True or False, not 1"):
        StreamFIFO(unsigned(8), depth=4, registered_write=1)
    with pytest.raises(ValueError, match="LUTRAM of at most 64 beats.*not depth=65"):
        StreamFIFO(unsigned(8), depth=65, registered_write=True)


@pytest.mark.parametrize("via, write_copies", [(None, 1), (5, 1), ((4, 2, 6), 1), (None, 3)])
def test_dwc_cosim_partial_beats(via, write_copies):
    """The AXI4-Stream side case: 30 elements, 8 per word in, 3 per beat out, 30 % pauses;
    also via 5 lanes (two rings and the register slice between them), via 4, 2 and 6
    lanes (a chain narrower than the output side), and three copies of the write pointer
    (in submodules of their own in the Verilog) with a one-hot read pointer."""
    from sim.cosim import cosimulate_unit
    dut = StreamingDataWidthConverter(shape=signed(6), in_per_beat=8, out_per_beat=3, elements=30,
                                      via=via, min_lanes=2, write_copies=write_copies,
                                      one_hot_read=write_copies > 1)
    samples = samples_for(30, 6, count=300, seed=5, signed_=True)
    frames = [regroup([s], 8, 6) for s in samples]
    result = cosimulate_unit(dut, "dwc_top", frames, out_beats=dut.out_beats,
                             backpressure=0.3, seed=2)
    got = [[v for w in f for v in unpack(w, 3, 6, True)][:30] for f in result.received]
    assert got == samples.tolist()
