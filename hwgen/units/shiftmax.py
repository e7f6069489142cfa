"""I-ViT Shiftmax: integer softmax over a row, shifts and one integer division per row."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from ._expshift import EXP_SHIFT_LATENCY, exp_shift, exp_shift_bits
from ._rowbuffer import (
    RowApply,
    RowReduce,
    fold_max,
    lane_max,
    lane_sum,
    per_row,
    row_buffer_depth,
    value_fifo,
)
from .divider import Divider
from .fifo import StreamFIFO

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

    How, as a row pipeline (:mod:`~hwgen.units._rowbuffer`) whose passes
    work on different rows at once::

        i -> max of the row ---------------------------> (row value FIFO)
          -> row buffer of x -> e = exp_shift(x - max) -> sum of the row (saturating)
             -> row buffer of e      S -> (2**31 - 1) // S -> (row value FIFO)
             -> y = (e * factor) >> (32 - out_bits) -> o

    The exponentials are stored (a second row buffer) rather than computed
    again in the output pass. The sum saturates at ``2**31 - 1`` at every
    step, which equals saturating the total since all terms are
    non-negative. The division is one per row: a restoring
    :class:`~hwgen.units.divider.Divider` with the constant dividend and only
    :attr:`factor_bits` steps, since ``S >= |x0| << n`` (the row's maximum
    contributes exactly that) bounds the quotient; iterative, with
    :class:`~hwgen.units._rowbuffer.RoundRobin` copies when a row is shorter
    than one division.

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

    Latency and throughput: ``simd`` elements per cycle in steady state,
    a row every ``F = length / simd`` cycles (:attr:`cycles_per_row`); the
    first output beat of a row leaves about ``F + factor_bits + 20`` cycles
    after the row's last input beat (without backpressure).
    """

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
    cycles_per_row = property(lambda self: self.folds)

    @property
    def factor_bits(self):
        """Width of ``(2**31 - 1) // S``, from ``S >= |x0| << n``."""
        return (_Q31 // ((-self._x0) << self._n)).bit_length()

    def _divider(self):
        return Divider(dividend_bits=31, divisor_bits=31, quotient_bits=self.factor_bits,
                       dividend=_Q31)

    def elaborate(self, platform):
        m = Module()
        simd, folds = self._simd, self.folds
        beats = data.ArrayLayout(self._in_shape, simd)
        e_beats = data.ArrayLayout(unsigned(exp_shift_bits(self._x0, self._n)), simd)
        factor = unsigned(self.factor_bits)

        m.submodules.row_max = row_max = RowReduce(
            beat_shape=beats, value_shape=self._in_shape, folds=folds, part=lane_max,
            fold=fold_max)
        m.submodules.x_buffer = x_buffer = StreamFIFO(beats, depth=row_buffer_depth(
            folds, RowReduce.latency + StreamFIFO.latency))
        m.submodules.max_fifo = max_fifo = value_fifo(self._in_shape)
        m.submodules.exp = exp = RowApply(beat_shape=beats, value_shape=self._in_shape,
                                          out_shape=e_beats, folds=folds, build=self._exp)
        m.submodules.row_sum = row_sum = RowReduce(
            beat_shape=e_beats, value_shape=unsigned(31), folds=folds, part=lane_sum,
            fold=_saturating_sum)
        divider = per_row(self._divider, folds)
        m.submodules.divider = divider
        m.submodules.e_buffer = e_buffer = StreamFIFO(e_beats, depth=row_buffer_depth(
            folds, RowReduce.latency + divider.latency + StreamFIFO.latency))
        m.submodules.factor_fifo = factor_fifo = value_fifo(factor)
        m.submodules.scale = scale = RowApply(beat_shape=e_beats, value_shape=factor,
                                              out_shape=self.o.payload.shape(), folds=folds,
                                              build=self._scale)

        wiring.connect(m, wiring.flipped(self.i), row_max.i)
        wiring.connect(m, row_max.o, x_buffer.i)
        wiring.connect(m, row_max.value, max_fifo.i)
        wiring.connect(m, x_buffer.o, exp.i)
        wiring.connect(m, max_fifo.o, exp.value)
        wiring.connect(m, exp.o, row_sum.i)
        wiring.connect(m, row_sum.o, e_buffer.i)
        m.d.comb += [divider.i.valid.eq(row_sum.value.valid),
                     divider.i.payload.divisor.eq(row_sum.value.payload),
                     row_sum.value.ready.eq(divider.i.ready),
                     factor_fifo.i.valid.eq(divider.o.valid),
                     factor_fifo.i.payload.eq(divider.o.payload.quotient),
                     divider.o.ready.eq(factor_fifo.i.ready)]
        wiring.connect(m, e_buffer.o, scale.i)
        wiring.connect(m, factor_fifo.o, scale.value)
        wiring.connect(m, scale.o, wiring.flipped(self.o))
        return m

    def _exp(self, m, beat, top, position, enable):
        e = Signal(data.ArrayLayout(unsigned(exp_shift_bits(self._x0, self._n)), self._simd))
        for lane in range(self._simd):
            m.d.comb += e[lane].eq(exp_shift(m, beat[lane], top, x0=self._x0, n=self._n,
                                             name=f"exp_{lane}", enable=enable))
        return e, EXP_SHIFT_LATENCY

    def _scale(self, m, e, factor, position, enable):
        """``(e * factor) >> (32 - out_bits)``: registered operands, registered product."""
        factor1 = Signal.like(factor, name="factor1")
        e1 = Signal.like(e, name="e1")
        with m.If(enable):
            m.d.sync += [factor1.eq(factor), e1.eq(e)]
        y = Signal(self.o.payload.shape())
        for lane in range(self._simd):
            product = Signal(len(e1[lane]) + len(factor1), name=f"product_{lane}")
            with m.If(enable):
                m.d.sync += product.eq(e1[lane] * factor1)
            m.d.comb += y[lane].eq(product >> (32 - self._out_bits))
        return y, _SCALE_LATENCY


_SCALE_LATENCY = 2


def _saturating_sum(running, part, first):
    total = Mux(first, 0, running) + part
    return Mux(total > _Q31, Const(_Q31), total)
