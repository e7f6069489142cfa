"""Dyadic requantizer: ``y = clamp(((x * m + 2**(s-1)) >> s) + zp, lo, hi)``."""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import channel_params, check_int, check_shape, shape_range
from ._credit import CreditQueue
from ._dyadic import clamp, round_half_up
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
    offset_stage : bool         clamp in a stage of its own (latency 4; default False,
                                the composer sets it from the delay model and
                                ``target.clock_mhz``, see :meth:`retimed`)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))

    Latency 3 cycles (parameter read + multiply, round-shift, offset + clamp),
    4 with ``offset_stage``;
    one beat per cycle. The pipeline never stalls (no register has an
    enable): a beat is taken only when the output queue
    (:class:`~hwgen.units._credit.CreditQueue`) has room for it and every
    beat in flight, so ``o.ready`` reaches only the queue's pointer and
    count, and ``i.ready`` depends on the unit's own flip-flops only.
    """

    def __init__(self, *, in_shape, out_shape, channels, pe=1,
                 multiplier, shift, zero_point=(0,), offset_stage=False):
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
        if not isinstance(offset_stage, bool):
            raise TypeError(f"offset_stage must be True or False, not {offset_stage!r}")
        self._offset_stage = offset_stage

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, pe))),
        })

    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    folds = property(lambda self: self._channels // self._pe)
    #: width of the multiplier operand ``m`` (the widest of the channels' multipliers)
    multiplier_bits = property(lambda self: max(self._m).bit_length())
    offset_stage = property(lambda self: self._offset_stage)
    latency = property(lambda self: 3 + self._offset_stage)
    #: ``i.ready`` comes from the unit's own flip-flops; ``o.ready`` reaches a few (hwgen.network)
    registered_ready = True
    ready_fanout = 4

    def elaborate(self, platform):
        m = Module()
        # The pipeline never stalls: its registers move every cycle, and a beat is taken only
        # when the output queue has room for it and everything in flight (credit).
        m.submodules.queue = queue = CreditQueue(self.o.payload.shape(), stages=self.latency)
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        accept = self.i.valid & queue.room
        m.d.comb += [self.i.ready.eq(queue.room), queue.accept.eq(accept)]

        fold = Signal(range(max(self.folds, 2)))    # never zero-width
        if self.folds > 1:
            with m.If(accept):
                m.d.sync += fold.eq(Mux(fold == self.folds - 1, 0, fold + 1))

        # Stage 1: register x; each lane's parameters come out of its ROM in step.
        x1 = Signal.like(self.i.payload)
        m.d.sync += x1.eq(self.i.payload)
        lane_params = [self._lane_params(m, lane, fold) for lane in range(self._pe)]

        for lane, (mult, shift, zp) in enumerate(lane_params):
            # Stage 2: product, carrying the parameters along.
            product = Signal(signed(len(x1[lane]) + len(mult) + 1), name=f"product_{lane}")
            # Why s - 1: ((p >> (s-1)) + 1) >> 1 rounds half up without a 2**(s-1) adder (_dyadic).
            shamt = Signal(unsigned(len(shift)), name=f"shamt_{lane}")
            exact = Signal(name=f"exact_{lane}")    # s == 0: no rounding term
            zp2 = Signal.like(zp, name=f"zp2_{lane}")
            m.d.sync += [
                product.eq(x1[lane] * mult),
                shamt.eq(Mux(shift == 0, 0, shift - 1)),
                exact.eq(shift == 0),
                zp2.eq(zp),
            ]
            # Stage 3 (the queue's register): rounded shift, offset and clamp; with
            # offset_stage the clamp is a stage of its own.
            rounded = round_half_up(m, product, shamt, exact, suffix=lane)
            offset = Signal(signed(len(product) + len(zp) + 1), name=f"offset_{lane}")
            if self._offset_stage:
                m.d.sync += offset.eq(rounded + zp2)
            else:
                m.d.comb += offset.eq(rounded + zp2)
            m.d.comb += queue.w_data[lane].eq(clamp(offset, self._out_shape))
        return m

    def stage_delay(self, model):
        """(ns, what, fix) of the slowest register stage by the delay model (hwgen.timing)."""
        multiply, round_offset, clamp_ns = self._delays(model)
        stages = [(model.stage(multiply), "the multiplier"),
                  (model.stage(round_offset + (0 if self._offset_stage else clamp_ns)),
                   "rounding shift and offset" + ("" if self._offset_stage else " and clamp")),
                  (model.stage(clamp_ns), "clamp")]
        ns, what = max(stages)
        fix = ("clamp in a stage of its own (offset_stage)" if not self._offset_stage else
               "the per-channel rounding shift in a stage of its own (not built yet)"
               if what.startswith("rounding") and len(set(self._s)) > 1 else
               "a faster speed grade or a lower clock")
        return ns, what, fix

    def retimed(self, model, clock_mhz):
        """This unit with the clamp in a stage of its own when stage 3 does not fit."""
        _, round_offset, clamp_ns = self._delays(model)
        offset_stage = round_offset + clamp_ns > model.budget(clock_mhz)
        if offset_stage == self._offset_stage:
            return self
        return Requant(in_shape=self._in_shape, out_shape=self._out_shape,
                       channels=self._channels, pe=self._pe, multiplier=self._m, shift=self._s,
                       zero_point=self._zp, offset_stage=offset_stage)

    def _delays(self, model):
        """ns of (the product, the rounding shift + offset adds, the clamp)."""
        width = self._in_shape.width + self.multiplier_bits + 1          # the product
        shift_levels = 0 if len(set(self._s)) == 1 else max(self._s).bit_length()
        multiply = model.dsp if width > 10 else model.carry(width) + model.luts(2)
        round_offset = model.luts(shift_levels) + 2 * model.carry(width)
        clamp_ns = model.carry(width) + model.luts(2, fanout=4)   # both compares side by side
        return multiply, round_offset, clamp_ns

    def _lane_params(self, m, lane, fold):
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
        return [lane_rom(m, f"{key}_rom_{lane}", shapes[key], values[key], addr=fold, en=Const(1),
                         placed=True)
                for key in ("multiplier", "shift", "zero_point")]


def _bits_signed(value: int) -> int:
    return (value if value >= 0 else ~value).bit_length() + 1
