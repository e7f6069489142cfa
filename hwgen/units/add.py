"""Residual add of two streams, each rescaled to a common scale (FINN: AddStreams)."""

from typing import NamedTuple

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import check_int, check_shape, shape_range
from ._credit import CreditQueue
from ._dyadic import check_rounding, clamp, dyadic_bounds, round_shift

__all__ = ["AddStreams"]


class AddStreams(wiring.Component):
    """Residual add (FINN: AddStreams) with HAWQ-V3 dyadic rescale of each input.

    For every element pair ``(a, b)``, exactly as ``sw_reference.ops.add``::

        y = clamp(dyadic(a, m[0], s[0]) + dyadic(b, m[1], s[1]) + zp, lo, hi)
        dyadic(x, m, s) = (x*m + 2**(s-1)) >> s      (x*m when s == 0)

    with ``lo``, ``hi`` the range of ``out_shape`` (``rounding`` replaces the
    half-up rounding by ``half_even`` or ``floor``, the same mode for both
    inputs, as ``sw_reference.ops.dyadic``). The pipeline, ``pe``
    elements per beat, each lane alike::

        stage 0   a, b registered in the fabric
        stage 1   a, b registered again (the multiplier operands: the tiles' input registers,
                  hwgen.dsppack; the DSP rows are often far from the input queues)
        stage 2   a * m[0][j], b * m[1][j]     partial products, m split in 17-bit chunks j
        stage 3   pa = a * m[0], pb = b * m[1]                       (partials summed)
        stage 4   ra = round(pa, s[0]), rb = round(pb, s[1]) + zp    (``_dyadic.round_shift``)
        stage 5   t = ra + rb
        stage 6   y = clamp(t, lo, hi)

    Every stage holds at most one carry chain: each partial product fits one
    18 x 18 DSP multiplier (ECP5 ``MULT18X18D``) with a register at its
    output, the adder joining a wide product has a stage of its own, ``zp``
    rides in the rounding adder's constant, and the clamp (read from the
    sum's high bits, :func:`~._dyadic.clamp`) follows the sum's register. Alone, int8 + int8 -> int8 with ``pe=4``, nextpnr-ecp5
    gives 141 MHz on speed grade 6 and 180 MHz on grade 8, limited by the
    DSP's own delay (with the product and the clamp in one stage each: 110 MHz
    on grade 6). An input wider than 18 bits makes Yosys split each partial
    product over several DSPs with an adder of its own, which may cost Fmax.

    Every register is as wide as the exact bounds of its value over the input
    ranges (products of the range ends and ``m``, then their rescales), never
    a fixed 32 or 64 bits.

    It joins its inputs: a beat is taken from ``a`` and ``b`` in the same
    cycle, when both are valid and the output queue has room, so ``a.ready``
    depends on ``b.valid`` and vice versa (an add needs both operands; the
    network puts a FIFO in front of each input).

    Parameters
    ----------
    a_shape, b_shape : Shape    element types of the two inputs (may differ)
    out_shape : Shape           element type of ``y``; sets ``lo``/``hi``
    pe : int                    elements per beat on every port
    multiplier : sequence of 2 int   ``m[0]`` for ``a``, ``m[1]`` for ``b``; ``1 <= m < 2**31``
    shift : sequence of 2 int        ``s[0]``, ``s[1]``; ``0 <= s < 64``
    zero_point : int            ``zp``, within ``out_shape``
    rounding : str              ``"half_up"`` (default), ``"half_even"`` or ``"floor"``

    Members
    -------
    a : In(stream.Signature(ArrayLayout(a_shape, pe)))
    b : In(stream.Signature(ArrayLayout(b_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))

    Latency 7 cycles; one beat per cycle (full rate). The pipeline never
    stalls (no register has an enable): a pair of beats is taken only when
    the output queue (:class:`~hwgen.units._credit.CreditQueue`, sixteen
    results in sixteen LUTRAM words) has room for it and every pair in flight, so ``o.ready``
    reaches only the queue's pointer and count, and neither input's
    ``ready`` depends on anything downstream. The queue's ``room`` is a
    flip-flop (``registered_room``: decided a cycle ahead, so the queue holds
    one result more, 9 rounded up to 16 words, the same LUTRAM primitive as
    8): each input's ``ready`` is that flip-flop and the other input's
    ``valid``, one LUT. In attention_mini at 200 MHz ``room`` was a table of
    the in-flight count, in series with the input FIFO's block-RAM read
    enable (6.62 ns, seed 1 on 03c14ca). The queue keeps its results in
    LUTRAM, as Requant's does: in registers they were 238 of residual_mlp's
    res layer's 694 flip-flops, read through a multiplexer of 204 LUT4s.
    """

    latency = 7
    #: ``ready`` comes from the unit's own flip-flops (and the other input's ``valid``);
    #: ``o.ready`` reaches a few (hwgen.network)
    registered_ready = True
    ready_fanout = 9

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, *, a_shape, b_shape, out_shape, pe=1, multiplier, shift, zero_point=0,
                 rounding="half_up"):
        self._a_shape = check_shape("a_shape", a_shape)
        self._b_shape = check_shape("b_shape", b_shape)
        self._out_shape = check_shape("out_shape", out_shape)
        self._pe = check_int("pe", pe, minimum=1)
        self._m = _pair("multiplier", multiplier, 1, (1 << 31) - 1)
        self._s = _pair("shift", shift, 0, 63)
        lo, hi = shape_range(self._out_shape)
        self._zp = check_int("zero_point", zero_point, minimum=lo, maximum=hi)
        self._rounding = check_rounding(rounding)
        super().__init__({
            "a": In(stream.Signature(data.ArrayLayout(self._a_shape, self._pe))),
            "b": In(stream.Signature(data.ArrayLayout(self._b_shape, self._pe))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, self._pe))),
        })

    pe = property(lambda self: self._pe)
    multiplier = property(lambda self: self._m)
    shift = property(lambda self: self._s)
    zero_point = property(lambda self: self._zp)
    rounding = property(lambda self: self._rounding)

    def elaborate(self, platform):
        m = Module()
        # The pipeline never stalls: its registers move every cycle, and a pair of beats is
        # taken only when the output queue has room for it and everything in flight (credit).
        m.submodules.queue = queue = CreditQueue(self.o.payload.shape(), stages=self.latency,
                                                 registered_room=True, lutram=True)
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        m.d.comb += [
            self.a.ready.eq(queue.room & self.b.valid),
            self.b.ready.eq(queue.room & self.a.valid),
            queue.accept.eq(self.a.valid & self.b.valid & queue.room),
        ]
        for lane in range(self._pe):
            ra = self._rescaled(m, self.a.payload[lane], 0, f"a_{lane}")
            rb = self._rescaled(m, self.b.payload[lane], 1, f"b_{lane}")
            total = Signal(range_shape(*(sum(pair) for pair in zip(ra.bounds, rb.bounds))),
                           name=f"total_{lane}")
            m.d.sync += total.eq(ra.value + rb.value)
            # Stage 6 (the queue's register): the clamp.
            m.d.comb += queue.w_data[lane].eq(clamp(total, self._out_shape))
        return m

    def _rescaled(self, m, x, k, suffix):
        """Input ``k``'s element ``x`` through stages 0-4: registered twice, multiplied, rounded
        (+ zp for b).

        Returns ``(register, (lo, hi))``: the stage-4 register holding
        ``dyadic(x, m[k], s[k])`` (plus ``zp`` when ``k == 1``) and its exact bounds.
        """
        mult, shift = self._m[k], self._s[k]
        x_lo, x_hi = shape_range(x.shape())
        # In ivit_block the input FIFO's block RAM read reached the tile's input register
        # across the chip (res1, 4.5 + 1.7 ns of wire, placed at 93.6 MHz): a fabric register first.
        early = Signal(x.shape(), name=f"x0_{suffix}")
        operand = Signal(x.shape(), name=f"x_{suffix}")
        partials = []
        for at in range(0, mult.bit_length(), _CHUNK_BITS):
            chunk = (mult >> at) & ((1 << _CHUNK_BITS) - 1)
            if chunk:
                partial = Signal(range_shape(x_lo * chunk, x_hi * chunk),
                                 name=f"partial_{suffix}_{at}")
                m.d.sync += partial.eq(operand * chunk)
                partials.append(partial << at)
        product = Signal(range_shape(x_lo * mult, x_hi * mult), name=f"product_{suffix}")
        zp = self._zp if k == 1 else 0
        lo, hi = dyadic_bounds(x_lo, x_hi, mult, shift, self._rounding)
        rescaled = Signal(range_shape(lo + zp, hi + zp), name=f"rescaled_{suffix}")
        rounded = round_shift(m, product, Const(max(shift - 1, 0), range(64)),
                              Const(shift == 0), rounding=self._rounding, suffix=suffix, offset=zp)
        m.d.sync += [early.eq(x), operand.eq(early), product.eq(sum(partials[1:], partials[0])),
                     rescaled.eq(rounded)]
        return _Rescaled(rescaled, (lo + zp, hi + zp))


class _Rescaled(NamedTuple):
    value: Signal
    bounds: tuple


#: multiplier bits per partial product: unsigned 17 bits are a positive 18-bit DSP operand
_CHUNK_BITS = 17


def _pair(name, values, lo, hi):
    """``values`` as a tuple of two ints in ``[lo, hi]`` (one per input)."""
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of 2 integers (one per input), "
                        f"not {values!r}") from None
    if len(values) != 2:
        raise ValueError(f"{name} must have 2 entries (one per input), not {len(values)}")
    return tuple(check_int(f"{name}[{index}]", value, minimum=lo, maximum=hi)
                 for index, value in enumerate(values))
