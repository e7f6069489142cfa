"""Unsigned integer division, restoring, one quotient bit per step: iterative or pipelined."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape

__all__ = ["Divider"]


class Divider(wiring.Component):
    """``q = a // b`` and ``r = a % b`` of unsigned integers (restoring division).

    One step per quotient bit, from the most significant down::

        r = a >> quotient_bits           # < b: the caller's bound on the quotient
        for i in quotient_bits-1 .. 0:
            r = (r << 1) | a[i]          # r < 2*b: divisor_bits + 1 bits suffice
            q[i] = r >= b
            if q[i]: r -= b

    Each step is one subtraction (its borrow is the quotient bit) and a
    multiplexer. A bounded quotient (``quotient_bits`` below
    ``dividend_bits``) saves the steps whose quotient bit is known to be 0.
    Pipelined, each stage is only as wide as the partial remainder can be:
    before the step for bit ``i``, ``r <= a >> (i + 1)``, so the trial value
    ``2r + a[i]`` is below ``2**bits(max(a) >> i)`` (a constant ``dividend``
    sharpens ``max(a)``); a divisor above that makes the bit 0 without a
    subtraction. The early stages of a division with a wide dividend are
    therefore narrow (the stage widths form a triangle, not a square).

    A zero divisor gives ``q = 2**quotient_bits - 1`` (every trial succeeds)
    and a meaningless remainder; callers divide by a value they know is
    positive (I-ViT: a row sum ``>= 1``, a square root ``>= 1``).

    Only the control flags (``busy``, the valid flags) are reset: remainders,
    quotient bits, divisors, step counts and tags are read only behind them,
    and without a reset their flip-flops stay off the reset net.

    Parameters
    ----------
    dividend_bits : int     width of ``a`` (1 .. 64)
    divisor_bits : int      width of ``b`` and ``r`` (1 .. 64)
    quotient_bits : int or None
        width of ``q`` (default ``dividend_bits``); the caller guarantees
        ``a < b << quotient_bits`` (e.g. from a lower bound on ``b``), and the
        result is exact under that guarantee.
    dividend : int or None
        a constant ``a`` (below ``2**dividend_bits``): the input then carries
        only the divisor (e.g. I-ViT's ``(2**31 - 1) // S``).
    pipelined : bool
        False (iterative): one step per cycle on one set of registers, one
        division in flight. True: ``quotient_bits`` register stages, one step
        each, a new division accepted every cycle.
    tag_shape : Shape or None
        Side data (AXI ``TUSER`` style) that travels with each division,
        unchanged, so a caller's per-element values stay in step with the
        quotient through the pipeline.

    Members
    -------
    i : In(stream.Signature(StructLayout({"dividend": unsigned(dividend_bits),
                                           "divisor": unsigned(divisor_bits)})))
        (no ``"dividend"`` field with a constant ``dividend``)
    o : Out(stream.Signature(StructLayout({"quotient": unsigned(quotient_bits),
                                            "remainder": unsigned(divisor_bits)})))
        both with a ``"tag"`` field as well when ``tag_shape`` is given.

    Latency and throughput: iterative, the result is valid ``quotient_bits + 1``
    cycles after the operands are taken (load, ``quotient_bits`` steps), and
    the next operands are taken in the cycle after the result leaves (so
    ``o.ready`` does not reach ``i.ready``), so back-to-back divisions take
    ``quotient_bits + 2`` cycles each (:attr:`interval`). Pipelined, latency
    ``quotient_bits`` cycles and one division per cycle; the whole pipeline
    advances when ``o.ready | ~o.valid``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, dividend_bits, divisor_bits, quotient_bits=None, dividend=None,
                 pipelined=False, tag_shape=None):
        self._dividend_bits = check_int("dividend_bits", dividend_bits, minimum=1, maximum=64)
        self._divisor_bits = check_int("divisor_bits", divisor_bits, minimum=1, maximum=64)
        self._quotient_bits = dividend_bits if quotient_bits is None else check_int(
            "quotient_bits", quotient_bits, minimum=1, maximum=dividend_bits)
        if dividend is not None:
            dividend = check_int("dividend", dividend, minimum=0,
                                 maximum=(1 << dividend_bits) - 1)
        self._dividend = dividend
        if not isinstance(pipelined, bool):
            raise TypeError(f"pipelined must be True or False, not {pipelined!r}")
        self._pipelined = pipelined
        if tag_shape is not None:
            check_shape("tag_shape", tag_shape)          # a layout stays a layout
        tag = {} if tag_shape is None else {"tag": tag_shape}
        self._tagged = bool(tag)
        operand = {} if dividend is not None else {"dividend": unsigned(dividend_bits)}
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                **operand, "divisor": unsigned(divisor_bits), **tag}))),
            "o": Out(stream.Signature(data.StructLayout({
                "quotient": unsigned(self._quotient_bits), "remainder": unsigned(divisor_bits),
                **tag}))),
        })

    dividend_bits = property(lambda self: self._dividend_bits)
    divisor_bits = property(lambda self: self._divisor_bits)
    quotient_bits = property(lambda self: self._quotient_bits)
    dividend = property(lambda self: self._dividend)
    pipelined = property(lambda self: self._pipelined)

    @property
    def latency(self):
        """Cycles from taking the operands to the result being valid."""
        return self._quotient_bits if self._pipelined else self._quotient_bits + 1

    @property
    def interval(self):
        """Cycles between back-to-back divisions without backpressure."""
        return 1 if self._pipelined else self._quotient_bits + 2

    def elaborate(self, platform):
        m = Module()
        if self._pipelined:
            self._elaborate_pipelined(m)
        else:
            self._elaborate_iterative(m)
        return m

    def _operand(self):
        if self._dividend is not None:
            return Const(self._dividend, self._dividend_bits)
        return self.i.payload.dividend

    def _trial_bits(self, bit):
        """Width of the trial value ``2r + a[bit]`` (at most ``bits(max(a) >> bit)``)."""
        top = (1 << self._dividend_bits) - 1 if self._dividend is None else self._dividend
        return max(1, min(self._divisor_bits + 1, (top >> bit).bit_length()))

    def _small(self, divisor, width):
        """The divisor fits a ``width``-bit trial (else the quotient bit is 0, no subtraction)."""
        return divisor[width:] == 0 if width < len(divisor) else Const(1)

    def _step(self, rem, next_bit, divisor, width, small=None):
        """One restoring step on a ``width``-bit trial: (new remainder, quotient bit).

        ``small`` is :meth:`_small` if the caller has it (registered), else it is built here.
        """
        trial = Cat(next_bit, rem)[:width]               # (rem << 1) | next dividend bit
        small = self._small(divisor, width) if small is None else small
        diff = trial - divisor[:width]                   # one carry chain; the top bit borrows
        take = small & ~diff[width]
        new_rem = Mux(take, diff[:width], trial)
        return new_rem[:min(width, self._divisor_bits)], take

    def _elaborate_iterative(self, m):
        q = self._quotient_bits
        rem = Signal(self._divisor_bits, reset_less=True)
        bits = Signal(q, reset_less=True)   # dividend bits shifting out at the top, quotient in
        divisor = Signal(self._divisor_bits, reset_less=True)
        steps = Signal(range(q + 1), reset_less=True)          # read only while busy
        busy = Signal()
        if self._tagged:
            tag = Signal.like(self.i.payload.tag, name="tag", reset_less=True)
            m.d.comb += self.o.payload.tag.eq(tag)

        m.d.comb += [self.o.payload.quotient.eq(bits), self.o.payload.remainder.eq(rem),
                     self.i.ready.eq(~busy & ~self.o.valid)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            a = self._operand()
            m.d.sync += [rem.eq(a >> q), bits.eq(a[:q]),
                         divisor.eq(self.i.payload.divisor), steps.eq(q), busy.eq(1)]
            if self._tagged:
                m.d.sync += tag.eq(self.i.payload.tag)
        with m.Elif(busy):
            new_rem, take = self._step(rem, bits[-1], divisor, self._divisor_bits + 1)
            m.d.sync += [rem.eq(new_rem), bits.eq(Cat(take, bits[:-1])), steps.eq(steps - 1)]
            with m.If(steps == 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1)]

    def _elaborate_pipelined(self, m):
        q = self._quotient_bits
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        a = self._operand()
        valid, divisor = self.i.valid, self.i.payload.divisor
        rem = a >> q                                     # stage 0: the bits above the quotient
        low = a[:q]                                      # dividend bits still to bring down
        quotient = Const(0, 0)                           # quotient bits found so far
        tag = self.i.payload.tag if self._tagged else None
        small = self._small(divisor, self._trial_bits(q - 1))
        for stage in range(q):
            bit = q - 1 - stage
            new_rem, take = self._step(rem, low[bit] if self._dividend is None
                                       else Const((self._dividend >> bit) & 1, 1),
                                       divisor, self._trial_bits(bit), small)
            valid_s = Signal(name=f"valid_{stage}")
            rem_s = Signal(len(new_rem), name=f"rem_{stage}", reset_less=True)
            quotient_s = Signal(stage + 1, name=f"quotient_{stage}", reset_less=True)
            divisor_s = Signal(self._divisor_bits, name=f"divisor_{stage}", reset_less=True)
            # The next stage's divisor test, one stage early: a flip-flop, off its carry path.
            small_s = Signal(name=f"small_{stage}", reset_less=True)
            with m.If(advance):
                m.d.sync += [valid_s.eq(valid), rem_s.eq(new_rem),
                             quotient_s.eq(Cat(take, quotient)), divisor_s.eq(divisor)]
                if bit:
                    m.d.sync += small_s.eq(self._small(divisor, self._trial_bits(bit - 1)))
            valid, rem, quotient, divisor, small = valid_s, rem_s, quotient_s, divisor_s, small_s
            if self._dividend is None and bit:
                low_s = Signal(bit, name=f"low_{stage}", reset_less=True)
                with m.If(advance):
                    m.d.sync += low_s.eq(low[:bit])
                low = low_s
            if self._tagged:
                tag_s = Signal.like(self.i.payload.tag, name=f"tag_{stage}", reset_less=True)
                with m.If(advance):
                    m.d.sync += tag_s.eq(tag)
                tag = tag_s
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.quotient.eq(quotient),
                     self.o.payload.remainder.eq(rem)]
        if self._tagged:
            m.d.comb += self.o.payload.tag.eq(tag)
