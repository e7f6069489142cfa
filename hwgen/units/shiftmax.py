"""I-ViT Shiftmax: integer softmax over a row, shifts and one integer division per row."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from ._expshift import exp_shift, exp_shift_bits
from ._rowbuffer import RowBuffer, request_division, running_max
from .divider import Divider

__all__ = ["Shiftmax"]

_Q31 = (1 << 31) - 1


class Shiftmax(wiring.Component):
    """Integer softmax of rows of ``length`` elements, ``simd`` per beat (I-ViT ``IntSoftmax``).

    Per row, ``sw_reference.ivit.shiftmax`` (DESIGN.md section 3)::

        e = exp_shift(x - max(x), x0, n)
        S = min(sum(e), 2**31 - 1)
        y = (e * ((2**31 - 1) // S)) >> (32 - out_bits)       # unsigned, < 2**(out_bits-1)

    A layer with ``heads`` normalises each of ``heads`` consecutive groups of
    its last axis on its own (``sw_reference.modules.Shiftmax``): that is this
    unit with ``length`` = the group length, every group a row.

    How: a row is written into one of two row buffers (a memory of
    ``2 * length / simd`` beats) while its maximum is tracked. The back end
    then reads the other buffer twice: once to sum the exponentials (lane
    adder tree, accumulator saturating at ``2**31 - 1``; all terms are
    non-negative, so saturating each step equals saturating the total), and,
    after one iterative division ``(2**31 - 1) // S``
    (:class:`~hwgen.units.divider.Divider`), once to recompute each exponential
    and multiply it by the factor. The exponential is recomputed rather than
    stored, which costs logic but no second buffer. Widths come from bounds:
    ``e <= |x0| << n`` and ``S >= |x0| << n`` (the row's maximum contributes
    exactly that), so the factor has ``bits((2**31 - 1) // (|x0| << n))`` bits.

    Parameters
    ----------
    in_shape : Shape    element type of ``x`` (signed or unsigned)
    length : int        elements per row (the softmax axis)
    simd : int          elements per beat; must divide ``length``
    x0 : int            ``floor(-1 / scale)``; ``|x0| << n`` must stay below ``2**31``
    out_bits : int      output width, 1 .. 32
    n : int             exponent range (I-ViT: 15)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, simd)))
    o : Out(stream.Signature(ArrayLayout(unsigned(out_bits), simd)))

    Latency and throughput: a row of ``F = length / simd`` beats is taken in
    ``F`` cycles while the back end works on the previous one. The back end
    needs ``F + 3`` cycles for the sum pass, ``34`` for the division (a
    31-bit iterative divide plus hand-over) and ``F + 3`` for the output
    pass, so without backpressure a row leaves every ``2 * F + 40`` cycles
    or so (:attr:`cycles_per_row`), against an ideal of ``F``; the first
    output beat comes about ``2 * F + 38`` cycles after the last input beat
    of its row.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("folds",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, in_shape, length, simd=1, x0, out_bits=8, n=15):
        self._in_shape = check_shape("in_shape", in_shape)
        self._length = check_int("length", length, minimum=1)
        self._simd = check_int("simd", simd, minimum=1)
        if length % simd:
            raise ValueError(f"simd must divide length ({length}), not {simd!r}")
        self._x0 = check_int("x0", x0, maximum=-1)
        self._out_bits = check_int("out_bits", out_bits, minimum=1, maximum=32)
        self._n = check_int("n", n, minimum=0, maximum=30)
        if (-self._x0) << self._n > _Q31:
            raise ValueError(f"x0 must satisfy |x0| << n < 2**31 (n = {self._n}), not {x0!r}")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, simd))),
            "o": Out(stream.Signature(data.ArrayLayout(unsigned(self._out_bits), simd))),
        })

    in_shape = property(lambda self: self._in_shape)
    length = property(lambda self: self._length)
    simd = property(lambda self: self._simd)
    folds = property(lambda self: self._length // self._simd)
    x0 = property(lambda self: self._x0)
    out_bits = property(lambda self: self._out_bits)
    n = property(lambda self: self._n)
    cycles_per_row = property(lambda self: 2 * self.folds + 40)

    @property
    def factor_bits(self):
        """Width of ``(2**31 - 1) // S``, from ``S >= |x0| << n``."""
        return (_Q31 // ((-self._x0) << self._n)).bit_length()

    def elaborate(self, platform):
        m = Module()
        simd = self._simd
        m.submodules.divider = divider = Divider(dividend_bits=31, divisor_bits=31)
        advance = Signal()
        m.d.comb += advance.eq(self.o.ready | ~self.o.valid)
        rows = RowBuffer(shape=self._in_shape, simd=simd, folds=self.folds)
        rows.add(m, self.i, value_shape=self._in_shape, reduce=running_max, advance=advance)
        rd, issue, top = rows.rd, rows.issue, rows.row_value

        # Stage 1: the beat read from the buffer -> exponentials; stage 2: registered.
        v1, v2 = Signal(), Signal()
        width = exp_shift_bits(self._x0, self._n)
        e2 = Signal(data.ArrayLayout(unsigned(width), simd))
        with m.If(advance):
            m.d.sync += [v1.eq(issue), v2.eq(v1)]
            for lane in range(simd):
                e = exp_shift(m, rd.data[lane], top, x0=self._x0, n=self._n, name=f"exp_{lane}")
                m.d.sync += e2[lane].eq(e)

        total = Signal(range(_Q31 + 1))
        factor = Signal(self.factor_bits)
        beat_sum = sum(e2[lane] for lane in range(simd))
        drained = ~rows.issuing & ~v1 & ~v2
        phase = Signal(2)                         # idle, sum pass, division, output pass
        sent = Signal()                           # the divider has taken this row's sum
        # The back end's pass. Not m.FSM: Yosys writes an FSM as one partial case
        # statement per signal, which verilator -Wall flags (CASEINCOMPLETE).
        idle, summing, dividing, output = (phase == k for k in range(4))
        with m.If(idle & rows.ready):
            m.d.sync += [total.eq(0), rows.start_pass(), phase.eq(1)]
        with m.If(summing):
            with m.If(advance & v2):
                m.d.sync += total.eq(_saturate(total + beat_sum, _Q31))
            with m.If(drained):
                m.d.sync += phase.eq(2)
        with m.If(dividing):
            with m.If(request_division(m, divider, sent, _Q31, total)):
                m.d.sync += [factor.eq(divider.o.payload.quotient), rows.start_pass(),
                             phase.eq(3)]
        with m.If(output & drained):
            m.d.sync += [*rows.release(), phase.eq(0)]

        # Stage 3 (output pass only): the output register.
        with m.If(advance):
            m.d.sync += self.o.valid.eq(v2 & output)
            for lane in range(simd):
                m.d.sync += self.o.payload[lane].eq((e2[lane] * factor) >> (32 - self._out_bits))
        return m


def _saturate(value, limit):
    return Mux(value > limit, Const(limit), value)
