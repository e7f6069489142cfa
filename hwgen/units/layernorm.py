"""I-ViT integer LayerNorm over a row: integer mean, variance, integer square root, one division."""

from math import isqrt

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import channel_params, check_int, check_shape, shape_range
from ._rom import lane_rom
from ._rowbuffer import RowBuffer, request_division
from .divider import Divider

__all__ = ["LayerNorm"]

_Q31 = (1 << 31) - 1
_NEWTON_STEPS = 10


class LayerNorm(wiring.Component):
    """Integer LayerNorm of rows of ``channels`` elements, ``simd`` per beat (I-ViT ``IntLayerNorm``).

    Per row, ``sw_reference.ivit.layernorm`` (DESIGN.md section 3)::

        mean = (sum(x) + C // 2) // C
        y = x - mean;  var = sum(y * y)
        k = max(isqrt(var), 1)          sqrt == "exact" (digit by digit, one result bit per cycle)
            newton10(var)               sqrt == "ivit"  (k = 2**16; 10 x k = (k + var // k) >> 1)
        out = ((y * ((2**31 - 1) // k)) >> 1) + bias[c]

    How: a row is written into one of two row buffers while its sum is
    accumulated; the back end works on the other buffer: the mean's floor
    division (made unsigned by adding ``C * 2**(bits-1)`` to the dividend and
    subtracting ``2**(bits-1)`` from the quotient), a pass over the buffer
    summing ``y * y``, the square root, the division ``(2**31 - 1) // k`` and
    an output pass. All divisions share one iterative
    :class:`~hwgen.units.divider.Divider`. Widths come from the input range:
    ``var <= C * (hi - lo)**2``; ``|y| <= k`` bounds the output.

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

    Latency and throughput: a row of ``F = channels / simd`` beats is taken
    in ``F`` cycles while the previous row is processed. The back end needs
    about ``D + 2`` cycles per division (``D`` = the divider's dividend width,
    :attr:`divider_bits`), ``F + 3`` per pass over the buffer, and for the
    square root ``ceil(V / 2)`` cycles (exact, ``V`` = variance bits) or
    ten divisions (ivit); :attr:`cycles_per_row` is that sum, against an
    ideal of ``F``. The I-ViT Newton root therefore costs ~10x the exact one.
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
        return max(1 << 16, ((1 << 16) + var_max // (1 << 16)) >> 1).bit_length()

    @property
    def divider_bits(self):
        """(dividend, divisor) widths of the shared divider."""
        hi = shape_range(self._in_shape)[1]
        c = self._channels
        mean_dividend = c * hi + c // 2 + c * self._offset
        return (max(mean_dividend.bit_length(), self.var_bits, 31),
                max(c.bit_length(), self.root_bits))

    @property
    def cycles_per_row(self):
        division = self.divider_bits[0] + 3
        root = (self.var_bits + 1) // 2 + 1 if self._sqrt == "exact" else _NEWTON_STEPS * division
        return 2 * division + 2 * (self.folds + 3) + root

    def elaborate(self, platform):
        m = Module()
        simd, c = self._simd, self._channels
        dividend_bits, divisor_bits = self.divider_bits
        m.submodules.divider = divider = Divider(dividend_bits=dividend_bits,
                                                 divisor_bits=divisor_bits)
        advance = Signal()
        m.d.comb += advance.eq(self.o.ready | ~self.o.valid)
        rows = RowBuffer(shape=self._in_shape, simd=simd, folds=self.folds)
        sum_shape = signed(len(self.i.payload[0]) + c.bit_length() + 1)
        rows.add(m, self.i, value_shape=sum_shape, reduce=_running_sum, advance=advance)
        rd, issue, total = rows.rd, rows.issue, rows.row_value

        # Stage 1: the beat read from the buffer (and its biases) -> y; stage 2: registered.
        mean = Signal(self._in_shape)
        ywidth = len(self.i.payload[0]) + 1
        v1, v2 = Signal(), Signal()
        y2 = Signal(data.ArrayLayout(signed(ywidth), simd))
        biases = [lane_rom(m, f"bias_rom_{lane}", signed(32), self._bias[lane::simd],
                           addr=rows.read_addr, en=issue) for lane in range(simd)]
        bias2 = [Signal(signed(32), name=f"bias2_{lane}") for lane in range(simd)]
        with m.If(advance):
            m.d.sync += [v1.eq(issue), v2.eq(v1)]
            for lane in range(simd):
                m.d.sync += [y2[lane].eq(rd.data[lane] - mean), bias2[lane].eq(biases[lane])]

        # The sequence: 0 idle, 1 mean division, 2 variance pass, 3 square root,
        # 4 factor division, 5 output pass. Not m.FSM (Yosys' partial case statements
        # trip verilator -Wall CASEINCOMPLETE).
        phase = Signal(range(6))
        step = [phase == k for k in range(6)]
        drained = ~rows.issuing & ~v1 & ~v2
        var = Signal(self.var_bits)
        root = Signal(self.root_bits)
        factor = Signal(31)
        sent = Signal()
        offset = self._offset

        def divide(dividend, divisor):
            return request_division(m, divider, sent, dividend, divisor)

        with m.If(step[0] & rows.ready):
            m.d.sync += phase.eq(1)
        with m.If(step[1]):
            with m.If(divide(total + (c // 2 + c * offset), c)):
                m.d.sync += [mean.eq(divider.o.payload.quotient - offset), var.eq(0),
                             rows.start_pass(), phase.eq(2)]
        with m.If(step[2]):
            with m.If(advance & v2):
                m.d.sync += var.eq(var + sum(y2[lane] * y2[lane] for lane in range(simd)))
            with m.If(drained):
                m.d.sync += phase.eq(3)
        rooted = self._square_root(m, step[3], var, root, divide, divider)   # not inside an If
        with m.If(step[3] & rooted):
            m.d.sync += phase.eq(4)
        with m.If(step[4]):
            with m.If(divide(_Q31, root)):
                m.d.sync += [factor.eq(divider.o.payload.quotient), rows.start_pass(), phase.eq(5)]
        with m.If(step[5] & drained):
            m.d.sync += [*rows.release(), phase.eq(0)]

        # Stage 3 (output pass only): the output register.
        with m.If(advance):
            m.d.sync += self.o.valid.eq(v2 & step[5])
            for lane in range(simd):
                m.d.sync += self.o.payload[lane].eq(((y2[lane] * factor) >> 1) + bias2[lane])
        return m

    def _square_root(self, m, active, var, root, divide, divider):
        """Compute ``root`` from ``var`` while ``active``; returns the Value that ends the phase."""
        started = Signal()
        count = Signal(range(max(self.var_bits, _NEWTON_STEPS) + 1))
        done = Signal()
        with m.If(~active):
            m.d.sync += started.eq(0)
        if self._sqrt == "ivit":
            # k = 2**16; 10 x k = (k + var // k) >> 1
            with m.If(active & ~started):
                m.d.sync += [root.eq(1 << 16), count.eq(_NEWTON_STEPS), started.eq(1)]
            with m.If(active & started & (count != 0)):
                with m.If(divide(var, root)):
                    m.d.sync += [root.eq((root + divider.o.payload.quotient) >> 1),
                                 count.eq(count - 1)]
            m.d.comb += done.eq(started & (count == 0))
            return done
        # Digit by digit (sw_reference.ivit.isqrt): one result bit per cycle from the top.
        digits = (self.var_bits + 1) // 2
        rem = Signal(self.var_bits)
        res = Signal(2 * digits)
        bit = Signal(2 * digits)
        trial = res + bit
        with m.If(active & ~started):
            m.d.sync += [rem.eq(var), res.eq(0), bit.eq(1 << (2 * digits - 2)),
                         count.eq(digits), started.eq(1)]
        with m.If(active & started & (count != 0)):
            with m.If(rem >= trial):
                m.d.sync += [rem.eq(rem - trial), res.eq((res >> 1) + bit)]
            with m.Else():
                m.d.sync += res.eq(res >> 1)
            m.d.sync += [bit.eq(bit >> 2), count.eq(count - 1)]
        m.d.comb += [done.eq(started & (count == 0)), root.eq(Mux(res == 0, 1, res))]
        return done


def _running_sum(running, beat, first):
    return Mux(first, 0, running) + sum(beat[lane] for lane in range(beat.shape().length))

