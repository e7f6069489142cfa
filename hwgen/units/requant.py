"""Dyadic requantizer: ``y = clamp(round_s(x * m) + zp, lo, hi)``, ``round_s`` one of three modes."""

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import channel_params, check_int, check_shape, shape_range
from ._dyadic import check_rounding, clamp, round_shift
from ._rom import lane_rom

__all__ = ["Requant"]


class Requant(wiring.Component):
    """Per-tensor or per-channel dyadic rescale (HAWQ-V3), ``pe`` channels per beat.

    For every element of channel ``c``::

        p = x * m[c]
        t = p                                if s[c] == 0
            ((p >> (s[c] - 1)) + 1) >> 1     otherwise    # == (p + 2**(s-1)) >> s
        y = clamp(t + zp[c], lo, hi)

    which is DESIGN.md's round-half-up rescale; the rewritten rounding never
    needs the ``2**(s-1)`` constant, so nothing is wider than the product.
    ``rounding="floor"`` drops the ``+ 1`` (``p >> s``); ``"half_even"``
    (ONNX ``ROUND``) also subtracts 1 on the ties whose lower neighbour is
    even (``_dyadic.round_shift``).
    Channels arrive in order, ``pe`` per beat, ``channels // pe`` beats per
    vector; a fold counter selects each lane's parameters, so the stream must
    start at channel 0 (true after reset, and it stays aligned because a
    vector is always whole).

    Parameters
    ----------
    in_shape : Shape            element type of ``x``
    out_shape : Shape           element type of ``y``; sets ``lo``/``hi``
    channels : int              channel count ``C``
    pe : int                    channels per beat; must divide ``channels``
    multiplier, shift, zero_point : sequence of int, length ``C`` or 1
        ``1 <= m < 2**31``, ``0 <= s < 64``, ``zp`` within ``out_shape``.
        Length 1 means per-tensor. Parameters that are the same for every
        channel become constants; the others live in a ROM per lane
        (``channels // pe`` deep), read synchronously so it maps to LUTRAM/BRAM.
    rounding : str              ``"half_up"`` (default), ``"half_even"`` or ``"floor"``

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))

    Latency 3 cycles (parameter read + multiply, round-shift, offset + clamp);
    one beat per cycle. The pipeline advances when ``o.ready | ~o.valid``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE * input bits, PE, 1."""
        layout = self.i.payload.shape()
        bits = Shape.cast(layout.elem_shape).width
        return "requant", [layout.length * bits, layout.length, 1]

    def __init__(self, *, in_shape, out_shape, channels, pe=1,
                 multiplier, shift, zero_point=(0,), rounding="half_up"):
        self._in_shape = check_shape("in_shape", in_shape)
        self._out_shape = check_shape("out_shape", out_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._pe = check_int("pe", pe, minimum=1)
        if channels % pe:
            raise ValueError(f"pe must divide channels ({channels}), not {pe!r}")

        lo, hi = shape_range(self._out_shape)
        self._m = channel_params("multiplier", multiplier, channels, 1, (1 << 31) - 1)
        self._s = channel_params("shift", shift, channels, 0, 63)
        self._zp = channel_params("zero_point", zero_point, channels, lo, hi)
        self._rounding = check_rounding(rounding)

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, pe))),
        })

    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    rounding = property(lambda self: self._rounding)
    folds = property(lambda self: self._channels // self._pe)
    #: width of the multiplier operand ``m`` (the widest of the channels' multipliers)
    multiplier_bits = property(lambda self: max(self._m).bit_length())
    latency = 3

    def elaborate(self, platform):
        m = Module()

        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        accept = self.i.valid & self.i.ready

        fold = Signal(range(max(self.folds, 2)))    # never zero-width
        if self.folds > 1:
            with m.If(accept):
                m.d.sync += fold.eq(Mux(fold == self.folds - 1, 0, fold + 1))

        # Stage 1: register x; each lane's parameters come out of its ROM in step.
        x1 = Signal.like(self.i.payload)
        v1 = Signal()
        with m.If(advance):
            m.d.sync += [x1.eq(self.i.payload), v1.eq(self.i.valid)]
        lane_params = [self._lane_params(m, lane, fold, advance) for lane in range(self._pe)]

        v2, v3 = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [v2.eq(v1), v3.eq(v2)]
        m.d.comb += self.o.valid.eq(v3)

        for lane, (mult, shift, zp) in enumerate(lane_params):
            # Stage 2: product, carrying the parameters along.
            product = Signal(signed(len(x1[lane]) + len(mult) + 1), name=f"product_{lane}")
            # Why s - 1: ((p >> (s-1)) + 1) >> 1 rounds half up without a 2**(s-1) adder (_dyadic).
            shamt = Signal(unsigned(len(shift)), name=f"shamt_{lane}")
            exact = Signal(name=f"exact_{lane}")    # s == 0: no rounding term
            zp2 = Signal.like(zp, name=f"zp2_{lane}")
            # Stage 3: rounded shift, offset and clamp.
            rounded = round_shift(m, product, shamt, exact, rounding=self._rounding, suffix=lane)
            offset = Signal(signed(len(product) + len(zp) + 1), name=f"offset_{lane}")
            with m.If(advance):
                m.d.sync += [
                    product.eq(x1[lane] * mult),
                    shamt.eq(Mux(shift == 0, 0, shift - 1)),
                    exact.eq(shift == 0),
                    zp2.eq(zp),
                ]
            m.d.comb += offset.eq(rounded + zp2)
            y = Signal(self._out_shape, name=f"y_{lane}")
            with m.If(advance):
                m.d.sync += y.eq(clamp(offset, self._out_shape))
            m.d.comb += self.o.payload[lane].eq(y)
        return m

    def _lane_params(self, m, lane, fold, advance):
        """(multiplier, shift, zero_point) for ``lane``, valid in stage 1.

        A parameter equal for every channel is a constant; otherwise it comes
        from this lane's ROM, addressed by the fold of the beat being accepted.
        """
        channels = range(lane, self._channels, self._pe)
        values = {
            "multiplier": [self._m[c] for c in channels],
            "shift": [self._s[c] for c in channels],
            "zero_point": [self._zp[c] for c in channels],
        }
        shapes = {
            "multiplier": unsigned(max(self._m).bit_length()),
            "shift": unsigned(max(max(self._s).bit_length(), 1)),
            "zero_point": signed(max(_bits_signed(v) for v in self._zp)),
        }
        return [lane_rom(m, f"{key}_rom_{lane}", shapes[key], values[key], addr=fold, en=advance)
                for key in ("multiplier", "shift", "zero_point")]


def _bits_signed(value: int) -> int:
    return (value if value >= 0 else ~value).bit_length() + 1
