"""A register slice that cuts both stream paths (FINN rtllib: skid): a two-slot ring, or an
output register with a spare one."""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_payload_shape

__all__ = ["SkidBuffer", "CHUNK_BITS"]

#: bits of ``registered_output``'s output register behind one enable LUT and flag copy
CHUNK_BITS = 16


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
    whose ``i.ready`` is itself a flip-flop. That register is cut in chunks
    of ``CHUNK_BITS``, each with its own enable LUT and its own copy of the
    "shown" flag, so ``o.ready`` reaches a LUT next to each chunk rather than
    one enable net spread over the whole register.

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
    in front of the output register) and three flag flip-flops (with
    ``registered_output``: the spare's flag and a "shown" flag per chunk of
    ``CHUNK_BITS``).
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
        ``registered_output`` the output register, its chunks' "shown" flags and the spare's
        flag."""
        if self._registered_output:
            width = Shape.cast(self._payload_shape).width
            return width + -(-width // CHUNK_BITS) + 1
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
        payload = Value.cast(self.i.payload)
        spare = Signal(width, name="spare")
        # i.ready ("the spare is free") is a flip-flop output.
        spare_free = Signal(init=1)
        m.d.comb += self.i.ready.eq(spare_free)
        # The spare takes every arriving beat (enable from i.valid and a flip-flop, not
        # o.ready); it only counts as held when the shown beat stalls, else the same beat
        # goes straight on show.
        with m.If(self.i.valid & spare_free):
            m.d.sync += spare.eq(payload)
        # The output register in chunks of at most CHUNK_BITS, each with its own copy of the
        # "a beat is shown" flag in a submodule (synthesis keeps the hierarchy, so the copies
        # are not merged back into one): o.ready then reaches one enable LUT per chunk, next
        # to its flip-flops, not one LUT whose output spreads over the whole register
        # (ternary_mlp at 200 MHz: the converter's i.ready -> this register, 1 level, 5.41 ns
        # of routing). The copies load alike, so they always agree; o.valid is the first.
        shown, flags = [], []
        for k, low in enumerate(range(0, width, CHUNK_BITS)):
            high = min(low + CHUNK_BITS, width)
            m.submodules[f"chunk_{k}"] = chunk = Module()
            bits, valid = Signal(high - low, name=f"shown_{k}"), Signal(name=f"shown_valid_{k}")
            with chunk.If(self.o.ready | ~valid):
                chunk.d.sync += [bits.eq(Mux(spare_free, payload[low:high], spare[low:high])),
                                 valid.eq(~spare_free | self.i.valid)]
            shown.append(bits)
            flags.append(valid)
        m.d.comb += [self.o.valid.eq(flags[0]), Value.cast(self.o.payload).eq(Cat(*shown))]
        with m.If(self.o.ready | ~flags[0]):
            m.d.sync += spare_free.eq(1)
        with m.Elif(self.i.valid):
            m.d.sync += spare_free.eq(0)
        return m
