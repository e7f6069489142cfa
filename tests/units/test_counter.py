"""hwgen.units._counter: a registered last flag agrees with the comparator it replaces."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hwgen.units._counter import counter, loop_nest


@pytest.mark.parametrize("count, step", [(2, 1), (3, 1), (5, 1), (4, 3), (7, 2)])
def test_registered_last_is_high_exactly_at_the_last_value(count, step):
    """Stepping on a random enable, ``at_last`` (a flip-flop) is ``value == (count-1)*step``
    in every cycle, as the comparator form is, and both counters hold the same value."""
    m = Module()
    enable = Signal()
    value, at_last = counter(m, count, enable, "c", step, registered_last=True)
    plain, plain_last = counter(m, count, enable, "p", step)
    rng = random.Random(count * 10 + step)

    async def tb(ctx):
        seen = set()
        for _ in range(6 * count + 20):
            ctx.set(enable, rng.random() < 0.6)
            assert ctx.get(value) == ctx.get(plain)
            assert ctx.get(at_last) == ctx.get(plain_last) == (ctx.get(value) == (count - 1) * step)
            seen.add(ctx.get(value))
            await ctx.tick()
        assert seen == set(range(0, count * step, step))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_a_counter_over_one_value_is_constant():
    m = Module()
    value, at_last = counter(m, 1, Signal(), "c", registered_last=True)
    assert (value.value, at_last.value) == (0, 1)


def test_a_loop_nest_with_registered_last_flags_counts_as_the_plain_one():
    """A nest of counts 3, 1, 2 (one loop over a single value) on a random enable: with
    ``registered_last`` every counter, flag and the wrap flag equal the plain nest's."""
    m = Module()
    enable = Signal()
    loops = [("a", 3), ("b", 1), ("c", 2)]
    fast, fast_done = loop_nest(m, [(f"f{name}", count) for name, count in loops], enable,
                                registered_last=True)
    plain, plain_done = loop_nest(m, loops, enable)
    rng = random.Random(7)

    async def tb(ctx):
        wraps = 0
        for _ in range(60):
            ctx.set(enable, rng.random() < 0.7)
            for name, _ in loops:
                (v, last), (pv, plast) = fast[f"f{name}"], plain[name]
                assert (ctx.get(v), ctx.get(last)) == (ctx.get(pv), ctx.get(plast))
            assert ctx.get(fast_done) == ctx.get(plain_done)
            wraps += ctx.get(plain_done) and ctx.get(enable)
            await ctx.tick()
        assert wraps >= 2

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
