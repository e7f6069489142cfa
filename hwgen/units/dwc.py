"""Element-wise stream width conversion (FINN: StreamingDataWidthConverter)."""

import math

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape

__all__ = ["StreamingDataWidthConverter"]


class StreamingDataWidthConverter(wiring.Component):
    """Regroup a stream of elements from ``in_per_beat`` to ``out_per_beat`` per beat.

    Samples of ``elements`` elements pass through in order. When a sample does
    not fill its last beat, that beat is partial: on the input side its extra
    lanes are ignored, on the output side they are zero. So the converter also
    maps between an AXI4-Stream word of ``io_bits // bits`` elements and a
    layer's SIMD/PE lanes, with each sample starting at lane 0.

    Internally a buffer of ``in_per_beat + out_per_beat`` elements keeps, as
    an invariant, every slot at or above ``count`` zero: a beat is taken from
    the bottom (shifting the rest down) and the next beat is written right
    above what is kept, in the same cycle. The shifts by a number of elements
    are barrel shifters whose stages move by constant multiples of the element
    width, so no element-index x width product (no multiplier) is built; they
    move whole groups of ``gcd`` (both lane counts and both last-beat
    remainders) elements, so converting 64 to 32 lanes takes 2 stages, not 7.
    For timing, a beat's lane count is a constant or a choice between two
    constants by a registered last-beat flag (every beat of a sample is full
    but its last); the next ``count``, ``i.ready`` and the incoming beat's
    placement are computed for "a beat leaves" and "none leaves" from
    registers and chosen by ``o.valid & o.ready`` last.

    A barrel shifter is one LUT level per stage, all in the cycle that places
    a beat; where lane counts share no divisor it is deep (64 -> 49 lanes: 6
    stages, 8 levels with the masks: sfc_balanced's input at 130 MHz). With
    ``via``, the conversion goes through an intermediate lane count instead:
    two converters in series (``in_per_beat -> via -> out_per_beat``), each
    with a shallow shifter (64 -> 56 -> 49: 3 stages each), one more cycle of
    latency and the same rate as long as ``via`` is at least the narrower
    side. :meth:`retimed` picks ``via`` when the delay model says one cycle
    is too short for the shifter.

    Parameters
    ----------
    shape : Shape          element shape
    in_per_beat : int      elements per input beat
    out_per_beat : int     elements per output beat
    elements : int         elements per sample
    via : int or None      intermediate lanes (two converters in series), at least
                           ``min(in_per_beat, out_per_beat)``; default None (one converter)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(shape, in_per_beat)))
    o : Out(stream.Signature(ArrayLayout(shape, out_per_beat)))

    Latency 1 cycle (the buffer is a register; 2 with ``via``); throughput is the full rate
    of the narrower side: one beat per cycle on each side when
    ``in_per_beat == out_per_beat``, otherwise as many beats as the element
    rate allows. ``i.ready`` depends on ``o.ready`` combinationally.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): the incoming beat is placed by
        barrel shifters over the input lanes' bits: in bits * shift stages, in bits, out bits, 1."""
        if self._via:
            first, second = (part.resource_features[1] for part in self._parts())
            return "dwc", [x + y for x, y in zip(first, second)]
        bits = Shape.cast(self.i.payload.shape().elem_shape).width
        lanes_in, lanes_out = self.in_per_beat * bits, self.out_per_beat * bits
        return "dwc", [lanes_in * self.shift_stages, lanes_in, lanes_out, 1]

    def __init__(self, *, shape, in_per_beat, out_per_beat, elements, via=None):
        self._shape = check_shape("shape", shape)
        self._a = check_int("in_per_beat", in_per_beat, minimum=1)
        self._b = check_int("out_per_beat", out_per_beat, minimum=1)
        self._elements = check_int("elements", elements, minimum=1)
        if via is not None:
            via = check_int("via", via, minimum=min(self._a, self._b))
        self._via = via
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._shape, self._a))),
            "o": Out(stream.Signature(data.ArrayLayout(self._shape, self._b))),
        })

    in_per_beat = property(lambda self: self._a)
    out_per_beat = property(lambda self: self._b)
    elements = property(lambda self: self._elements)
    via = property(lambda self: self._via)
    in_beats = property(lambda self: -(-self._elements // self._a))
    out_beats = property(lambda self: -(-self._elements // self._b))

    @property
    def group(self):
        """Elements every lane count is a multiple of: the barrel shifters move whole groups."""
        return math.gcd(self._a, self._b, _rest(self._a, self._elements),
                        _rest(self._b, self._elements))

    @property
    def shift_stages(self):
        """Stages of each barrel shifter: a beat lands at most ``out_per_beat`` elements up,
        so the bits of that many groups (with ``via``: the deeper of the two converters)."""
        if self._via:
            return max(part.shift_stages for part in self._parts())
        return (self._b // self.group).bit_length()

    latency = property(lambda self: 2 if self._via else 1)
    #: ``i.ready`` follows ``o.ready`` combinationally (hwgen.network)
    registered_ready = False

    @property
    def ready_fanout(self):
        """Flip-flops ``o.ready`` reaches: the buffer and the count registers (with ``via``:
        of both converters, as the second's ``i.ready`` is the first's ``o.ready``)."""
        if self._via:
            return sum(part.ready_fanout for part in self._parts())
        return (self._a + self._b) * self._shape.width + 4 * (self._a + self._b).bit_length()

    def _parts(self):
        """The two converters of a conversion ``via`` an intermediate lane count."""
        parts = [StreamingDataWidthConverter(shape=self._shape, in_per_beat=a, out_per_beat=b,
                                             elements=self._elements)
                 for a, b in ((self._a, self._via), (self._via, self._b))]
        for part in parts:
            part._MustUse__silence = True    # also built to be measured, not elaborated
        return parts

    def retimed(self, model, clock_mhz):
        """This converter, or one ``via`` the intermediate lane count with the shallowest
        shifters, when the delay model says its shifter does not fit one cycle at
        ``clock_mhz`` and the split saves at least two shifter stages."""
        if self._via or self._shift_delay(model) <= model.budget(clock_mhz):
            return self
        narrow, wide = sorted((self._a, self._b))
        best = None
        for via in range(narrow, wide + 1):
            if via in (self._a, self._b):
                continue
            split = StreamingDataWidthConverter(shape=self._shape, in_per_beat=self._a,
                                                out_per_beat=self._b, elements=self._elements,
                                                via=via)
            split._MustUse__silence = True   # a candidate; only the best one is elaborated
            parts = split._parts()
            key = (max(p.shift_stages for p in parts), sum(p.shift_stages for p in parts), via)
            if best is None or key < best[0]:
                best = key, split
        if best is None or best[0][0] > self.shift_stages - 2:     # worth a cycle and FFs
            return self
        return best[1]

    def _shift_delay(self, model):
        """ns of the placement: the masks, the shifter's stages and the buffer's input mux."""
        return model.luts(self.shift_stages + 2)

    def stage_delay(self, model):
        """(ns, what, fix) of the converter's one cycle by the delay model (hwgen.timing):
        ``take`` to the buffer, or the count through the barrel shifter to the buffer."""
        if self._via:
            return max((part.stage_delay(model) for part in self._parts()),
                       key=lambda stage: stage[0])
        take = model.luts(1, fanout=self.ready_fanout) + model.luts(2)
        shift = self._shift_delay(model)
        if take >= shift:
            return (model.stage(take), f"the beat-taken enable to {self.ready_fanout} "
                    "flip-flops", "fewer lanes on the wider side (smaller pe/simd or io_bits)")
        return (model.stage(shift), f"{self.shift_stages} barrel-shifter stages",
                "lane counts with a larger common divisor (fewer shifter stages), or a "
                "conversion via an intermediate lane count (retimed)")

    def elaborate(self, platform):
        m = Module()
        if self._via:
            m.submodules.first, m.submodules.second = first, second = self._parts()
            wiring.connect(m, wiring.flipped(self.i), first.i)
            wiring.connect(m, first.o, second.i)
            wiring.connect(m, second.o, wiring.flipped(self.o))
            return m
        a, b, width = self._a, self._b, self._shape.width
        take = Signal()
        give = Signal()
        # Lanes of this input / output beat: full, or the sample's remainder
        # on its last beat, chosen by a registered last-beat flag, so no lane
        # count is computed from a remaining-elements counter in the cycle
        # that uses it.
        in_last, in_rest, _ = _last_beat(m, "in", give, a, self._elements)
        out_last, out_rest, out_moved = _last_beat(m, "out", take, b, self._elements)
        in_mask = Mux(in_last, _ones(in_rest * width, a * width), _ones(a * width))
        out_mask = Mux(out_last, _ones(out_rest * width, b * width), _ones(b * width))

        # Every lane count is a multiple of `group` elements, so positions are
        # counted in groups and the barrel shifters move whole groups: fewer
        # stages (64 -> 32 lanes: 2 instead of 7). From here on, counts are in groups.
        group = self.group
        a, b, in_rest, out_rest = a // group, b // group, in_rest // group, out_rest // group
        capacity = a + b
        buffer = Signal(capacity * group * width)
        count = Signal(range(capacity + 1))

        # `count - leaving`, `o.valid` and whether a beat fits if one leaves /
        # if none leaves are registers. A beat fits only if a full one would, so
        # it is placed at most `b` groups up: the shifters need only the bits of
        # `b`, not of the capacity.
        after_take = Signal(range(capacity + 1))
        fits_hold = Signal(init=1)
        # A beat that fits when none leaves also fits when one does, so i.ready is
        # "fits_hold, or fits_take and a beat leaves"; with "fits_take and o.valid" a register
        # of its own, i.ready and give are one LUT each from flip-flops and o.ready.
        fits_take_valid = Signal()
        m.d.comb += [
            take.eq(self.o.valid & self.o.ready),
            give.eq(self.i.valid & self.i.ready),
            self.o.payload.as_value().eq(buffer[:b * group * width] & out_mask),
            self.i.ready.eq(fits_hold | (fits_take_valid & self.o.ready)),
        ]
        incoming = Signal(a * group * width)
        m.d.comb += incoming.eq(self.i.payload.as_value() & in_mask)
        length, step, places = len(buffer), group * width, b.bit_length()
        placed = Mux(take, _shift_up(incoming, after_take[:places], step, length),
                     _shift_up(incoming, count[:places], step, length))
        shifted = Mux(take, Mux(out_last, buffer >> (out_rest * step), buffer >> (b * step)),
                      buffer)
        # Enabled by take or i.valid, not give: with i.valid but no room, the buffer keeps
        # its value (nothing is placed), and the enable stays one LUT from flip-flops.
        with m.If(take | self.i.valid):
            m.d.sync += buffer.eq(shifted | Mux(give, placed, 0))

        # The next registers for each (take, give) case come from registers
        # only; take and give just pick one of the four, so neither `o.ready`
        # nor `i.valid` reaches an adder or a comparator. Within a case, the
        # groups arriving (A) and leaving (L) are constants picked by the
        # last-beat flags, so each test compares a register with a constant
        # (n = base + A >= L is base >= L - A) and no comparator waits for an adder.
        def select(values):
            return Mux(take, Mux(give, values[1, 1], values[1, 0]),
                       Mux(give, values[0, 1], values[0, 0]))

        nexts = {key: {} for key in ("count", "after_take", "valid", "fits_take", "fits_hold")}
        for t in (0, 1):
            base = after_take if t else count
            leaving_last = out_moved if t else out_last
            for g in (0, 1):
                def case(test, g=g, leaving_last=leaving_last):
                    """``test(A, L)`` for this case's constants, picked by the flags."""
                    def over_leaving(arrive):
                        return Mux(leaving_last, test(arrive, out_rest), test(arrive, b))
                    if not g:
                        return over_leaving(0)
                    return Mux(in_last, over_leaving(in_rest), over_leaving(a))
                nexts["count"][t, g] = case(lambda A, L, base=base: base + A)
                nexts["after_take"][t, g] = case(lambda A, L, base=base: base + (A - L))
                nexts["valid"][t, g] = case(lambda A, L, base=base: _at_least(base, L - A, capacity))
                nexts["fits_take"][t, g] = case(lambda A, L, base=base: _at_most(base, b + L - A, capacity))
                nexts["fits_hold"][t, g] = case(lambda A, L, base=base: _at_most(base, b - A, capacity))
        m.d.sync += [count.eq(select(nexts["count"])),
                     after_take.eq(select(nexts["after_take"])),
                     self.o.valid.eq(select(nexts["valid"])),
                     fits_hold.eq(select(nexts["fits_hold"])),
                     fits_take_valid.eq(select({key: nexts["fits_take"][key] & nexts["valid"][key]
                                                for key in nexts["valid"]}))]
        return m


def _last_beat(m, name, advance, per_beat, elements):
    """(last-beat flag, lanes of a sample's last beat, the flag after a beat passes) of a
    ``per_beat``-lane stream.

    Every beat of a sample is full but the last, which holds the remainder. The
    flag is a register that follows ``advance`` (a beat passed) with a beat
    counter, or a constant when every beat is full or a sample is one beat."""
    beats, rest = -(-elements // per_beat), _rest(per_beat, elements)
    if rest == per_beat or beats == 1:
        flag = Const(int(rest != per_beat))
        return flag, rest, flag
    last = Signal(name=f"{name}_last")
    moved = Signal(name=f"{name}_last_moved")
    beat = Signal(range(beats), name=f"{name}_beat")
    m.d.comb += moved.eq(~last & (beat == beats - 2))
    with m.If(advance):
        m.d.sync += [last.eq(moved), beat.eq(Mux(last, 0, beat + 1))]
    return last, rest, moved


def _at_least(value, bound, most):
    """``value >= bound`` for a register holding 0 .. ``most``; a constant when it is one."""
    if bound <= 0:
        return Const(1)
    return Const(0) if bound > most else value >= bound


def _at_most(value, bound, most):
    """``value <= bound`` for a register holding 0 .. ``most``; a constant when it is one."""
    if bound < 0:
        return Const(0)
    return Const(1) if bound >= most else value <= bound


def _rest(per_beat, elements):
    """Elements in a sample's last beat (``per_beat`` when it is full)."""
    return elements - (-(-elements // per_beat) - 1) * per_beat


def _ones(bits, length=None):
    """``bits`` low bits set, as a ``length``-bit constant."""
    return Const((1 << bits) - 1, length or bits)


def _shift_up(value, lanes, width, length):
    """``value`` (unsigned) shifted up by ``lanes`` lanes (groups) of ``width`` bits, zero-filled,
    as ``length`` bits: one stage per bit of ``lanes``, each a constant shift (a barrel shifter)."""
    value = Cat(value, Const(0, length - len(value)))
    for stage, bit in enumerate(lanes):
        value = Mux(bit, (value << (width << stage))[:length], value)
    return value
