"""A stream FIFO: amaranth.lib.fifo.SyncFIFOBuffered behind lib.stream ports."""

from amaranth.hdl import Module, Shape, Value
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ._checks import check_int

__all__ = ["StreamFIFO"]


class StreamFIFO(wiring.Component):
    """First-in first-out buffer of ``depth`` beats between two units.

    The composition inserts one where a consumer takes its input in bursts
    (an MVAU reads a whole vector, then computes its other output folds
    without reading) so the producer keeps running meanwhile.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 32)``
    depth : int                 beats (at least 3 are built); storage is a ``Memory``
                                (BRAM/LUTRAM) plus one output register

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o : Out(stream.Signature(payload_shape))

    Latency 2 cycles (input to output when empty); one beat per cycle.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "depth")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): width, LUTRAM bits (none above
        64 beats: block RAM), 1."""
        bits = Shape.cast(self.i.payload.shape()).width
        return "fifo", [bits, bits * -(-self.depth // 16) if self.depth <= 64 else 0, 1]

    def __init__(self, payload_shape, *, depth):
        self._payload_shape = payload_shape
        self._depth = check_int("depth", depth, minimum=1)
        super().__init__({
            "i": In(stream.Signature(payload_shape)),
            "o": Out(stream.Signature(payload_shape)),
        })

    #: beats it holds as built (Amaranth's buffered FIFO is built at least 3 deep)
    depth = property(lambda self: max(self._depth, 3))
    latency = 2

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        # Below 3, SyncFIFOBuffered's inner FIFO has a zero-width address,
        # which Verilator's lint rejects (ASCRANGE); one spare beat costs little.
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=width, depth=self.depth)
        m.d.comb += [
            fifo.w_data.eq(Value.cast(self.i.payload)),
            fifo.w_en.eq(self.i.valid),
            self.i.ready.eq(fifo.w_rdy),
            Value.cast(self.o.payload).eq(fifo.r_data),
            self.o.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.o.ready),
        ]
        return m
