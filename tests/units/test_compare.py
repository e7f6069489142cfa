"""greater and at_least: every pair of values of small shapes, mixed signedness included."""

import itertools

import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hwgen.units._compare import at_least, greater

SHAPES = [(unsigned(3), unsigned(3)), (signed(3), signed(3)), (unsigned(2), signed(3)),
          (signed(4), unsigned(3)), (unsigned(1), unsigned(4))]


def _range(shape):
    if shape.signed:
        return range(-(1 << (shape.width - 1)), 1 << (shape.width - 1))
    return range(1 << shape.width)


@pytest.mark.parametrize("x_shape, y_shape", SHAPES)
def test_every_pair(x_shape, y_shape):
    m = Module()
    x, y = Signal(x_shape), Signal(y_shape)
    gt, ge = Signal(), Signal()
    m.d.comb += [gt.eq(greater(x, y)), ge.eq(at_least(x, y))]
    sim = Simulator(m)
    wrong = []

    async def bench(ctx):
        for a, b in itertools.product(_range(x_shape), _range(y_shape)):
            ctx.set(x, a)
            ctx.set(y, b)
            if (ctx.get(gt), ctx.get(ge)) != (int(a > b), int(a >= b)):
                wrong.append((a, b, ctx.get(gt), ctx.get(ge)))

    sim.add_testbench(bench)
    sim.run()
    assert not wrong, wrong[:5]
