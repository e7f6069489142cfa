"""Top-1 index of each vector, ties to the lowest index (FINN: LabelSelect, i.e. argmax)."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape

__all__ = ["LabelSelect"]


class LabelSelect(wiring.Component):
    """Index of the largest of ``channels`` elements arriving ``pe`` per beat (FINN: LabelSelect).

    For each vector ``x[0 .. C-1]``::

        y = min { c : x[c] == max(x) }      # torch.argmax / sw_reference.ops.argmax

    Channels arrive in order, ``pe`` per beat, ``channels // pe`` beats (folds)
    per vector; one output beat per vector. Within a beat a balanced
    comparison tree picks the upper half's candidate only if it is strictly
    greater, so the lower lane wins ties; across beats the running best is
    replaced only by a strictly greater beat winner, so the earlier beat wins
    ties. Together: the lowest index among the maxima.

    ``in_shape`` may be signed or unsigned of any width; ``unsigned(1)`` is a
    binary element (bit 1 = +1, 0 = -1), whose order the bits already have.

    Parameters
    ----------
    in_shape : Shape            element type of ``x``
    channels : int              elements per vector ``C`` (FINN ``Labels``)
    pe : int                    elements per beat; must divide ``channels``

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(unsigned(index_bits), 1)))
        ``index_bits = max(2, ceil(log2(channels)))``; an array of one element
        so that every unit's payload is an ``ArrayLayout``. Never 1 bit: a
        1-bit element means binary (-1/+1) throughout hwgen, and the spec
        gives argmax over 1 or 2 classes a 2-bit type too.

    Latency 2 cycles from a vector's last input beat to its result (beat
    winner register, then running best into the result register); one input
    beat per cycle. The result register and the running-best register are
    separate, so the next vector streams in while a result waits to be taken;
    the input stalls only when a vector's last beat is ready to finish while
    the previous result is still untaken.
    """

    def __init__(self, *, in_shape, channels, pe=1):
        self._in_shape = check_shape("in_shape", in_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._pe = check_int("pe", pe, minimum=1)
        if channels % pe:
            raise ValueError(f"pe must divide channels ({channels}), not {pe!r}")
        self._index_bits = max(2, (self._channels - 1).bit_length())

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(unsigned(self._index_bits), 1))),
        })

    in_shape = property(lambda self: self._in_shape)
    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    folds = property(lambda self: self._channels // self._pe)
    index_bits = property(lambda self: self._index_bits)
    latency = 2

    def elaborate(self, platform):
        m = Module()
        pe, channels = self._pe, self._channels

        # Stage 1: the beat's winner (value, absolute index) and its place in the vector.
        v1, first1, last1 = Signal(), Signal(), Signal()
        val1 = Signal(self._in_shape)
        idx1 = Signal(unsigned(self._index_bits))
        # Stage 2: running best of the vector so far, and the result register.
        run_val = Signal(self._in_shape)
        run_idx = Signal(unsigned(self._index_bits))
        result = Signal(unsigned(self._index_bits))
        result_valid = Signal()
        m.d.comb += [self.o.valid.eq(result_valid), self.o.payload[0].eq(result)]

        # Stage 2 takes stage 1's beat unless that beat ends a vector and the result
        # register is still full; stage 1 takes a new beat whenever it is emptied.
        out_free = ~result_valid | self.o.ready
        take1 = Signal()
        m.d.comb += [take1.eq(v1 & (~last1 | out_free)), self.i.ready.eq(~v1 | take1)]
        accept = self.i.valid & self.i.ready

        if self.folds == 1:
            base, first, last = 0, Const(1), Const(1)
        else:
            base = Signal(range(channels))               # index of lane 0 of this beat
            first, last = base == 0, base == channels - pe
            with m.If(accept):
                m.d.sync += base.eq(Mux(last, 0, base + pe))

        lanes = [(self.i.payload[lane], Const(lane, unsigned(self._index_bits)))
                 for lane in range(pe)]
        best_val, best_lane = _tree(lanes)
        with m.If(self.i.ready):
            m.d.sync += v1.eq(self.i.valid)
        with m.If(accept):
            m.d.sync += [val1.eq(best_val), idx1.eq(base + best_lane),
                         first1.eq(first), last1.eq(last)]

        better = first1 | (val1 > run_val)
        new_val = Mux(better, val1, run_val)
        new_idx = Mux(better, idx1, run_idx)
        with m.If(self.o.ready):
            m.d.sync += result_valid.eq(0)
        with m.If(take1):
            m.d.sync += [run_val.eq(new_val), run_idx.eq(new_idx)]
            with m.If(last1):
                m.d.sync += [result.eq(new_idx), result_valid.eq(1)]
        return m


def _tree(candidates):
    """(value, lane) of the largest candidate, the lowest lane among equals."""
    if len(candidates) == 1:
        return candidates[0]
    half = len(candidates) // 2
    (low_val, low_idx), (high_val, high_idx) = _tree(candidates[:half]), _tree(candidates[half:])
    greater = high_val > low_val
    return Mux(greater, high_val, low_val), Mux(greater, high_idx, low_idx)
