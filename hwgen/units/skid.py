"""A register slice that cuts both stream paths (FINN rtllib: skid), as a two-slot ring."""

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_payload_shape

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Two-slot register queue: ``o.ready`` reaches a few flags, ``i.ready`` is a register.

    A unit passes a beat when ``o.ready | ~o.valid``, so ``ready`` runs
    combinationally back through a chain of units; the composition puts one
    of these where that path would otherwise join two high-fanout enables
    (see ``hwgen.network``). It is a ring of two payload registers with a
    write and a read pointer: an arriving beat is written to the slot under
    the write pointer (an enable from ``i.valid`` and registers only), and
    ``o`` shows the slot under the read pointer. So ``o.ready`` moves only
    the read pointer and the two occupancy flags, never the payload
    registers, and ``i.ready`` ("not full") and ``o.valid`` ("not empty")
    are flip-flops (the write pointer is the read pointer plus the occupancy). The slot on show is never written while shown (a write
    goes to the other slot), so a stalled beat holds still.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 16)``

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o : Out(stream.Signature(payload_shape))

    Latency 1 cycle; one beat per cycle with no bubbles (``i.ready`` stays
    high as long as ``o`` does not stall). Cost: two payload registers, a
    payload-wide 2:1 multiplexer on the output and four flag flip-flops.
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
    #: ``i.ready`` is a flip-flop; ``o.ready`` reaches this many flip-flops (hwgen.network)
    registered_ready = True
    ready_fanout = 4

    def stage_delay(self, model):
        """(ns, what, fix) by the delay model (hwgen.timing): a slot's write enable."""
        width = Shape.cast(self._payload_shape).width
        return (model.stage(model.luts(1, fanout=width)),
                f"the write enable of a {width}-bit slot", "")

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        slots = [Signal(width, name=f"slot_{k}") for k in range(2)]
        read_at = Signal()
        # Occupancy 0, 1 or 2 as two flags stored the way the ports show them, so o.valid
        # and i.ready are flip-flop outputs with no inverter after them.
        nonempty, not_full = Signal(), Signal(init=1)
        # The write pointer is not a register of its own: it is the read pointer, moved on
        # by one while exactly one beat is held. So no state has the two disagree with the
        # occupancy (which a proof by induction would otherwise have to rule out).
        write_at = read_at ^ (nonempty & not_full)
        m.d.comb += [
            self.o.valid.eq(nonempty),
            Value.cast(self.o.payload).eq(Mux(read_at, slots[1], slots[0])),
            self.i.ready.eq(not_full),
        ]
        push = self.i.valid & not_full
        pop = self.o.ready & nonempty
        for k, slot in enumerate(slots):
            with m.If(push & (write_at == k)):
                m.d.sync += slot.eq(Value.cast(self.i.payload))
        with m.If(pop):
            m.d.sync += read_at.eq(~read_at)
        with m.If(push & ~pop):
            m.d.sync += [nonempty.eq(1), not_full.eq(~nonempty)]
        with m.Elif(pop & ~push):
            m.d.sync += [not_full.eq(1), nonempty.eq(~not_full)]
        return m
