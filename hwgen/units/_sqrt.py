"""LayerNorm's per-row square roots as stream units: digit by digit, and I-ViT's Newton chain."""

from math import isqrt

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import Divider

__all__ = ["IntegerSqrt", "NewtonChain", "NEWTON_STEPS"]

NEWTON_STEPS = 10


class IntegerSqrt(wiring.Component):
    """``max(isqrt(v), 1)`` digit by digit (``sw_reference.ivit.isqrt``), one result bit per cycle.

    Members: ``i`` (``unsigned(value_bits)``), ``o`` (``unsigned(root_bits)``).
    Latency ``ceil(value_bits / 2) + 1`` cycles, interval one more; one value at a time.
    Only ``busy`` and ``o.valid`` are reset: the data registers are read behind them.
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
        rem = Signal(self._value_bits, reset_less=True)
        res = Signal(2 * digits, reset_less=True)
        bit = Signal(2 * digits, reset_less=True)
        count = Signal(range(digits + 1), reset_less=True)
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


class NewtonChain(wiring.Component):
    """I-ViT's root ``newton10(v)`` as a chain of nine dividers, one per Newton step.

    The first step (``k = (2**16 + (v >> 16)) >> 1``) is a shift and an add
    before the first divider; step ``j`` then divides ``v`` by ``k`` on an
    iterative :class:`~hwgen.units.divider.Divider` of its own, whose result
    ``(k + v // k) >> 1`` goes on to the next divider with ``v``. Each divider
    holds a different value at a time, so a value enters every
    :attr:`interval` cycles at a fixed :attr:`latency`, with no dispatch
    logic over copies: the dividers sit in a line, each talking to the next.

    Each step's quotient is bounded twice: ``k >= isqrt(v)`` after the first
    step (an integer Newton step never falls below ``isqrt(v)``: ``floor((k +
    floor(v/k)) / 2) = floor((k + v/k) / 2) >= floor(sqrt(v))``), so ``v // k
    <= isqrt(max v) + 2``; and
    ``k`` at step ``j`` is at least ``2**15 >> (j - 1)`` (a step at least
    halves ``k``, the quotient being ``>= 0``), so ``v // k <= max(v) //
    2**(16 - j)``: the early steps, where ``k`` is still large, need only a
    few quotient bits (:attr:`quotient_bits`).

    Members: ``i`` (``unsigned(value_bits)``), ``o`` (``unsigned(root_bits)``).
    """

    #: the smallest result: ``k >= 2**15`` after the first step, and a step at least halves it
    root_min = (1 << 15) >> (NEWTON_STEPS - 1)

    def __init__(self, *, value_bits, root_bits):
        self._value_bits, self._root_bits = value_bits, root_bits
        super().__init__({"i": In(stream.Signature(unsigned(value_bits))),
                          "o": Out(stream.Signature(unsigned(root_bits)))})

    @property
    def quotient_bits(self):
        """Quotient width of each of the nine dividers, in order."""
        top = (1 << self._value_bits) - 1
        cap = isqrt(top) + 2
        k_min = 1 << 15
        widths = []
        for _ in range(NEWTON_STEPS - 1):
            widths.append(min(max(min(top // k_min, cap).bit_length(), 1), self._value_bits))
            k_min = max(k_min >> 1, 1)
        return widths

    @property
    def latency(self):
        """A divider's result is valid ``q + 1`` cycles after it takes its operands, and the
        next divider takes them in the cycle they appear."""
        return sum(q + 1 for q in self.quotient_bits)

    @property
    def interval(self):
        """The slowest divider's cycles per value."""
        return max(q + 2 for q in self.quotient_bits)

    def elaborate(self, platform):
        m = Module()
        value = unsigned(self._value_bits)
        tag = data.StructLayout({"v": value, "k": unsigned(self._root_bits)})
        v = self.i.payload
        k = ((1 << 16) + (v >> 16)) >> 1
        valid, ready = self.i.valid, self.i.ready
        for step, quotient_bits in enumerate(self.quotient_bits):
            divider = Divider(dividend_bits=self._value_bits, divisor_bits=self._root_bits,
                              quotient_bits=quotient_bits, tag_shape=tag)
            m.submodules[f"step_{step}"] = divider
            m.d.comb += [divider.i.valid.eq(valid), ready.eq(divider.i.ready),
                         divider.i.payload.dividend.eq(v), divider.i.payload.divisor.eq(k),
                         divider.i.payload.tag.v.eq(v), divider.i.payload.tag.k.eq(k)]
            result = divider.o.payload
            v, k = result.tag.v, (result.tag.k + result.quotient) >> 1
            valid, ready = divider.o.valid, divider.o.ready
        m.d.comb += [self.o.valid.eq(valid), ready.eq(self.o.ready), self.o.payload.eq(k)]
        return m
