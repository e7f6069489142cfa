"""CreditQueue: slots for a pipeline's depth and result interval, latency and rate under
random and patterned stalls, parameter checks.

Its stream behaviour is also tested through every unit built on it (Thresholding,
Requant, AddStreams, the MVAU family) under random valid/ready, and proven
by tests/test_formal.py.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.units._credit import CreditQueue
from hwgen.units.mvau import MVAU
from sim.amaranth_streams import simulate_stream

from .mvau_cases import expected, from_beats, make_vectors, make_weights, to_beats


class _Pipeline(wiring.Component):
    """A free-running ``stages``-deep pipeline that adds 1 to its input, around a queue, taking
    a beat at most once per ``interval`` cycles (as an MVAU issues a fold's last slice)."""

    def __init__(self, *, stages, interval, registered_room, lutram=False):
        self.queue = CreditQueue(unsigned(8), stages=stages, interval=interval,
                                 registered_room=registered_room, lutram=lutram)
        super().__init__({"i": In(stream.Signature(unsigned(8))),
                          "o": Out(stream.Signature(unsigned(8)))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = self.queue
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        interval = queue.interval
        wait = Signal(range(interval), name="wait")         # cycles until the next may come
        accept = self.i.valid & self.i.ready
        m.d.sync += wait.eq(interval - 1 if interval > 1 else 0)
        with m.If(~accept & (wait != 0)):
            m.d.sync += wait.eq(wait - 1)
        with m.Elif(~accept):
            m.d.sync += wait.eq(0)
        m.d.comb += [self.i.ready.eq(queue.room & (wait == 0)), queue.accept.eq(accept)]
        data = self.i.payload + 1
        for k in range(queue.stages - 1):               # no enable: the pipeline never stalls
            stage = Signal(8, name=f"stage_{k}")
            m.d.sync += stage.eq(data)
            data = stage
        m.d.comb += queue.w_data.eq(data)
        return m


def _run_with_ready_pattern(dut, words, count, pattern):
    """``words`` into ``dut.i`` back to back, ``count`` results out of ``dut.o`` with ``ready``
    following ``pattern`` cyclically (a consumer that stalls in a fixed rhythm). Returns the
    results and the cycles of the first input beat and the last output beat."""
    received, first_in, last_out = [], [], []

    def bits(payload):
        return payload.as_value() if hasattr(payload, "as_value") else payload

    async def producer(ctx):
        ctx.set(dut.i.valid, 1)
        for word in words:
            ctx.set(bits(dut.i.payload), word)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        cycle = 0
        payload = bits(dut.o.payload)
        while len(received) < count:
            ready = pattern[cycle % len(pattern)]
            ctx.set(dut.o.ready, ready)
            *_, i_valid, i_ready, valid, word = await ctx.tick().sample(
                dut.i.valid, dut.i.ready, dut.o.valid, payload)
            if i_valid and i_ready and not first_in:
                first_in.append(cycle)
            if valid and ready:
                received.append(word)
                last_out[:] = [cycle]
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    return received, first_in[0], last_out[0]


@pytest.mark.parametrize("stages, interval, registered_room", [
    (1, 1, False), (3, 1, True), (4, 2, False), (3, 2, True), (5, 3, True), (2, 4, False),
    (8, 2, True), (3, 4, True), (9, 1, False), (8, 1, True),
])
@pytest.mark.parametrize("lutram", [False, True])
def test_every_result_in_order_under_stalls(stages, interval, registered_room, lutram):
    """Nothing lost or repeated under random valid/ready (the stream rules are checked by
    ``stream_get``)."""
    words = np.random.default_rng(stages * 10 + interval).integers(0, 255, 60).tolist()
    dut = _Pipeline(stages=stages, interval=interval, registered_room=registered_room,
                    lutram=lutram)
    got = simulate_stream(dut, words, len(words), stall=0.4, seed=interval)
    assert got == [w + 1 for w in words]


@pytest.mark.parametrize("stages, interval, registered_room", [
    (1, 1, False), (3, 1, True), (4, 2, False), (3, 2, True), (5, 3, True), (7, 4, True),
    (2, 4, False), (8, 2, True), (3, 4, True), (8, 1, True),
])
@pytest.mark.parametrize("lutram", [False, True])
def test_full_rate_and_latency_without_stalls(stages, interval, registered_room, lutram):
    """Without stalls a beat every ``interval`` cycles, each ``stages`` cycles after its
    accept: the queue adds no cycle of its own. (A queue that did, a chain of registers a
    result walks, cost the digits ViT 6 cycles per image: its MatMuls and the layers feeding
    them sit in loops whose period grows with their latency.)"""
    dut = _Pipeline(stages=stages, interval=interval, registered_room=registered_room,
                    lutram=lutram)
    ins, outs = [], []
    got = simulate_stream(dut, list(range(20)), 20, stamps=(ins, outs))
    assert got == list(range(1, 21))
    assert np.diff(ins).tolist() == [interval] * 19
    assert np.diff(outs).tolist() == [interval] * 19
    assert outs[0] - ins[0] == stages


#: consumers that stall in a fixed rhythm and take a result at most every other cycle
#: (alternating), two of three cycles, or three of four
READY_PATTERNS = {"10": (1, 0), "110": (1, 1, 0), "0111": (0, 1, 1, 1)}


@pytest.mark.parametrize("pattern", sorted(READY_PATTERNS))
@pytest.mark.parametrize("stages, interval, registered_room", [
    (3, 2, True), (4, 2, False), (3, 4, True), (8, 4, True),
])
@pytest.mark.parametrize("lutram", [False, True])
def test_full_rate_under_a_consumer_stall_pattern(stages, interval, registered_room, pattern,
                                                  lutram):
    """A consumer that stalls in a rhythm but takes a result at least every ``interval``
    cycles costs no rate: a result on show leaves in any ready cycle, and results that
    waited leave one per ready cycle after it. N results take ``N * interval`` cycles (the
    ideal, one per interval) plus the pipeline's latency and one pattern period. (A queue
    whose output register refills only the cycle after a departure passes one result per
    two cycles at best: behind "110" one per three.)"""
    count = 60
    dut = _Pipeline(stages=stages, interval=interval, registered_room=registered_room,
                    lutram=lutram)
    got, first_in, last_out = _run_with_ready_pattern(dut, list(range(count)), count,
                                                      READY_PATTERNS[pattern])
    assert got == list(range(1, count + 1))
    assert last_out - first_in <= (count - 1) * interval + stages + len(READY_PATTERNS[pattern])


@pytest.mark.parametrize("pattern", sorted(READY_PATTERNS))
@pytest.mark.parametrize("pe, simd, pipeline", [(4, 4, 1), (2, 8, 1)])
def test_mvau_full_rate_under_a_consumer_stall_pattern(pe, simd, pipeline, pattern):
    """An MVAU at NF = SF = 2 (a result every 2 cycles) whose consumer stalls in a rhythm
    but keeps up on average: its vectors still take the ideal (MH / PE) * (MW / SIMD) cycles
    each, and its results equal the golden model's."""
    mh, mw, count = 2 * pe, 2 * simd, 24
    weights = make_weights(mh, mw, seed=pe + simd)
    x = make_vectors(weights, count=count, seed=pipeline)[:count]
    unit = MVAU(weights=weights, pe=pe, simd=simd, pipeline=pipeline)
    ideal = (mh // pe) * (mw // simd)
    beats = [word for frame in to_beats(x, simd) for word in frame]
    received, first_in, last_out = _run_with_ready_pattern(unit, beats, count * unit.nf,
                                                           READY_PATTERNS[pattern])
    frames = [received[n:n + unit.nf] for n in range(0, len(received), unit.nf)]
    np.testing.assert_array_equal(from_beats(frames, pe, unit.acc_shape.width),
                                  expected(x, weights))
    assert last_out - first_in <= count * ideal + unit.latency + len(READY_PATTERNS[pattern])


def _no_mismatches(queue, testbench, mismatches):
    """Run ``testbench`` on ``queue`` alone; it lists what differed from its model."""
    sim = Simulator(queue)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("stages, interval, gated_input", [
    (3, 1, False), (8, 1, False), (3, 2, False), (6, 1, True), (9, 1, True), (7, 2, True),
])
def test_registered_room_is_the_count_a_cycle_ahead(stages, interval, gated_input):
    """``room`` with ``registered_room`` is, every cycle, whether the results held last cycle
    (accepted and not yet left) plus last cycle's accept are fewer than the slots: the
    narrow queues compute it from one table of their flip-flops, the wide ones (more bits
    than a LUT6 takes: ``(8, 1)``, ``(6, 1)`` and ``(9, 1)`` gated) from four flags a cycle
    early; both must give this, under random accepts and departures."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval, registered_room=True,
                        gated_input=gated_input)
    slots, rng = queue.slots, np.random.default_rng(stages * 7 + interval)
    mismatches = []

    async def tb(ctx):
        held, expected_room, wait = 0, 1, 0      # held: accepted and not yet left
        for cycle in range(400):
            room = ctx.get(queue.room)
            if room != expected_room:
                mismatches.append((cycle, room, expected_room))
            accept = int(room and wait == 0 and rng.random() < 0.7)
            ctx.set(queue.accept, accept)
            ctx.set(queue.o.ready, int(rng.random() < 0.5))
            leaving = ctx.get(queue.o.valid) and ctx.get(queue.o.ready)
            expected_room = int(held + accept < slots)
            await ctx.tick()
            held += accept - leaving
            wait = interval - 1 if accept else max(wait - 1, 0)

    _no_mismatches(queue, tb, mismatches)


@pytest.mark.parametrize("stages, interval, registered_room, lutram", [
    (1, 1, False, False), (3, 1, False, False), (3, 1, True, True), (8, 1, True, False),
    (4, 2, False, False), (2, 4, False, False),
])
def test_valid_is_the_count_of_stored_results_above_zero(stages, interval, registered_room,
                                                         lutram):
    """``o.valid`` (a flip-flop) is, every cycle, whether a result has arrived and not left:
    a model counts the results accepted ``stages`` cycles ago less those taken, under random
    accepts and departures, and the payload on show is the oldest of them."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval,
                        registered_room=registered_room, lutram=lutram)
    rng = np.random.default_rng(stages * 11 + interval)
    mismatches = []

    async def tb(ctx):
        accepted, shown, wait, number = [], [], 0, 0   # accept cycles; results stored, in order
        for cycle in range(500):
            valid = ctx.get(queue.o.valid)
            if valid != bool(shown) or (valid and ctx.get(queue.o.payload) != shown[0]):
                mismatches.append((cycle, valid, shown[:1]))
            accept = int(ctx.get(queue.room) and wait == 0 and rng.random() < 0.6)
            ready = int(rng.random() < 0.5)
            accepted += [cycle] * accept
            due = [k for k in accepted if cycle - k == stages - 1]
            ctx.set(queue.accept, accept)
            ctx.set(queue.o.ready, ready)
            ctx.set(queue.w_data, number if due else int(rng.integers(0, 256)))
            await ctx.tick()
            if valid and ready:
                shown.pop(0)
            if due:
                shown.append(number)
                number = (number + 1) % 256
            accepted = [k for k in accepted if k not in due]
            wait = interval - 1 if accept else max(wait - 1, 0)

    _no_mismatches(queue, tb, mismatches)


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 2), (2, 1, 4), (3, 1, 4), (4, 1, 5), (6, 1, 7),     # a result per cycle
    (2, 2, 2), (4, 2, 3), (5, 2, 3), (6, 2, 4), (8, 3, 3),     # an MVAU: one per SF cycles
    (2, 4, 1), (3, 16, 1),                 # a result leaves before the next one is due
])
def test_slots_hold_everything_in_flight(stages, interval, slots):
    """One result on show plus ``stages // interval`` in flight; a power of two up to 4 (and
    at least 2) only when a result may come every cycle."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval)
    assert queue.slots == slots
    assert queue.slots >= stages // interval + 1


@pytest.mark.parametrize("stages, interval, registered_room, slots", [
    (8, 1, False, 16), (9, 1, False, 16), (4, 1, False, 8), (2, 1, False, 4),
    (2, 1, True, 4), (3, 1, True, 8), (4, 2, False, 4), (8, 3, True, 4), (2, 4, False, 1),
])
def test_lutram_rounds_slots_up_to_a_power_of_two(stages, interval, registered_room, slots):
    """In LUTRAM the spare words cost nothing (a primitive holds 16) and the pointers then wrap
    by themselves: the slots needed, rounded up to a power of two; one slot stays one (no
    memory then)."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval,
                        registered_room=registered_room, lutram=True)
    assert queue.slots == slots
    assert queue.slots >= (stages + registered_room) // interval + 1
    assert queue.lutram == (slots > 1)


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 4), (2, 1, 4), (3, 1, 5), (8, 4, 3), (7, 4, 3), (8, 3, 4), (3, 2, 3), (2, 4, 1),
    (3, 4, 2), (4, 16, 1),
])
def test_registered_room_counts_one_more_in_flight(stages, interval, slots):
    """With ``room`` from a flip-flop a departure frees its slot a cycle late: one beat more."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval, registered_room=True)
    assert queue.slots == slots
    assert queue.slots >= (stages + 1) // interval + 1


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stages=2, interval=0), ValueError, "interval must be at least 1, not 0"),
    (dict(stages=2, interval=1.5), TypeError, "interval must be an integer, not 1.5"),
    (dict(stages=0), ValueError, "stages must be at least 1, not 0"),
    (dict(stages=2, registered_room=1), TypeError, "registered_room must be True or False, not 1"),
    (dict(stages=2, lutram="yes"), TypeError, "lutram must be True or False, not 'yes'"),
])
def test_parameter_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        CreditQueue(unsigned(8), **kwargs)
    assert message in str(info.value)
