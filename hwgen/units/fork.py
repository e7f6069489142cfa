"""Copy one stream to several consumers (FINN: DuplicateStreams)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_payload_shape

__all__ = ["DuplicateStreams"]


class DuplicateStreams(wiring.Component):
    """Eager fork: every beat on ``i`` is passed once to each of ``outputs`` streams.

    A tensor read by several layers (the input of a residual block, the
    LayerNorm output feeding Q, K and V) leaves its producer through one of
    these. Each output takes the beat when it is ready, independently of
    the others; the input beat is released once every output has taken it.
    A ``done`` flag per output remembers who already has the current beat,
    so no output sees it twice and a stalled output delays the others by at
    most that one beat. ``o<k>.valid`` never depends on any ``ready``.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(signed(8), 4)``
    outputs : int               number of consumers, at least 2

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o0 ... o<outputs-1> : Out(stream.Signature(payload_shape))

    No latency (outputs are wires from ``i``); one beat per cycle while all
    outputs are ready. ``i.ready`` is combinational in the outputs' ``ready``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None

    def __init__(self, payload_shape, *, outputs):
        self._payload_shape = check_payload_shape(payload_shape, "ArrayLayout(signed(8), 4)")
        self._outputs = check_int("outputs", outputs, minimum=2)
        members = {"i": In(stream.Signature(payload_shape))}
        members.update({f"o{k}": Out(stream.Signature(payload_shape)) for k in range(outputs)})
        super().__init__(members)

    outputs = property(lambda self: self._outputs)
    latency = 0
    #: ``i.ready`` follows the outputs' ``ready`` combinationally, which reach only the
    #: ``done`` flags (hwgen.network)
    registered_ready = False
    ready_fanout = property(lambda self: self._outputs)

    def output(self, k):
        """The ``k``-th output stream (``o<k>``)."""
        return getattr(self, f"o{k}")

    def elaborate(self, platform):
        m = Module()
        outs = [self.output(k) for k in range(self._outputs)]
        done = Signal(self._outputs)        # bit k: output k already took the current beat
        for k, out in enumerate(outs):
            m.d.comb += [
                out.valid.eq(self.i.valid & ~done[k]),
                out.payload.eq(self.i.payload),
            ]
        m.d.comb += self.i.ready.eq(Cat(done[k] | out.ready for k, out in enumerate(outs)).all())
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += done.eq(0)
        with m.Else():
            m.d.sync += done.eq(done | Cat(out.valid & out.ready for out in outs))
        return m
