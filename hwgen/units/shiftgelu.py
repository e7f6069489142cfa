"""I-ViT ShiftGELU: ``p * sigmoid(1.702 p)`` with shift exponentials and one division per element."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import check_int, check_shape, shape_range
from ._expshift import EXP_SHIFT_LATENCY, delay, exp_shift, exp_shift_value
from ._multiply import product_latency, shift_add_product
from ._rowbuffer import (
    RowApply,
    RowReduce,
    fold_max,
    lanes_of,
    larger,
    row_buffer_depth,
)
from ._quotient_pipeline import QuotientPipeline

__all__ = ["ShiftGELU"]

_Q31 = (1 << 31) - 1


class ShiftGELU(wiring.Component):
    """Integer GELU of rows of ``length`` elements, ``simd`` per beat (I-ViT ``IntGELU``).

    Per row, ``sw_reference.ivit.shiftgelu`` (docs/design/operators.md)::

        m = max(p)
        e  = exp_shift(p - m, x0, n);  em = min(exp_shift(-m, x0, n), 2**31 - 1)
        sig = (e * ((2**31 - 1) // min(e + em, 2**31 - 1))) >> 24
        y = p * sig

    How, as a row pipeline (:mod:`~hwgen.units._rowbuffer`) whose passes
    work on different rows at once::

        i -> max of the row ---------------------------------> (row value FIFO)
          -> row buffer of p -> e = exp_shift(p - m), em = exp_shift(-m), S = min(e + em, 2**31 - 1)
          -> per lane: f = (2**31 - 1) // S -> sig = (e * f) >> 24 -> y = p * sig -> o

    ``em`` depends on the row only: one (capped) exponential for all lanes.
    The per-element division runs at full rate on one pipelined
    non-restoring :class:`~hwgen.units._quotient_pipeline.QuotientPipeline`
    per lane (one carry chain per stage, its operand chosen by a registered
    sign; exact quotient bits, no remainder), made short by the input range:
    it bounds ``S`` from below (:attr:`divisor_min`: ``em`` alone is at least
    ``exp_shift(-max(in_shape))``), hence the quotient to
    :attr:`quotient_bits`, which drops the top stages (``x0 = -19``, int8:
    ``S >= 213,248``, 14 stages of the 31). No rounding is involved, so ``f``
    is exactly ``floor((2**31 - 1) / S)``.
    Riding along with each division (the divider's tag) are ``p`` and
    ``e`` as ``(v, k)``, ``bits(|x0|)`` + 5 bits rather than all of ``e``,
    and ``e * f = (v * f) << k``, a narrow product. When the sum saturates
    (``S = 2**31 - 1``) the quotient is 1 and ``sig = e >> 24``, the golden
    model's value, with no special case.

    Parameters
    ----------
    in_shape : Shape    element type of ``p`` (I-ViT: int8)
    length : int        elements per row (the last axis)
    simd : int          elements per beat; must divide ``length``
    x0 : int            ``floor(-1 / (1.702 * scale))``, below 0 and above ``-2**31``
    n : int             exponent range (I-ViT: 23)
    out_shape : Shape or None
        element type of ``y``; None: just wide enough for
        ``p * sig`` with ``0 <= sig <= max(127, |x0| >> 1)``

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, simd)))
    o : Out(stream.Signature(ArrayLayout(out_shape, simd)))

    Latency and throughput: ``simd`` elements per cycle in steady state, a
    row every ``F = length / simd`` cycles (:attr:`cycles_per_row`); a row's
    first result leaves ``quotient_bits + 27`` cycles after its last input
    beat without backpressure (41 for ``x0 = -19``, int8, measured).
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("folds",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, in_shape, length, simd=1, x0, n=23, out_shape=None):
        self._in_shape = check_shape("in_shape", in_shape)
        self._length = check_int("length", length, minimum=1)
        self._simd = check_int("simd", simd, minimum=1)
        if length % simd:
            raise ValueError(f"simd must divide length ({length}), not {simd!r}")
        self._x0 = check_int("x0", x0, minimum=-_Q31, maximum=-1)
        self._n = check_int("n", n, minimum=0, maximum=31)
        lo, hi = shape_range(self._in_shape)
        sig = max(127, -self._x0 >> 1)
        low, high = min(sig * lo, 0), max(sig * hi, 0)
        need = range_shape(low, high)
        self._out_shape = need if out_shape is None else check_shape("out_shape", out_shape)
        out_lo, out_hi = shape_range(self._out_shape)
        if low < out_lo or high > out_hi:
            raise ValueError(f"out_shape must hold [{low}, {high}], not {out_shape!r}")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, simd))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, simd))),
        })

    in_shape = property(lambda self: self._in_shape)
    out_shape = property(lambda self: self._out_shape)
    length = property(lambda self: self._length)
    simd = property(lambda self: self._simd)
    folds = property(lambda self: self._length // self._simd)
    x0 = property(lambda self: self._x0)
    n = property(lambda self: self._n)
    cycles_per_row = property(lambda self: self.folds)

    @property
    def divisor_min(self):
        """The smallest ``S`` of any row: ``p >= lo`` and ``m <= hi`` (the input range), and
        both exponentials are non-decreasing in their argument, so ``e >= exp_shift(lo - hi)``
        and ``em >= exp_shift(-hi)``; the sum is capped as ``S`` is."""
        lo, hi = shape_range(self._in_shape)
        e = exp_shift_value(lo - hi, x0=self._x0, n=self._n)
        em = exp_shift_value(-hi, x0=self._x0, n=self._n, cap=_Q31)
        return min(e + em, _Q31)

    @property
    def quotient_bits(self):
        """Width of ``(2**31 - 1) // S``, from ``S >= divisor_min``."""
        return (_Q31 // self.divisor_min).bit_length()

    @property
    def _tag(self):
        return data.StructLayout({"p": self._in_shape, "v": unsigned((-self._x0).bit_length()),
                                  "k": unsigned(max(self._n, 1).bit_length())})

    def _divider(self):
        return QuotientPipeline(dividend_bits=31, divisor_bits=31,
                                quotient_bits=self.quotient_bits, dividend=_Q31,
                                tag_shape=self._tag)

    def elaborate(self, platform):
        m = Module()
        simd, folds = self._simd, self.folds
        beats = data.ArrayLayout(self._in_shape, simd)
        m.submodules.row_max = row_max = RowReduce(
            beat_shape=beats, value_shape=self._in_shape, folds=folds, lanes=lanes_of,
            combine=larger, fold=fold_max, depth=row_buffer_depth(folds, 0))
        m.submodules.gelu = gelu = RowApply(beat_shape=beats, value_shape=self._in_shape,
                                            out_shape=self.o.payload.shape(), folds=folds,
                                            build=self._gelu)
        wiring.connect(m, wiring.flipped(self.i), row_max.i)
        wiring.connect(m, row_max.o, gelu.i)
        wiring.connect(m, row_max.value, gelu.value)
        wiring.connect(m, gelu.o, wiring.flipped(self.o))
        return m

    def _gelu(self, m, beat, top, position, enable):
        """Front (``S`` and the tag per lane), the lanes' dividers, back (``p * sig``).

        The dividers run inside the row pipeline, which never stalls: they
        take an operand every cycle (valid or not) and always pass results on.
        """
        x0, n = self._x0, self._n
        em = exp_shift(m, Const(0), top, x0=x0, n=n, name="em", enable=enable, cap=_Q31)
        sig_shape = unsigned(max(127, -x0 >> 1).bit_length())
        first = product_latency(self._tag.members["v"], unsigned(self.quotient_bits))
        second = product_latency(self._in_shape, sig_shape)
        y = Signal(self.o.payload.shape())
        for lane in range(self._simd):
            p = beat[lane]
            e, v, k = exp_shift(m, p, top, x0=x0, n=n, name=f"exp_{lane}", enable=enable,
                                parts=True)
            # em takes one stage more (its cap), and S = e + em a stage of its own before its
            # saturation (the sum's carry chain, the saturating mux and the route into the
            # divider in one stage: 31 levels, 5.24 ns, simd 4 seed 1 at 190.9 MHz).
            e = delay(m, e, 1, enable, f"e_{lane}", reset_less=True)
            v, k = (delay(m, value, 2, enable, f"{name}_{lane}", reset_less=True)
                    for value, name in ((v, "v"), (k, "k")))
            total = Signal((e + em).shape(), name=f"total_{lane}", reset_less=True)
            with m.If(enable):
                m.d.sync += total.eq(e + em)
            m.submodules[f"divider_{lane}"] = divider = self._divider()
            operands = Signal(divider.i.payload.shape(), name=f"operands_{lane}", reset_less=True)
            m.d.comb += [divider.i.valid.eq(1), divider.o.ready.eq(1),
                         divider.i.payload.eq(operands)]
            with m.If(enable):
                m.d.sync += [operands.divisor.eq(Mux(total[31:].any(), _Q31, total)),
                             operands.tag.p.eq(delay(m, p, EXP_SHIFT_LATENCY + 2, enable,
                                                     f"p_{lane}", reset_less=True)),
                             operands.tag.v.eq(v), operands.tag.k.eq(k)]
            # Back: sig = ((v * f) << k) >> 24 (= (e * f) >> 24), then y = p * sig.
            # The quotient's last bit is a sign flip-flop held at the end of its stage's carry
            # chain; a register of the quotient (and v) lets the placer put the product's
            # operands next to the product (without it: 194.8 MHz at simd 4, that path).
            result = divider.o.payload
            f = delay(m, result.quotient, 1, enable, f"f_{lane}", reset_less=True)
            v = delay(m, result.tag.v, 1, enable, f"v_back_{lane}", reset_less=True)
            product = shift_add_product(m, v, f, enable=enable, name=f"vf_{lane}")
            k = delay(m, result.tag.k, 1 + first, enable, f"k_{lane}", reset_less=True)
            p = delay(m, result.tag.p, 1 + first + 1, enable, f"p_back_{lane}", reset_less=True)
            sig = Signal(sig_shape, name=f"sig_{lane}", reset_less=True)
            with m.If(enable):
                m.d.sync += sig.eq((product << k) >> 24)
            m.d.comb += y[lane].eq(shift_add_product(m, p, sig, enable=enable,
                                                     name=f"y_{lane}"))
        latency = EXP_SHIFT_LATENCY + 3 + self.quotient_bits + 1 + first + 1 + second
        return y, latency
