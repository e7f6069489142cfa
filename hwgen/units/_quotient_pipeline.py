"""A pipelined non-restoring divider that gives the quotient only (ShiftGELU's per-element division)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import Divider

__all__ = ["QuotientPipeline"]


class QuotientPipeline(wiring.Component):
    """``q = a // b`` of unsigned integers, one quotient bit per register stage, one division
    per cycle (non-restoring: no remainder is restored, so no multiplexer follows a carry chain).

    Each stage adds or subtracts the divisor, as the sign of the partial
    remainder it receives (a flip-flop) says, and registers the result::

        R = a >> quotient_bits                       # 0 <= R < b: the caller's bound
        for i in quotient_bits-1 .. 0:
            R = 2R + a[i] - b   if R >= 0   else   2R + a[i] + b
            q[i] = R >= 0

    A negative ``R`` is the restoring divider's failed trial ``2r + a[i] -
    b`` kept instead of restored, and the next step's ``+ b`` gives the
    restoring trial again; so each ``R`` is the restoring trial and ``q[i]``
    its quotient bit: the quotient is exact without a correction (only the
    remainder would need one, and this unit has none). ``-b <= R < b``:
    ``divisor_bits + 1`` bits. A stage is one carry chain whose operand is
    ``b`` or ``~b`` (with the carry in), chosen by a registered sign, and
    only the remainder's register after it: a quotient bit is the sign of a
    registered ``R``, collected one stage later (inverted at the output). The
    restoring stage's chain was followed by the quotient bit's fan-out to a
    multiplexer per remainder bit, which limited ShiftGELU to 197.6 MHz.

    Only the valid flags are reset: the remainders, divisors, signs, dividend
    bits and tags are read only behind a valid flag, and without a reset their
    flip-flops leave the reset net (at ``simd = 4`` ShiftGELU's four copies
    put 4,580 of its 7,566 flip-flops on it, a net of 7,200 sinks routed in
    the fabric; nextpnr seed 2 did not route with it).

    Parameters
    ----------
    dividend_bits, divisor_bits, quotient_bits, dividend, tag_shape
        as :class:`~hwgen.units.divider.Divider`'s (``a < b << quotient_bits``
        is the caller's guarantee).

    Members
    -------
    i : In(stream.Signature(StructLayout({"dividend"?, "divisor", "tag"?})))
        as the divider's
    o : Out(stream.Signature(StructLayout({"quotient": unsigned(quotient_bits), "tag"?})))

    Latency ``quotient_bits`` cycles, a division per cycle; the pipeline
    advances when ``o.ready | ~o.valid``.
    """

    def __init__(self, *, dividend_bits, divisor_bits, quotient_bits=None, dividend=None,
                 tag_shape=None):
        # The Divider checks the parameters and gives the input port; it is never elaborated.
        model = Divider(dividend_bits=dividend_bits, divisor_bits=divisor_bits,
                        quotient_bits=quotient_bits, dividend=dividend, pipelined=True,
                        tag_shape=tag_shape)
        model._MustUse__silence = True
        self._dividend_bits, self._divisor_bits = dividend_bits, divisor_bits
        self._quotient_bits, self._dividend = model.quotient_bits, dividend
        self._tag_shape = tag_shape
        tag = {} if tag_shape is None else {"tag": tag_shape}
        super().__init__({
            "i": In(stream.Signature(model.i.payload.shape())),
            "o": Out(stream.Signature(data.StructLayout({
                "quotient": unsigned(self._quotient_bits), **tag}))),
        })

    quotient_bits = property(lambda self: self._quotient_bits)
    latency = property(lambda self: self._quotient_bits)
    interval = 1

    def elaborate(self, platform):
        m = Module()
        q, width = self._quotient_bits, self._divisor_bits + 1
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        a = Const(self._dividend, self._dividend_bits) if self._dividend is not None \
            else self.i.payload.dividend
        valid, divisor = self.i.valid, self.i.payload.divisor
        rem, negative = (a >> q)[:width], Const(0, 1)   # R = a >> q < b, not negative
        low = a[:q]                                      # dividend bits still to bring down
        signs = Const(0, 0)      # the signs of the R before the previous stage's, registered
        tag = self.i.payload.tag if self._tag_shape is not None else None
        for stage in range(q):
            bit = q - 1 - stage
            trial = Cat(low[bit], rem[:width])           # 2R + a[bit], width + 1 bits
            operand = divisor.as_unsigned() ^ Mux(negative, 0, (1 << (width + 1)) - 1)
            # trial + operand + ~negative on one carry chain: the carry in rides below bit 0.
            total = (Cat(Const(1, 1), trial) + Cat(~negative, operand[:width + 1]))[1:width + 1]
            valid_s = Signal(name=f"valid_{stage}")
            rem_s = Signal(signed(width), name=f"rem_{stage}", reset_less=True)
            divisor_s = Signal(self._divisor_bits, name=f"divisor_{stage}", reset_less=True)
            with m.If(advance):
                m.d.sync += [valid_s.eq(valid), rem_s.eq(total), divisor_s.eq(divisor)]
            if stage:
                # q[bit + 1] is the sign of the R this stage received: flip-flop to flip-flop,
                # so nothing but the remainder register follows the carry chain.
                signs_s = Signal(stage, name=f"signs_{stage}", reset_less=True)
                with m.If(advance):
                    m.d.sync += signs_s.eq(Cat(negative, signs))
                signs = signs_s
            valid, divisor = valid_s, divisor_s
            rem, negative = rem_s, rem_s[-1]
            if self._dividend is None and bit:
                low_s = Signal(bit, name=f"low_{stage}", reset_less=True)
                with m.If(advance):
                    m.d.sync += low_s.eq(low[:bit])
                low = low_s
            if tag is not None:
                tag_s = Signal.like(self.i.payload.tag, name=f"tag_{stage}", reset_less=True)
                with m.If(advance):
                    m.d.sync += tag_s.eq(tag)
                tag = tag_s
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.quotient.eq(~Cat(negative, signs))]
        if tag is not None:
            m.d.comb += self.o.payload.tag.eq(tag)
        return m
