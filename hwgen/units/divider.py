"""Unsigned integer division, restoring, one quotient bit per step: iterative or pipelined."""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape

__all__ = ["Divider"]


class Divider(wiring.Component):
    """``q = a // b`` and ``r = a % b`` of unsigned integers (restoring division).

    One step per quotient bit, from the most significant down::

        r = 0
        for i in dividend_bits-1 .. 0:
            r = (r << 1) | a[i]          # r < 2*b: divisor_bits + 1 bits suffice
            q[i] = r >= b
            if q[i]: r -= b

    A zero divisor gives ``q = 2**dividend_bits - 1`` (every trial succeeds)
    and a meaningless remainder; callers divide by a value they know is
    positive (I-ViT: a row sum ``>= 1``, a square root ``>= 1``).

    Parameters
    ----------
    dividend_bits : int     width of ``a`` and ``q`` (1 .. 64)
    divisor_bits : int      width of ``b`` and ``r`` (1 .. 64)
    pipelined : bool
        False (iterative): one step per cycle on one set of registers, one
        division in flight. True: ``dividend_bits`` register stages, one step
        each, a new division accepted every cycle.
    tag_shape : Shape or None
        Side data (AXI ``TUSER`` style) that travels with each division,
        unchanged, so a caller's per-element values stay in step with the
        quotient through the pipeline.

    Members
    -------
    i : In(stream.Signature(StructLayout({"dividend": unsigned(dividend_bits),
                                           "divisor": unsigned(divisor_bits)})))
    o : Out(stream.Signature(StructLayout({"quotient": unsigned(dividend_bits),
                                            "remainder": unsigned(divisor_bits)})))
        both with a ``"tag"`` field as well when ``tag_shape`` is given.

    Latency and throughput: iterative, the result is valid ``dividend_bits + 1``
    cycles after the operands are taken (load, ``dividend_bits`` steps), and
    the next operands are taken in the cycle the result leaves, so
    back-to-back divisions take ``dividend_bits + 1`` cycles each. Pipelined,
    latency ``dividend_bits`` cycles and one division per cycle; the whole
    pipeline advances when ``o.ready | ~o.valid``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, dividend_bits, divisor_bits, pipelined=False, tag_shape=None):
        self._dividend_bits = check_int("dividend_bits", dividend_bits, minimum=1, maximum=64)
        self._divisor_bits = check_int("divisor_bits", divisor_bits, minimum=1, maximum=64)
        if not isinstance(pipelined, bool):
            raise TypeError(f"pipelined must be True or False, not {pipelined!r}")
        self._pipelined = pipelined
        if tag_shape is not None:
            check_shape("tag_shape", tag_shape)          # a layout stays a layout
        tag = {} if tag_shape is None else {"tag": tag_shape}
        self._tagged = bool(tag)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "dividend": unsigned(dividend_bits), "divisor": unsigned(divisor_bits), **tag}))),
            "o": Out(stream.Signature(data.StructLayout({
                "quotient": unsigned(dividend_bits), "remainder": unsigned(divisor_bits), **tag}))),
        })

    dividend_bits = property(lambda self: self._dividend_bits)
    divisor_bits = property(lambda self: self._divisor_bits)
    pipelined = property(lambda self: self._pipelined)

    @property
    def latency(self):
        """Cycles from taking the operands to the result being valid."""
        return self._dividend_bits if self._pipelined else self._dividend_bits + 1

    @property
    def interval(self):
        """Cycles between back-to-back divisions without backpressure."""
        return 1 if self._pipelined else self._dividend_bits + 1

    def elaborate(self, platform):
        m = Module()
        if self._pipelined:
            self._elaborate_pipelined(m)
        else:
            self._elaborate_iterative(m)
        return m

    def _step(self, rem, bits, divisor):
        """One restoring step: (new remainder, quotient bit, shifted dividend bits)."""
        top = bits[-1]
        trial = Cat(top, rem)                           # (rem << 1) | next dividend bit
        take = trial >= divisor
        new_rem = trial - (divisor & take.replicate(len(divisor)))
        return new_rem[:self._divisor_bits], take, Cat(take, bits[:-1])

    def _elaborate_iterative(self, m):
        n = self._dividend_bits
        rem = Signal(self._divisor_bits)
        bits = Signal(n)          # dividend bits shifting out at the top, quotient bits in
        divisor = Signal(self._divisor_bits)
        steps = Signal(range(n + 1))
        busy = Signal()

        m.d.comb += [self.o.payload.quotient.eq(bits), self.o.payload.remainder.eq(rem),
                     self.i.ready.eq(~busy & (~self.o.valid | self.o.ready))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [rem.eq(0), bits.eq(self.i.payload.dividend),
                         divisor.eq(self.i.payload.divisor), steps.eq(n), busy.eq(1)]
            if self._tagged:
                m.d.sync += self.o.payload.tag.eq(self.i.payload.tag)
        with m.Elif(busy):
            new_rem, _, new_bits = self._step(rem, bits, divisor)
            m.d.sync += [rem.eq(new_rem), bits.eq(new_bits), steps.eq(steps - 1)]
            with m.If(steps == 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]

    def _elaborate_pipelined(self, m):
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        valid, rem = self.i.valid, Signal(self._divisor_bits)   # stage 0: remainder 0
        bits, divisor = self.i.payload.dividend, self.i.payload.divisor
        tag = self.i.payload.tag if self._tagged else None
        for stage in range(self._dividend_bits):
            new_rem, _, new_bits = self._step(rem, bits, divisor)
            valid_s = Signal(name=f"valid_{stage}")
            rem_s = Signal(self._divisor_bits, name=f"rem_{stage}")
            bits_s = Signal(self._dividend_bits, name=f"bits_{stage}")
            divisor_s = Signal(self._divisor_bits, name=f"divisor_{stage}")
            with m.If(advance):
                m.d.sync += [valid_s.eq(valid), rem_s.eq(new_rem), bits_s.eq(new_bits),
                             divisor_s.eq(divisor)]
            valid, rem, bits, divisor = valid_s, rem_s, bits_s, divisor_s
            if self._tagged:
                tag_s = Signal.like(self.i.payload.tag, name=f"tag_{stage}")
                with m.If(advance):
                    m.d.sync += tag_s.eq(tag)
                tag = tag_s
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.quotient.eq(bits),
                     self.o.payload.remainder.eq(rem)]
        if self._tagged:
            m.d.comb += self.o.payload.tag.eq(tag)
