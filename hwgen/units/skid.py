"""A register slice that cuts both stream paths (FINN rtllib: skid)."""

from amaranth.hdl import Module, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_payload_shape

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Two-entry skid buffer: ``o.valid``/``o.payload`` and ``i.ready`` are registers.

    A unit passes a beat when ``o.ready | ~o.valid``, so ``ready`` runs
    combinationally back through a chain of units; the composition puts one
    of these between layers to cut that path (and the forward one) into
    short segments. The output register holds the beat shown on ``o``; a
    second (skid) register catches the one beat that may arrive in the cycle
    ``o`` stalls, because ``i.ready`` only falls one cycle later. The skid
    drains into the output register before any new input is taken, so beats
    leave in order.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 16)``

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o : Out(stream.Signature(payload_shape))

    Latency 1 cycle; one beat per cycle with no bubbles (``i.ready`` stays
    high as long as ``o`` does not stall). Cost: two payload registers, two
    valid flags and a payload-wide 2:1 multiplexer.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): payload width, 1."""
        return "skid", [Shape.cast(self.i.payload.shape()).width, 1]

    def __init__(self, payload_shape):
        self._payload_shape = check_payload_shape(payload_shape)
        super().__init__({
            "i": In(stream.Signature(payload_shape)),
            "o": Out(stream.Signature(payload_shape)),
        })

    latency = 1

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        out_valid, out_data = Signal(), Signal(width)
        skid_valid, skid_data = Signal(), Signal(width)
        incoming = Value.cast(self.i.payload)
        m.d.comb += [
            self.o.valid.eq(out_valid),
            Value.cast(self.o.payload).eq(out_data),
            self.i.ready.eq(~skid_valid),
        ]
        give = self.i.valid & ~skid_valid
        with m.If(self.o.ready | ~out_valid):
            # The output register is free this cycle: refill it, the skid first.
            m.d.sync += [out_valid.eq(skid_valid | self.i.valid), skid_valid.eq(0)]
            with m.If(skid_valid):
                m.d.sync += out_data.eq(skid_data)
            with m.Elif(self.i.valid):
                m.d.sync += out_data.eq(incoming)
        with m.Elif(give):
            # Output stalled with a beat in flight: park it in the skid register.
            m.d.sync += [skid_valid.eq(1), skid_data.eq(incoming)]
        return m
