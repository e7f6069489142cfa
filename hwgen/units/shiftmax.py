"""I-ViT Shiftmax: integer softmax over a row, shifts and one integer division per row."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from ._expshift import EXP_SHIFT_LATENCY, delay, exp_shift, exp_shift_bits
from ._multiply import product_latency, shift_add_product
from ._rowbuffer import (
    RowApply,
    RowQueue,
    RowReduce,
    add,
    fold_max,
    lanes_of,
    larger,
    per_row,
    row_buffer_depth,
    value_fifo,
)
from .divider import Divider

__all__ = ["Shiftmax"]

_Q31 = (1 << 31) - 1


class Shiftmax(wiring.Component):
    """Integer softmax of rows of ``length`` elements, ``simd`` per beat (I-ViT ``IntSoftmax``).

    Per row, ``sw_reference.ivit.shiftmax`` (docs/design/operators.md)::

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
    again in the output pass, and stored small: ``e = v << k`` with
    ``v = (r >> 1) - x0`` of ``bits(|x0|)`` bits and a shift ``k <= n``, so
    the buffer holds ``(v, k)`` (9 bits for ``x0 = -16`` instead of 20) and
    the output pass computes ``((v * factor) << k) >> (32 - out_bits)``, a
    narrow shift-add product. The sum saturates at ``2**31 - 1`` at every
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
    first output beat of a row leaves ``F + factor_bits + 26`` cycles after
    the row's last input beat without backpressure (102 for rows of 64,
    ``simd = 1``, ``x0 = -16``, measured).
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
    cycles_per_row = property(lambda self: self.folds)

    @property
    def factor_bits(self):
        """Width of ``(2**31 - 1) // S``, from ``S >= |x0| << n``."""
        return (_Q31 // ((-self._x0) << self._n)).bit_length()

    def _divider(self):
        return Divider(dividend_bits=31, divisor_bits=31, quotient_bits=self.factor_bits,
                       dividend=_Q31)

    def _mantissas(self):
        """Layout of a beat of stored exponentials ``e = v << k`` as ``(v, k)``."""
        return data.StructLayout({
            "v": data.ArrayLayout(unsigned((-self._x0).bit_length()), self._simd),
            "k": data.ArrayLayout(unsigned(max(self._n, 1).bit_length()), self._simd)})

    def elaborate(self, platform):
        m = Module()
        simd, folds = self._simd, self.folds
        beats = data.ArrayLayout(self._in_shape, simd)
        mantissas = self._mantissas()
        exps = data.StructLayout({
            "e": data.ArrayLayout(unsigned(exp_shift_bits(self._x0, self._n)), simd),
            **mantissas.members})
        factor = unsigned(self.factor_bits)

        divider = per_row(self._divider, folds)
        m.submodules.row_max = row_max = RowReduce(
            beat_shape=beats, value_shape=self._in_shape, folds=folds, lanes=lanes_of,
            combine=larger, fold=fold_max, depth=row_buffer_depth(folds, 0))
        m.submodules.exp = exp = RowApply(beat_shape=beats, value_shape=self._in_shape,
                                          out_shape=exps, folds=folds, build=self._exp)
        m.submodules.row_sum = row_sum = RowReduce(
            beat_shape=exps, value_shape=unsigned(31), folds=folds,
            lanes=lambda beat: lanes_of(beat.e), combine=add, fold=_saturating_sum,
            depth=row_buffer_depth(folds, divider.latency + RowQueue.latency),
            keep=lambda beat: Cat(beat.v, beat.k), kept_shape=mantissas, staged_write=True)
        m.submodules.divider = divider
        m.submodules.factor_fifo = factor_fifo = value_fifo(factor)
        m.submodules.scale = scale = RowApply(beat_shape=mantissas, value_shape=factor,
                                              out_shape=self.o.payload.shape(), folds=folds,
                                              build=self._scale)

        wiring.connect(m, wiring.flipped(self.i), row_max.i)
        wiring.connect(m, row_max.o, exp.i)
        wiring.connect(m, row_max.value, exp.value)
        wiring.connect(m, exp.o, row_sum.i)
        m.d.comb += [divider.i.valid.eq(row_sum.value.valid),
                     divider.i.payload.divisor.eq(row_sum.value.payload),
                     row_sum.value.ready.eq(divider.i.ready),
                     factor_fifo.i.valid.eq(divider.o.valid),
                     factor_fifo.i.payload.eq(divider.o.payload.quotient),
                     divider.o.ready.eq(factor_fifo.i.ready)]
        wiring.connect(m, row_sum.o, scale.i)
        wiring.connect(m, factor_fifo.o, scale.value)
        wiring.connect(m, scale.o, wiring.flipped(self.o))
        return m

    def _exp(self, m, beat, top, position, enable):
        out = Signal(data.StructLayout({
            "e": data.ArrayLayout(unsigned(exp_shift_bits(self._x0, self._n)), self._simd),
            **self._mantissas().members}))
        for lane in range(self._simd):
            e, v, k = exp_shift(m, beat[lane], top, x0=self._x0, n=self._n,
                                name=f"exp_{lane}", enable=enable, parts=True)
            m.d.comb += [out.e[lane].eq(e), out.v[lane].eq(v), out.k[lane].eq(k)]
        return out, EXP_SHIFT_LATENCY

    def _scale(self, m, mantissas, factor, position, enable):
        """``(e * factor) >> (32 - out_bits)`` as ``((v * factor) << k) >> (32 - out_bits)``."""
        y = Signal(self.o.payload.shape())
        for lane in range(self._simd):
            v, k = mantissas.v[lane], mantissas.k[lane]
            product = shift_add_product(m, v, factor, enable=enable, name=f"product_{lane}")
            latency = product_latency(v.shape(), factor.shape())
            k = delay(m, k, latency, enable, f"k_{lane}", reset_less=True)
            m.d.comb += y[lane].eq((product << k) >> (32 - self._out_bits))
        return y, product_latency(unsigned(len(mantissas.v[0])), unsigned(self.factor_bits))


def _saturating_sum(running, part, first):
    total = running + part              # the first beat's mux after the carry chain, not before
    return Mux(first, Mux(part[31:].any(), Const(_Q31), part),
               Mux(total[31:].any(), Const(_Q31), total))     # above 2**31 - 1: bit 31 or up
