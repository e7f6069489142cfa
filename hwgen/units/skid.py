"""A register slice that cuts both stream paths (FINN rtllib: skid): a two-slot ring, or an
output register with a spare one."""

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_payload_shape

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Two-slot register queue: ``i.ready`` is a register; ``o.ready`` reaches a few flags
    (with ``registered_output``, the output register too).

    A unit passes a beat when ``o.ready | ~o.valid``, so ``ready`` runs
    combinationally back through a chain of units; the composition puts one
    of these where that path would otherwise join two high-fanout enables
    (see ``hwgen.network``). It is a ring of two payload registers with a
    write and a read pointer: an arriving beat is written to the slot under
    the write pointer (an enable from ``i.valid`` and registers only), and
    ``o`` shows the slot under the read pointer. So ``o.ready`` moves only
    the read pointer and the two occupancy flags, never the payload
    registers, and ``i.ready`` ("not full") and ``o.valid`` ("not empty")
    are flip-flops (the write pointer is the read pointer plus the occupancy).
    The slot on show is never written while shown (a write goes to the other
    slot), so a stalled beat holds still.

    With ``registered_output`` it is the other classic form instead: ``o.payload``
    is a register (the beat on show) and a spare register catches the beat
    that arrives while the shown one stalls. Then nothing but wires lies
    between the flip-flops and ``o.payload``, for a consumer that puts deep
    logic behind its input (a width converter's write rotator), and the
    multiplexer moves in front of the output register; in exchange
    ``o.ready`` enables the whole output register, so it suits a consumer
    whose ``i.ready`` is itself a flip-flop.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 16)``
    registered_output : bool    ``o.payload`` straight from a register (default False: the ring)

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o : Out(stream.Signature(payload_shape))

    Latency 1 cycle; one beat per cycle with no bubbles (``i.ready`` stays
    high as long as ``o`` does not stall). Cost: two payload registers, a
    payload-wide 2:1 multiplexer (on the output, or with ``registered_output``
    in front of the output register) and three flag flip-flops (two).
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): payload width, 1."""
        return "skid", [Shape.cast(self.i.payload.shape()).width, 1]

    def __init__(self, payload_shape, *, registered_output=False):
        self._payload_shape = check_payload_shape(payload_shape)
        if not isinstance(registered_output, bool):
            raise TypeError(f"registered_output must be True or False, not {registered_output!r}")
        self._registered_output = registered_output
        super().__init__({
            "i": In(stream.Signature(payload_shape)),
            "o": Out(stream.Signature(payload_shape)),
        })

    registered_output = property(lambda self: self._registered_output)

    latency = 1
    #: ``i.ready`` is a flip-flop (hwgen.network)
    registered_ready = True
    #: LUT levels between the flip-flops and ``o.payload``: the ring's read multiplexer, or
    #: none with ``registered_output`` (hwgen.network)
    payload_levels = property(lambda self: 0 if self._registered_output else 1)

    @property
    def ready_fanout(self):
        """Flip-flops ``o.ready`` reaches: the read pointer and the occupancy flags, or with
        ``registered_output`` the output register, its valid flag and the spare's flag."""
        if self._registered_output:
            return Shape.cast(self._payload_shape).width + 2
        return 4

    def stage_delay(self, model):
        """(ns, what, fix) by the delay model (hwgen.timing): a slot's write enable (with
        ``registered_output``, the spare's, which has the same fanout)."""
        width = Shape.cast(self._payload_shape).width
        return (model.stage(model.luts(1, fanout=width)),
                f"the write enable of a {width}-bit slot", "")

    def elaborate(self, platform):
        if self._registered_output:
            return self._elaborate_registered_output()
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

    def _elaborate_registered_output(self):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        shown, spare = Signal(width, name="shown"), Signal(width, name="spare")
        # Flags stored the way the ports show them: o.valid and i.ready ("the spare is
        # free") are flip-flop outputs.
        shown_valid, spare_free = Signal(), Signal(init=1)
        m.d.comb += [
            self.o.valid.eq(shown_valid),
            Value.cast(self.o.payload).eq(shown),
            self.i.ready.eq(spare_free),
        ]
        # The spare takes every arriving beat (enable from i.valid and a flip-flop, not
        # o.ready); it only counts as held when the shown beat stalls, else the same beat
        # goes straight on show.
        with m.If(self.i.valid & spare_free):
            m.d.sync += spare.eq(Value.cast(self.i.payload))
        with m.If(self.o.ready | ~shown_valid):
            m.d.sync += [
                shown.eq(Mux(spare_free, Value.cast(self.i.payload), spare)),
                shown_valid.eq(~spare_free | self.i.valid),
                spare_free.eq(1),
            ]
        with m.Elif(self.i.valid):
            m.d.sync += spare_free.eq(0)
        return m
