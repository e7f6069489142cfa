"""CreditQueue: slots for a pipeline's depth and result interval, parameter checks.

Its stream behaviour is tested through every unit built on it (Thresholding,
Requant, AddStreams, the MVAU family) under random valid/ready, and proven
by tests/test_formal.py.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen.units._credit import CreditQueue
from sim.amaranth_streams import simulate_stream


class _Pipeline(wiring.Component):
    """A free-running ``stages``-deep pipeline that adds 1 to its input, around a queue, taking
    a beat at most once per ``interval`` cycles (as an MVAU issues a fold's last slice)."""

    def __init__(self, *, stages, interval, registered_room):
        self.queue = CreditQueue(unsigned(8), stages=stages, interval=interval,
                                 registered_room=registered_room)
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


@pytest.mark.parametrize("stages, interval, registered_room", [
    (1, 1, False), (3, 1, True), (4, 2, False), (3, 2, True), (5, 3, True), (2, 4, False),
])
def test_every_result_in_order_under_stalls(stages, interval, registered_room):
    """Ring and chain: nothing lost or repeated under random valid/ready (the stream rules
    are checked by ``stream_get``)."""
    words = np.random.default_rng(stages * 10 + interval).integers(0, 255, 60).tolist()
    dut = _Pipeline(stages=stages, interval=interval, registered_room=registered_room)
    got = simulate_stream(dut, words, len(words), stall=0.4, seed=interval)
    assert got == [w + 1 for w in words]


@pytest.mark.parametrize("stages, interval, registered_room", [
    (1, 1, False), (3, 1, True), (4, 2, False), (3, 2, True), (5, 3, True), (7, 4, True),
    (2, 4, False),
])
def test_full_rate_and_latency_without_stalls(stages, interval, registered_room):
    """Without stalls a beat every ``interval`` cycles, each ``latency`` cycles after its
    accept: the slots cover everything in flight and the chain keeps pace."""
    dut = _Pipeline(stages=stages, interval=interval, registered_room=registered_room)
    ins, outs = [], []
    got = simulate_stream(dut, list(range(20)), 20, stamps=(ins, outs))
    assert got == list(range(1, 21))
    assert np.diff(ins).tolist() == [interval] * 19
    assert np.diff(outs).tolist() == [interval] * 19
    assert outs[0] - ins[0] == dut.queue.latency


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 2), (2, 1, 4), (3, 1, 4), (4, 1, 5), (6, 1, 7),     # a result per cycle: a ring
    (2, 2, 2), (4, 2, 4), (5, 2, 5), (6, 2, 6), (8, 3, 4),     # an MVAU, one per SF: a chain
    (2, 4, 1), (3, 16, 1),                 # a result leaves before the next one is due
])
def test_slots_hold_everything_in_flight(stages, interval, slots):
    """The ring: one result on show plus one per stage in flight, a power of two up to 4 (and
    at least 2). The chain: ``n`` registers pass ``n`` results per ``stages + n`` cycles,
    which must cover ``n`` intervals."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval)
    assert queue.slots == slots
    assert queue.slots >= stages // interval + 1
    if interval > 1:
        assert queue.slots * interval >= stages + queue.slots
        assert queue.latency == stages + slots - 1
    else:
        assert queue.latency == stages


@pytest.mark.parametrize("stages, interval, slots", [
    (1, 1, 4), (2, 1, 4), (3, 1, 5), (8, 4, 3), (7, 4, 3), (8, 3, 5), (3, 2, 4), (2, 4, 1),
    (3, 4, 2), (4, 16, 1),
])
def test_registered_room_counts_one_more_in_flight(stages, interval, slots):
    """With ``room`` from a flip-flop a departure frees its slot a cycle late: one beat more."""
    queue = CreditQueue(unsigned(8), stages=stages, interval=interval, registered_room=True)
    assert queue.slots == slots
    assert queue.slots >= (stages + 1) // interval + 1
    if interval > 1:
        assert queue.slots * interval >= stages + 1 + queue.slots


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stages=2, interval=0), ValueError, "interval must be at least 1, not 0"),
    (dict(stages=2, interval=1.5), TypeError, "interval must be an integer, not 1.5"),
    (dict(stages=0), ValueError, "stages must be at least 1, not 0"),
    (dict(stages=2, registered_room=1), TypeError, "registered_room must be True or False, not 1"),
])
def test_parameter_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        CreditQueue(unsigned(8), **kwargs)
    assert message in str(info.value)
