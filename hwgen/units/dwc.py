"""Element-wise stream width conversion (FINN: StreamingDataWidthConverter)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
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
    width, so no element-index x width product (no multiplier) is built.

    Parameters
    ----------
    shape : Shape          element shape
    in_per_beat : int      elements per input beat
    out_per_beat : int     elements per output beat
    elements : int         elements per sample

    Members
    -------
    i : In(stream.Signature(ArrayLayout(shape, in_per_beat)))
    o : Out(stream.Signature(ArrayLayout(shape, out_per_beat)))

    Latency 1 cycle (the buffer is a register); throughput is the full rate
    of the narrower side: one beat per cycle on each side when
    ``in_per_beat == out_per_beat``, otherwise as many beats as the element
    rate allows. ``i.ready`` depends on ``o.ready`` combinationally.
    """

    def __init__(self, *, shape, in_per_beat, out_per_beat, elements):
        self._shape = check_shape("shape", shape)
        self._a = check_int("in_per_beat", in_per_beat, minimum=1)
        self._b = check_int("out_per_beat", out_per_beat, minimum=1)
        self._elements = check_int("elements", elements, minimum=1)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._shape, self._a))),
            "o": Out(stream.Signature(data.ArrayLayout(self._shape, self._b))),
        })

    in_per_beat = property(lambda self: self._a)
    out_per_beat = property(lambda self: self._b)
    elements = property(lambda self: self._elements)
    in_beats = property(lambda self: -(-self._elements // self._a))
    out_beats = property(lambda self: -(-self._elements // self._b))
    latency = 1

    def elaborate(self, platform):
        m = Module()
        a, b, width = self._a, self._b, self._shape.width
        capacity = a + b

        buffer = Signal(capacity * width)
        count = Signal(range(capacity + 1))
        # Elements of the current sample still to arrive / still to leave.
        to_arrive = Signal(range(self._elements + 1), init=self._elements)
        to_leave = Signal(range(self._elements + 1), init=self._elements)
        arriving = Mux(to_arrive < a, to_arrive, a)
        leaving = Mux(to_leave < b, to_leave, b)

        # A partial last beat shows zeros above `leaving`.
        lane_mask = Signal(b * width)
        m.d.comb += lane_mask.eq(_lanes_below(leaving, b, width))
        m.d.comb += [
            self.o.valid.eq(count >= leaving),
            self.o.payload.as_value().eq(buffer[:b * width] & lane_mask),
        ]
        take = self.o.valid & self.o.ready
        kept = Signal(range(capacity + 1))
        m.d.comb += kept.eq(count - Mux(take, leaving, 0))
        m.d.comb += self.i.ready.eq(kept + arriving <= capacity)
        give = self.i.valid & self.i.ready

        incoming = Signal(a * width)
        m.d.comb += incoming.eq(self.i.payload.as_value() & _lanes_below(arriving, a, width))
        shifted = Signal(capacity * width)
        m.d.comb += shifted.eq(Mux(take, _shift(buffer, leaving, width, left=False,
                                                length=capacity * width), buffer))
        with m.If(take | give):
            m.d.sync += [
                buffer.eq(shifted | Mux(give, _shift(incoming, kept, width, left=True,
                                                     length=capacity * width), 0)),
                count.eq(kept + Mux(give, arriving, 0)),
            ]
        with m.If(give):
            m.d.sync += to_arrive.eq(Mux(to_arrive == arriving, self._elements,
                                         to_arrive - arriving))
        with m.If(take):
            m.d.sync += to_leave.eq(Mux(to_leave == leaving, self._elements,
                                        to_leave - leaving))
        return m


def _shift(value, lanes, width, *, left, length):
    """``value`` (unsigned) shifted by ``lanes`` lanes of ``width`` bits, zero-filled, as
    ``length`` bits: one stage per bit of ``lanes``, each a constant shift (a barrel shifter)."""
    value = Cat(value, Const(0, length - len(value)))
    for stage, bit in enumerate(lanes):
        moved = (value << (width << stage))[:length] if left else value >> (width << stage)
        value = Mux(bit, moved, value)
    return value


def _lanes_below(limit, lanes, width):
    """A mask with the ``width`` bits of every lane below ``limit`` set."""
    return Cat(*((lane < limit).replicate(width) for lane in range(lanes)))
