"""LayerNorm's per-row square roots as one-at-a-time stream units (exact and I-ViT Newton)."""

from math import isqrt

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import Divider

__all__ = ["IntegerSqrt", "NewtonSqrt", "NEWTON_STEPS"]

NEWTON_STEPS = 10


class IntegerSqrt(wiring.Component):
    """``max(isqrt(v), 1)`` digit by digit (``sw_reference.ivit.isqrt``), one result bit per cycle.

    Members: ``i`` (``unsigned(value_bits)``), ``o`` (``unsigned(root_bits)``).
    Latency ``ceil(value_bits / 2) + 1`` cycles, interval one more; one value at a time.
    """

    def __init__(self, *, value_bits):
        self._value_bits = value_bits
        self._digits = (value_bits + 1) // 2
        super().__init__({"i": In(stream.Signature(unsigned(value_bits))),
                          "o": Out(stream.Signature(unsigned(self.root_bits)))})

    @property
    def root_bits(self):
        return max(isqrt((1 << self._value_bits) - 1), 1).bit_length()

    latency = property(lambda self: self._digits + 1)
    #: the next value is taken the cycle after the result leaves
    interval = property(lambda self: self._digits + 2)

    def elaborate(self, platform):
        m = Module()
        digits = self._digits
        rem = Signal(self._value_bits)
        res = Signal(2 * digits)
        bit = Signal(2 * digits)
        count = Signal(range(digits + 1))
        busy = Signal()
        m.d.comb += [self.i.ready.eq(~busy & ~self.o.valid),
                     self.o.payload.eq(Mux(res == 0, 1, res))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [rem.eq(self.i.payload), res.eq(0), bit.eq(1 << (2 * digits - 2)),
                         count.eq(digits), busy.eq(1)]
        with m.Elif(busy):
            # bit lies below res's lowest set bit, so res + bit is res | bit: one carry chain.
            diff = rem - (res | bit)
            with m.If(~diff[-1]):
                m.d.sync += [rem.eq(diff), res.eq((res >> 1) | bit)]
            with m.Else():
                m.d.sync += res.eq(res >> 1)
            m.d.sync += [bit.eq(bit >> 2), count.eq(count - 1)]
            with m.If(count == 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        return m


class NewtonSqrt(wiring.Component):
    """I-ViT's root ``newton10(v)``: ``k = 2**16``, then 10 times ``k = (k + v // k) >> 1``.

    The first step divides by ``2**16``, a shift. From then on ``k >= isqrt(v)``
    (an integer Newton step never falls below ``isqrt(v)``: ``floor((k +
    floor(v/k)) / 2) = floor((k + v/k) / 2) >= floor(sqrt(v))``), so
    ``v // k <= isqrt(v) + 2``: the other nine divisions run on an iterative
    :class:`~hwgen.units.divider.Divider` with only ``bits(isqrt(max v) + 2)``
    quotient steps.

    Members: ``i`` (``unsigned(value_bits)``), ``o`` (``unsigned(root_bits)``).
    One value at a time: :attr:`latency` cycles, :attr:`interval` one more.
    """

    def __init__(self, *, value_bits, root_bits):
        self._value_bits, self._root_bits = value_bits, root_bits
        self._quotient_bits = (isqrt((1 << value_bits) - 1) + 2).bit_length()
        super().__init__({"i": In(stream.Signature(unsigned(value_bits))),
                          "o": Out(stream.Signature(unsigned(root_bits)))})

    @property
    def latency(self):
        # load, then per division: hand over, the iterative divider's q + 1 cycles, take it
        return 1 + (NEWTON_STEPS - 1) * (min(self._quotient_bits, self._value_bits) + 2) + 1

    @property
    def interval(self):
        return self.latency + 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.divider = divider = Divider(
            dividend_bits=self._value_bits, divisor_bits=self._root_bits,
            quotient_bits=min(self._quotient_bits, self._value_bits))
        value = Signal(self._value_bits)
        root = Signal(self._root_bits)
        steps = Signal(range(NEWTON_STEPS))
        busy, sent = Signal(), Signal()
        m.d.comb += [self.i.ready.eq(~busy & ~self.o.valid),
                     self.o.payload.eq(root),
                     divider.i.payload.dividend.eq(value), divider.i.payload.divisor.eq(root),
                     divider.i.valid.eq(busy & ~sent), divider.o.ready.eq(1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            v = self.i.payload
            m.d.sync += [value.eq(v), root.eq(((1 << 16) + (v >> 16)) >> 1),
                         steps.eq(NEWTON_STEPS - 1), busy.eq(1), sent.eq(0)]
        with m.If(divider.i.valid & divider.i.ready):
            m.d.sync += sent.eq(1)
        with m.If(divider.o.valid):
            m.d.sync += [root.eq((root + divider.o.payload.quotient) >> 1), sent.eq(0),
                         steps.eq(steps - 1)]
            with m.If(steps == 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        return m
