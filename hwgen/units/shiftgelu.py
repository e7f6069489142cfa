"""I-ViT ShiftGELU: ``p * sigmoid(1.702 p)`` with shift exponentials and one division per element."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import check_int, check_shape, shape_range
from ._expshift import exp_shift, exp_shift_bits
from ._rowbuffer import RowBuffer, running_max
from .divider import Divider

__all__ = ["ShiftGELU"]

_Q31 = (1 << 31) - 1


class ShiftGELU(wiring.Component):
    """Integer GELU of rows of ``length`` elements, ``simd`` per beat (I-ViT ``IntGELU``).

    Per row, ``sw_reference.ivit.shiftgelu`` (DESIGN.md section 3)::

        m = max(p)
        e  = exp_shift(p - m, x0, n);  em = min(exp_shift(-m, x0, n), 2**31 - 1)
        sig = (e * ((2**31 - 1) // min(e + em, 2**31 - 1))) >> 24
        y = p * sig

    How: a row is written into one of two row buffers while its maximum is
    tracked. The back end computes ``em`` once per row (``-m`` may be
    positive: the capped exponential, :func:`~hwgen.units._expshift.exp_shift`
    with ``cap``), then streams the buffer once: each element's ``e`` and
    ``S = min(e + em, 2**31 - 1)`` go into its lane's pipelined
    :class:`~hwgen.units.divider.Divider` (31 stages), with ``e`` and ``p``
    riding along as the divider's tag, and ``p * sig`` leaves at the end.

    Throughput choice: one division per element is the contract, so every
    lane has its own pipelined divider (31 stages of ~190 flip-flops) and the
    unit keeps up with its input, ``length / simd + 4`` cycles per row
    (:attr:`cycles_per_row`). An iterative divider per lane would save most
    of those flip-flops at 32 cycles per element.
    ``sig`` is ``e * factor >> 24`` when ``e < 2**31`` (then ``e <= S`` and it is
    at most 127); otherwise ``S`` saturated, the factor is 1 and ``sig = e >> 24``,
    so the multiplier is 31 x 31 bits, not as wide as ``e``.

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

    Latency: the first result of a row leaves about ``36 + length / simd``
    cycles after its last input beat (buffer, ``em``, read, 31 divider
    stages, output register).
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
    cycles_per_row = property(lambda self: self.folds + 4)

    def elaborate(self, platform):
        m = Module()
        simd, x0, n = self._simd, self._x0, self._n
        ebits = exp_shift_bits(x0, n)
        tag = data.StructLayout({"e": unsigned(ebits), "p": self._in_shape})
        dividers = [Divider(dividend_bits=31, divisor_bits=31, pipelined=True, tag_shape=tag)
                    for _ in range(simd)]
        for lane, divider in enumerate(dividers):
            m.submodules[f"divider_{lane}"] = divider

        # Stage 1 (the beat read from the buffer) moves on when the dividers take it.
        v1 = Signal()
        advance = Signal()
        m.d.comb += advance.eq(~v1 | dividers[0].i.ready)     # identical lanes, same ready
        rows = RowBuffer(shape=self._in_shape, simd=simd, folds=self.folds)
        rows.add(m, self.i, value_shape=self._in_shape, reduce=running_max, advance=advance)
        top = rows.row_value

        # Per row: em from the maximum, then one pass over the buffer.
        em = Signal(31)
        phase = Signal(2)                       # 0 idle, 1 em, 2 pass
        em_now = exp_shift(m, Const(0), top, x0=x0, n=n, name="em", cap=_Q31)
        with m.If((phase == 0) & rows.ready):
            m.d.sync += phase.eq(1)
        with m.If(phase == 1):
            m.d.sync += [em.eq(em_now), rows.start_pass(), phase.eq(2)]
        with m.If((phase == 2) & ~rows.issuing & ~v1):
            m.d.sync += [*rows.release(), phase.eq(0)]

        with m.If(advance):
            m.d.sync += v1.eq(rows.issue)
        out_advance = self.o.ready | ~self.o.valid
        for lane, divider in enumerate(dividers):
            p = rows.rd.data[lane]
            e = exp_shift(m, p, top, x0=x0, n=n, name=f"exp_{lane}")
            m.d.comb += [
                divider.i.valid.eq(v1),
                divider.i.payload.dividend.eq(_Q31),
                divider.i.payload.divisor.eq(Mux(e + em > _Q31, _Q31, e + em)),
                divider.i.payload.tag.e.eq(e),
                divider.i.payload.tag.p.eq(p),
                divider.o.ready.eq(out_advance),
            ]
            # Output register: p * sig.
            result = divider.o.payload
            small = result.tag.e < (1 << 31)
            sig = Mux(small, (result.tag.e[:31] * result.quotient) >> 24, result.tag.e >> 24)
            with m.If(out_advance):
                m.d.sync += self.o.payload[lane].eq(result.tag.p * sig)
        with m.If(out_advance):
            m.d.sync += self.o.valid.eq(dividers[0].o.valid)
        return m

