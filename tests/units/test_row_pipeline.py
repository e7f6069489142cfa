"""The row units' private pieces on their own: shift-add products, square roots, row queue, round robin.

Each against Python integers: products and roots exhaustively on small
widths, the queue and the round robin on random data under random stalls
on both sides (order kept, nothing dropped or duplicated). The roots, queue
and round robin start from random values in their registers without a reset
(``scramble``), and a last test shows that this catches a unit that reads
such a register before loading it.
"""

import random
from math import isqrt

import numpy as np
import pytest
import torch
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.units._multiply import product_latency, shift_add_product
from hwgen.units._rowbuffer import RoundRobin, RowQueue, RowReduce, fold_max, larger
from hwgen.units._sqrt import IntegerSqrt, NewtonChain
from hwgen.units.divider import Divider
from sim.amaranth_streams import reset_less_state, simulate_stream
from sw_reference import ivit


class _Product(wiring.Component):
    def __init__(self, a_shape, b_shape):
        self._shapes = a_shape, b_shape
        super().__init__({"a": In(a_shape), "b": In(b_shape),
                          "p": Out(signed(a_shape.width + b_shape.width + 1))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.p.eq(shift_add_product(m, self.a, self.b, enable=1, name="p"))
        return m


@pytest.mark.parametrize("a_shape, b_shape", [(signed(5), unsigned(4)), (unsigned(3), signed(6)),
                                              (signed(4), signed(4)), (unsigned(5), unsigned(3))])
def test_shift_add_product_exhaustive(a_shape, b_shape):
    """Every operand pair, one per cycle, each product ``product_latency`` cycles later."""
    def values(shape):
        lo = -(1 << (shape.width - 1)) if shape.signed else 0
        return range(lo, lo + (1 << shape.width))
    pairs = [(a, b) for a in values(a_shape) for b in values(b_shape)]
    dut = _Product(a_shape, b_shape)
    latency = product_latency(a_shape, b_shape)
    got = []

    async def bench(ctx):
        for k in range(len(pairs) + latency):
            if k < len(pairs):
                ctx.set(dut.a, pairs[k][0])
                ctx.set(dut.b, pairs[k][1])
            await ctx.tick()
            if k + 1 >= latency:
                got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got[:len(pairs)] == [a * b for a, b in pairs]


@pytest.mark.parametrize("make, golden, bits", [
    (lambda: IntegerSqrt(value_bits=9), lambda v: max(isqrt(v), 1), 9),
    (lambda: NewtonChain(value_bits=18, root_bits=17),
     lambda v: int(ivit.newton10(torch.tensor(v))), 18),
    (lambda: NewtonChain(value_bits=22, root_bits=17),        # LayerNorm's, int8 rows of 64
     lambda v: int(ivit.newton10(torch.tensor(v))), 22),
])
def test_square_roots(make, golden, bits):
    """IntegerSqrt exhaustively (9 bits); NewtonChain on 0..600, powers of two +-1, the top
    values and random 18- and 22-bit values (unconverged roots included), under stalls."""
    if bits == 9:
        values = list(range(1 << bits))
    else:
        rng = random.Random(2)
        values = list(range(600)) + [(1 << k) + d for k in range(10, bits) for d in (-1, 0, 1)]
        values += [(1 << bits) - 1 - d for d in range(20)]       # the largest quotients
        values += [rng.randrange(1 << bits) for _ in range(100)]
    got = simulate_stream(make(), values, len(values), stall=0.3, seed=4, scramble=1)
    assert got == [golden(v) for v in values]


@pytest.mark.parametrize("bits", [18, 22])
def test_newton_chain_quotient_bounds_hold_for_every_value(bits):
    """Every value of ``bits`` bits, through I-ViT's recurrence: each step's quotient fits the
    width its divider was given (the chain's dividers are exact only under that bound)."""
    chain = NewtonChain(value_bits=bits, root_bits=17)
    v = np.arange(1 << bits, dtype=np.int64)
    k = ((1 << 16) + (v >> 16)) >> 1
    for width in chain.quotient_bits:
        q = v // k
        assert int(q.max()) < 1 << width
        k = (k + q) >> 1
    assert (k[::997] == ivit.newton10(torch.from_numpy(v[::997])).numpy()).all()


# 300: a chain of 3 segments; fanout 4: 12 bits in 3 slices of 4 (one bank each); fanout 2
# at depth 300: 3 slices, each a chain of segments.
@pytest.mark.parametrize("depth, fanout, slices", [(5, None, 1), (300, None, 1), (40, 4, 3),
                                                   (300, 2, 3)])
def test_row_queue_keeps_order_under_stalls(depth, fanout, slices):
    rng = random.Random(1)
    words = [rng.randrange(1 << 12) for _ in range(2 * depth + 100)]
    dut = RowQueue(unsigned(12), depth=depth, lutram_fanout=fanout)
    assert len(dut._slices()) == slices
    got = simulate_stream(dut, words, len(words), stall=0.4, seed=6, scramble=1)
    assert got == words


@pytest.mark.parametrize("fanout", [None, 2])               # 2: 3 slices of 4 bits
def test_deep_row_queue_holds_its_depth(fanout):
    """Without reads a 300-deep queue (3 segments) takes its 300 beats (the credits rely on
    it) and the 2 places per extra segment kept for the holes travelling back, no more."""
    dut = RowQueue(unsigned(12), depth=300, lutram_fanout=fanout)
    taken = []

    async def bench(ctx):
        ctx.set(dut.i.valid, 1)
        for _ in range(400):
            taken.append(ctx.get(dut.i.ready))      # a beat is taken at the coming edge
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert sum(taken) == 300 + 2 * RowQueue.FREE_LAG


@pytest.mark.parametrize("depth, staged, latency", [(4, False, 2), (5, True, 3)])
def test_row_queue_streams_a_beat_per_cycle(depth, staged, latency):
    """Both sides streaming, the queue passes a beat per cycle from its depth (4, or 5 when
    it stages its writes) after its latency."""
    dut = RowQueue(unsigned(12), depth=depth, staged_write=staged)
    out = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for cycle in range(100):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, cycle)
            if ctx.get(dut.o.valid):
                out.append((cycle, ctx.get(dut.o.payload)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert out == [(cycle, cycle - latency) for cycle in range(latency, 100)]


def test_row_queue_rejects_a_staged_write_that_is_not_a_bool():
    with pytest.raises(TypeError, match="staged_write must be a bool, not 1"):
        RowQueue(unsigned(12), depth=5, staged_write=1)


def test_row_reduce_rejects_a_staged_write_that_is_not_a_bool():
    with pytest.raises(TypeError, match="staged_write must be a bool, not 1"):
        RowReduce(beat_shape=unsigned(8), value_shape=unsigned(8), folds=4, lanes=lambda b: [b],
                  combine=larger, fold=fold_max, depth=8, staged_write=1)


def test_round_robin_results_in_order():
    """Three iterative dividers taking turns: quotients leave in the order operands came."""
    rng = random.Random(3)
    pairs = [(rng.randrange(1 << 10), rng.randrange(1, 1 << 5)) for _ in range(120)]
    unit = RoundRobin([Divider(dividend_bits=10, divisor_bits=5) for _ in range(3)])
    words = [a | b << 10 for a, b in pairs]
    got = simulate_stream(unit, words, len(words), stall=0.2, seed=9, scramble=1)
    assert [(w & 1023, w >> 10) for w in got] == [divmod(a, b) for a, b in pairs]


def _credit_writer_run(dut, *, beats, seed, lag=2):
    """A writer that, like the row buffers' producers, drives ``i.valid`` on credits alone:
    it may write a beat while fewer than ``dut.depth`` are inside, a place freed by a read
    at ``o`` in cycle ``t`` counting from cycle ``t + lag``; the reader stalls in long bursts
    (the chain fills up) and then reads at random. Returns (beats read, cycles in which a
    beat was offered while ``i.ready`` was low)."""
    rng = random.Random(seed)
    words = [rng.randrange(1 << 12) for _ in range(beats)]
    got, refused, reads_by_cycle = [], [], []

    async def bench(ctx):
        written, cycle, stall_left, streaming_left = 0, 0, 0, 0
        while len(got) < beats and cycle < 40 * beats:
            if stall_left == 0 and streaming_left == 0:
                stall_left, streaming_left = rng.randrange(1, 3 * dut.depth), rng.randrange(1, 400)
            if stall_left:
                stall_left, o_ready = stall_left - 1, 0
            else:
                streaming_left, o_ready = streaming_left - 1, int(rng.random() < 0.8)
            freed = reads_by_cycle[cycle - lag] if cycle >= lag else 0
            write = written < beats and written - freed < dut.depth and rng.random() < 0.9
            ctx.set(dut.i.valid, write)
            ctx.set(dut.i.payload, words[written] if write else 0)
            ctx.set(dut.o.ready, o_ready)
            if write:
                if not ctx.get(dut.i.ready):
                    refused.append(cycle)
                written += 1
            if o_ready and ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload))
            reads_by_cycle.append(len(got))
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, words, refused


# 130 and 300: chains of 2 and 3 segments (the first staging its writes), 600: 5; 300 at
# fanout 2: 3 slices of 3 segments; staged: one segment writing a cycle late.
@pytest.mark.parametrize("depth, fanout, staged", [(5, None, False), (40, None, False),
                                                   (130, None, False), (300, None, False),
                                                   (600, None, False), (300, 2, False),
                                                   (5, None, True), (40, None, True)])
def test_row_queue_takes_every_beat_its_credits_allow(depth, fanout, staged):
    """The row buffers' producers write on credits and do not look at ``i.ready``: a place
    freed by a read at ``o`` must be writable 2 cycles later, however many segments the
    queue is made of and whether it stages its writes, or a beat is dropped (the ivit_block
    network hung on that)."""
    dut = RowQueue(unsigned(12), depth=depth, lutram_fanout=fanout, staged_write=staged)
    got, words, refused = _credit_writer_run(dut, beats=6 * depth + 200, seed=depth)
    assert refused == []
    assert got == words


class _RunningSum(wiring.Component):
    """Each beat out is the sum of the beats so far, in a register with no reset: a unit
    that reads a reset-less register before anything was loaded into it (a bug)."""

    i: In(stream.Signature(unsigned(16)))
    o: Out(stream.Signature(unsigned(16)))

    def elaborate(self, platform):
        m = Module()
        total = Signal(16, reset_less=True)
        m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready),
                     self.o.payload.eq(total + self.i.payload)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += total.eq(total + self.i.payload)
        return m


def test_scramble_finds_a_register_read_before_it_is_loaded():
    """The scrambled simulation (registers without a reset start at random values) is what
    the row units' tests rely on to show that they read their data behind valid flags: a unit
    that does not fails it, and passes the plain simulation, where the register starts at 0."""
    words = list(range(1, 30))
    want = [sum(words[:k + 1]) & 0xFFFF for k in range(len(words))]
    assert simulate_stream(_RunningSum(), words, len(words), stall=0.3, seed=1) == want
    got = simulate_stream(_RunningSum(), words, len(words), stall=0.3, seed=1, scramble=1)
    assert got != want


def test_scramble_reaches_submodules_and_written_memories():
    """A row queue staging its writes: its address and data stages and its storage are
    scrambled; its flags and counters (reset) are not."""
    _, registers, memories = reset_less_state(RowQueue(unsigned(12), depth=5, staged_write=True))
    assert {r.name for r in registers} == {"staged_addr", "staged_data"}
    assert len(memories) == 1
