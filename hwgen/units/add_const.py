"""Per-element constant add: ``y = x + values[k]``, ``k`` the element's place in the sample."""

from amaranth.hdl import Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import as_array, check_int, check_range, check_shape, shape_range
from ._counter import counter
from ._credit import credit_input
from ._rom import lane_rom

__all__ = ["AddConst"]


class AddConst(wiring.Component):
    """Adds one constant per element of a sample (a position embedding), ``pe`` per beat.

    For element ``k`` of a sample (in stream order)::

        y = x + values[k]

    A sample is ``len(values) // pe`` beats; a fold counter picks each lane's constant, so
    the stream must start at a sample's first element (true after reset, and it stays
    aligned because a sample is always whole). Each lane's constants live in a ROM
    ``len(values) // pe`` deep (a constant when they are all equal), read synchronously.

    Parameters
    ----------
    in_shape : Shape            element type of ``x``
    out_shape : Shape           element type of ``y``; must hold every ``x + values[k]``
    values : sequence of int    one constant per element of a sample, in stream order
    pe : int                    elements per beat; must divide ``len(values)``
    in_range : (lo, hi) or None the values ``x`` takes (default: all of ``in_shape``);
                                ``out_shape`` is checked against it

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))

    Latency 2 cycles (register ``x`` while the ROM is read, then the add into the output
    queue); one beat per cycle. As :class:`~hwgen.units.requant.Requant`, the pipeline never
    stalls: a beat is taken only when the output queue
    (:class:`~hwgen.units._credit.CreditQueue`) has room for it and every beat in flight, so
    ``i.ready`` depends on the unit's own flip-flops only.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds")
    #: no resource model fitted yet (benchmarks/calibrate.py)
    resource_features = None

    def __init__(self, *, in_shape, out_shape, values, pe=1, in_range=None):
        self._in_shape = check_shape("in_shape", in_shape)
        self._out_shape = check_shape("out_shape", out_shape)
        array, given = as_array("values", values, "[elements] of integers")
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
            raise TypeError(f"values must be a non-empty sequence of integers, not {given}")
        self._values = tuple(int(v) for v in array)
        self._pe = check_int("pe", pe, minimum=1)
        if len(self._values) % self._pe:
            raise ValueError(f"pe must divide the {len(self._values)} values, not {pe!r}")
        self._in_range = check_range("in_range", in_range, shape_range(self._in_shape),
                                     f"in_shape {self._in_shape!r}")
        lo = self._in_range[0] + min(self._values)
        hi = self._in_range[1] + max(self._values)
        out_lo, out_hi = shape_range(self._out_shape)
        if lo < out_lo or hi > out_hi:
            raise ValueError(f"out_shape {self._out_shape!r} ([{out_lo}, {out_hi}]) cannot hold "
                             f"x + values, which spans [{lo}, {hi}]")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, self._pe))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, self._pe))),
        })

    pe = property(lambda self: self._pe)
    values = property(lambda self: self._values)
    folds = property(lambda self: len(self._values) // self._pe)
    latency = 2
    #: ``i.ready`` comes from the unit's own flip-flops; ``o.ready`` reaches a few (hwgen.network)
    registered_ready = True
    ready_fanout = 4

    def elaborate(self, platform):
        m = Module()
        queue, accept = credit_input(m, self)

        fold, _ = counter(m, self.folds, accept, "fold")

        # Stage 1: register x while each lane's ROM reads the constant of the accepted beat.
        x1 = Signal.like(self.i.payload)
        m.d.sync += x1.eq(self.i.payload)
        width = max(_bits_signed(v) for v in self._values)
        for lane in range(self._pe):
            words = list(self._values[lane::self._pe])
            value = lane_rom(m, f"value_rom_{lane}", signed(width), words, addr=fold,
                             en=Const(1), placed=True)
            # Stage 2 (the queue's register): the add, as wide as out_shape (checked above).
            m.d.comb += queue.w_data[lane].eq(x1[lane] + value)
        return m


def _bits_signed(value: int) -> int:
    return (value if value >= 0 else ~value).bit_length() + 1
