"""I-ViT integer LayerNorm over a row: integer mean, variance, integer square root, one division."""

from math import isqrt

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import channel_params, check_int, check_shape, shape_range
from ._expshift import delay
from ._multiply import product_latency, shift_add_product
from ._rom import lane_rom
from ._rowbuffer import (
    RowApply,
    RowQueue,
    RowReduce,
    add,
    lanes_of,
    per_row,
    row_buffer_depth,
    value_fifo,
)
from ._sqrt import IntegerSqrt, NewtonChain
from ._divider_chain import per_row_divider

__all__ = ["LayerNorm"]

_Q31 = (1 << 31) - 1


class LayerNorm(wiring.Component):
    """Integer LayerNorm of rows of ``channels`` elements, ``simd`` per beat (I-ViT ``IntLayerNorm``).

    Per row, ``sw_reference.ivit.layernorm`` (docs/design/operators.md)::

        mean = (sum(x) + C // 2) // C
        y = x - mean;  var = sum(y * y)
        k = max(isqrt(var), 1)          sqrt == "exact" (digit by digit, one result bit per cycle)
            newton10(var)               sqrt == "ivit"  (k = 2**16; 10 x k = (k + var // k) >> 1)
        out = ((y * ((2**31 - 1) // k)) >> 1) + bias[c]

    How, as a row pipeline (:mod:`~hwgen.units._rowbuffer`) whose passes
    work on different rows at once::

        i -> sum of the row ----------------------> mean division -> (row value FIFO)
          -> row buffer of x -> y = x - mean, y*y -> var = sum of the row's y*y
             -> row buffer of y     var -> square root -> (2**31 - 1) // k -> (row value FIFO)
             -> ((y * factor) >> 1) + bias[c] -> o

    The mean's floor division is made unsigned by adding ``C * K`` (``K =
    -min(x)``) to the dividend and subtracting ``K`` from the quotient, which
    then has only ``bits(max(x) - min(x))`` bits. Every per-row step (the
    mean's division, the square root, the factor's division) is iterative
    and takes a row every ``F`` cycles: the digit-by-digit root
    (:class:`~hwgen.units._sqrt.IntegerSqrt`) or I-ViT's Newton root
    (:class:`~hwgen.units._sqrt.NewtonChain`: a first step that is a shift,
    then nine bounded-quotient dividers in a line, one per step, each taking
    a new row while the next works on the one before), then ``(2**31 - 1) // k``
    (constant dividend, :attr:`factor_bits` quotient bits from ``k >=
    root_min``). A divider with more quotient bits than a row has cycles is a
    :class:`~hwgen.units._divider_chain.DividerChain` (long division in
    chunks, one iterative divider per chunk, in a line); a root slower than a
    row gets :class:`~hwgen.units._rowbuffer.RoundRobin` copies. Widths come
    from the input range: ``var <= C * (hi - lo)**2``; ``|y| <= k`` bounds
    the output.

    Parameters
    ----------
    in_shape : Shape        element type of ``x`` (I-ViT: int16)
    channels : int          ``C``, elements per row
    simd : int              elements per beat; must divide ``channels``
    sqrt : "exact" | "ivit"
    bias : sequence of int, length ``C`` or 1, or None (no bias)
    out_shape : Shape       element type of the output (default int32); must hold
                            ``[-2**30 + min(bias), 2**30 - 1 + max(bias)]``

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, simd)))
    o : Out(stream.Signature(ArrayLayout(out_shape, simd)))

    Latency and throughput: ``simd`` elements per cycle in steady state, a
    row every ``F = channels / simd`` cycles (:attr:`cycles_per_row`), for
    both roots; a row's first output beat leaves ``F`` plus the per-row
    steps' cycles after its last input beat without backpressure (int8 rows
    of 64, ``simd = 1``: 151 cycles with the exact root, 235 with I-ViT's,
    measured).
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("folds",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, in_shape, channels, simd=1, sqrt="exact", bias=None,
                 out_shape=None):
        self._in_shape = check_shape("in_shape", in_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._simd = check_int("simd", simd, minimum=1)
        if channels % simd:
            raise ValueError(f"simd must divide channels ({channels}), not {simd!r}")
        if sqrt not in ("exact", "ivit"):
            raise TypeError(f"sqrt must be 'exact' or 'ivit', not {sqrt!r}")
        self._sqrt = sqrt
        self._out_shape = check_shape("out_shape", signed(32) if out_shape is None else out_shape)
        bias = (0,) if bias is None else bias
        self._bias = channel_params("bias", bias, channels, -(1 << 31), (1 << 31) - 1)
        lo, hi = shape_range(self._out_shape)
        if -(1 << 30) + min(self._bias) < lo or (1 << 30) - 1 + max(self._bias) > hi:
            raise ValueError(f"out_shape must hold [-2**30 + min(bias), 2**30 - 1 + max(bias)], "
                             f"not {out_shape!r}")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, simd))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, simd))),
        })

    in_shape = property(lambda self: self._in_shape)
    out_shape = property(lambda self: self._out_shape)
    channels = property(lambda self: self._channels)
    simd = property(lambda self: self._simd)
    folds = property(lambda self: self._channels // self._simd)
    sqrt = property(lambda self: self._sqrt)

    @property
    def _offset(self):
        """``K``: ``sum + C//2 + C*K >= 0`` for every row, so the mean's division is unsigned."""
        return -shape_range(self._in_shape)[0]

    @property
    def var_bits(self):
        lo, hi = shape_range(self._in_shape)
        return (self._channels * (hi - lo) ** 2).bit_length()

    @property
    def root_bits(self):
        """Width of ``k``: ``isqrt(var)`` (exact) or the largest Newton iterate (ivit)."""
        var_max = (1 << self.var_bits) - 1
        if self._sqrt == "exact":
            return max(isqrt(var_max), 1).bit_length()
        # From 2**16 the first step may go up; from then on k >= sqrt(var) and k only falls.
        return max(1 << 16, ((1 << 16) + (var_max >> 16)) >> 1).bit_length()

    @property
    def mean_bits(self):
        """(dividend, quotient) widths of the mean's division."""
        lo, hi = shape_range(self._in_shape)
        c = self._channels
        return (c * hi + c // 2 + c * self._offset).bit_length(), max((hi - lo).bit_length(), 1)

    cycles_per_row = property(lambda self: self.folds)

    @property
    def root_min(self):
        """The smallest ``k``: 1 (exact, clamped), or 64 for I-ViT's (``2**15`` after the first
        step, and no step falls below half of ``k``)."""
        return 1 if self._sqrt == "exact" else NewtonChain.root_min

    @property
    def factor_bits(self):
        """Width of ``(2**31 - 1) // k``, from ``k >= root_min``."""
        return (_Q31 // self.root_min).bit_length()

    def _mean_divider(self):
        dividend_bits, quotient_bits = self.mean_bits
        return per_row_divider(self.folds, dividend_bits=dividend_bits,
                               divisor_bits=self._channels.bit_length(),
                               quotient_bits=quotient_bits)

    def _root(self):
        if self._sqrt == "exact":
            return per_row(lambda: IntegerSqrt(value_bits=self.var_bits), self.folds)
        return per_row(lambda: NewtonChain(value_bits=self.var_bits, root_bits=self.root_bits),
                       self.folds)

    def _factor_divider(self):
        return per_row_divider(self.folds, dividend_bits=31, divisor_bits=self.root_bits,
                               quotient_bits=self.factor_bits, dividend=_Q31)

    def elaborate(self, platform):
        m = Module()
        simd, c, folds = self._simd, self._channels, self.folds
        beats = data.ArrayLayout(self._in_shape, simd)
        y_beats = data.ArrayLayout(signed(len(self.i.payload[0]) + 1), simd)
        sum_shape = signed(len(self.i.payload[0]) + c.bit_length() + 1)
        mean = unsigned(self.mean_bits[1])          # mean + K
        var = unsigned(self.var_bits)
        squares = data.StructLayout({"y": y_beats, "sq": var})
        fifo = RowQueue.latency

        mean_divider = self._mean_divider()
        root = self._root()
        factor_divider = self._factor_divider()
        m.submodules.row_sum = row_sum = RowReduce(
            beat_shape=beats, value_shape=sum_shape, folds=folds, lanes=lanes_of, combine=add,
            fold=_sum, depth=row_buffer_depth(folds, mean_divider.latency + fifo))
        m.submodules.mean_divider = mean_divider
        m.submodules.mean_fifo = mean_fifo = value_fifo(mean)
        m.submodules.centre = centre = RowApply(beat_shape=beats, value_shape=mean,
                                                out_shape=squares, folds=folds,
                                                build=self._centre)
        m.submodules.row_var = row_var = RowReduce(
            beat_shape=squares, value_shape=var, folds=folds, lanes=lambda beat: [beat.sq],
            combine=add, fold=_sum, keep=lambda beat: beat.y, kept_shape=y_beats,
            depth=row_buffer_depth(folds, root.latency + factor_divider.latency + 2 * fifo))
        m.submodules.root = root
        m.submodules.root_fifo = root_fifo = value_fifo(unsigned(self.root_bits))
        m.submodules.factor_divider = factor_divider
        m.submodules.factor_fifo = factor_fifo = value_fifo(unsigned(self.factor_bits))
        m.submodules.scale = scale = RowApply(beat_shape=y_beats, value_shape=unsigned(self.factor_bits),
                                              out_shape=self.o.payload.shape(), folds=folds,
                                              build=self._scale)

        wiring.connect(m, wiring.flipped(self.i), row_sum.i)
        m.d.comb += [mean_divider.i.valid.eq(row_sum.value.valid),
                     mean_divider.i.payload.dividend.eq(
                         row_sum.value.payload + (c // 2 + c * self._offset)),
                     mean_divider.i.payload.divisor.eq(c),
                     row_sum.value.ready.eq(mean_divider.i.ready)]
        _connect_quotient(m, mean_divider, mean_fifo)
        wiring.connect(m, row_sum.o, centre.i)
        wiring.connect(m, mean_fifo.o, centre.value)
        wiring.connect(m, centre.o, row_var.i)
        wiring.connect(m, row_var.value, root.i)
        wiring.connect(m, root.o, root_fifo.i)
        m.d.comb += [factor_divider.i.valid.eq(root_fifo.o.valid),
                     factor_divider.i.payload.divisor.eq(root_fifo.o.payload),
                     root_fifo.o.ready.eq(factor_divider.i.ready)]
        _connect_quotient(m, factor_divider, factor_fifo)
        wiring.connect(m, row_var.o, scale.i)
        wiring.connect(m, factor_fifo.o, scale.value)
        wiring.connect(m, scale.o, wiring.flipped(self.o))
        return m

    def _centre(self, m, x, mean, position, enable):
        """``y = x - mean`` per lane, then ``y * y``, then their sum over the lanes.

        Its registers (as :meth:`_scale`'s) have no reset: RowApply's valid flags
        say which hold a beat."""
        simd = self._simd
        y_shape = signed(len(x[0]) + 1)
        ys = [Signal(y_shape, name=f"y_{lane}", reset_less=True) for lane in range(simd)]
        with m.If(enable):
            m.d.sync += [y.eq(x[lane] + self._offset - mean) for lane, y in enumerate(ys)]
        squares = [shift_add_product(m, y, y, enable=enable, name=f"square_{lane}")
                   for lane, y in enumerate(ys)]
        latency = product_latency(y_shape, y_shape)
        # Pairs of squares summed in registered levels until two are left, so the last
        # stage holds one adder (four squares summed in one stage held simd = 4 I-ViT
        # to 208.7 MHz); every partial sum is below var's bound.
        level = 0
        while len(squares) > 2:
            partial = [Signal(unsigned(self.var_bits), name=f"squares_{level}_{k}",
                              reset_less=True) for k in range((len(squares) + 1) // 2)]
            with m.If(enable):
                m.d.sync += [part.eq(sum(squares[2 * k:2 * k + 2]))
                             for k, part in enumerate(partial)]
            squares, latency, level = partial, latency + 1, level + 1
        out = Signal(data.StructLayout({"y": data.ArrayLayout(y_shape, simd),
                                        "sq": unsigned(self.var_bits)}))
        sq = Signal(unsigned(self.var_bits), name="sq", reset_less=True)
        with m.If(enable):
            m.d.sync += sq.eq(sum(squares))
        m.d.comb += out.sq.eq(sq)
        for lane, y in enumerate(ys):
            m.d.comb += out.y[lane].eq(delay(m, y, latency + 1, enable, f"y_{lane}",
                                             reset_less=True))
        return out, latency + 2

    def _scale(self, m, y, factor, position, enable):
        """``((y * factor) >> 1) + bias[c]``: registered operands, a shift-add product."""
        simd = self._simd
        biases = [lane_rom(m, f"bias_rom_{lane}", signed(32), self._bias[lane::simd],
                           addr=position, en=enable) for lane in range(simd)]
        y1 = Signal.like(y, name="y1", reset_less=True)
        factor1 = Signal.like(factor, name="factor1", reset_less=True)
        with m.If(enable):
            m.d.sync += [y1.eq(y), factor1.eq(factor)]
        latency = product_latency(y1[0].shape(), factor1.shape())
        out = Signal(self.o.payload.shape())
        for lane in range(simd):
            # |y| <= k (k >= isqrt(var) >= |y| for both roots) and factor = Q31 // k.
            product = shift_add_product(m, y1[lane], factor1, enable=enable,
                                        name=f"product_{lane}", bound=_Q31)
            bias = delay(m, biases[lane], latency, enable, f"bias_{lane}", reset_less=True)
            m.d.comb += out[lane].eq((product >> 1) + bias)
        return out, 1 + latency


def _sum(running, part, first):
    return Mux(first, part, running + part)       # the mux after the carry chain, not before


def _connect_quotient(m, divider, fifo):
    m.d.comb += [fifo.i.valid.eq(divider.o.valid), fifo.i.payload.eq(divider.o.payload.quotient),
                 divider.o.ready.eq(fifo.i.ready)]
