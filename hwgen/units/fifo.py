"""A stream FIFO whose write-ready, level and read-valid are flip-flops."""

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_int

__all__ = ["StreamFIFO"]


class StreamFIFO(wiring.Component):
    """First-in first-out buffer of ``depth`` beats between two units.

    The composition inserts one where a consumer takes its input in bursts
    (an MVAU reads a whole vector, then computes its other output folds
    without reading) so the producer keeps running meanwhile.

    Storage is a ``Memory`` of ``depth - 1`` words (BRAM/LUTRAM, synchronous
    read) plus the output register the read port writes, like Amaranth's
    ``SyncFIFOBuffered``. For timing, every flag a handshake reads is a
    flip-flop holding its next-state test: ``i.ready`` (the memory is not
    full), the memory's level, and ``o.valid``. So ``i.ready`` never passes
    through a comparator, and ``i.valid`` only reaches the write pointer, the
    write enable and the flags.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 32)``
    depth : int                 beats (at least 3 are built)

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

    #: beats it holds as built (a memory of at least 2 words, so its address is never
    #: zero-width, which Verilator's lint rejects, plus the output register)
    depth = property(lambda self: max(self._depth, 3))
    latency = 2
    #: ``i.ready`` is a flip-flop (hwgen.network); ``o.ready`` reaches the read side:
    #: the output register (one payload), the read pointer and flags
    registered_ready = True
    #: ``o.payload`` is the output register: no logic after the flip-flops (hwgen.network)
    payload_levels = 0

    @property
    def ready_fanout(self):
        return Shape.cast(self._payload_shape).width + 4

    def stage_delay(self, model):
        """(ns, what, fix) by the delay model (hwgen.timing): the read enable of the output
        register, or a block RAM's output into the next unit."""
        width = Shape.cast(self._payload_shape).width
        ns = model.stage(model.luts(2, fanout=width))
        if self.depth - 1 > 64:                       # deep enough for block RAM
            ns = max(ns, model.bram_clk_to_q + model.route() + model.setup)
        return ns, f"the read enable of a {width}-bit output register", ""

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        words = self.depth - 1
        m.submodules.storage = storage = Memory(shape=width, depth=words, init=[])
        w_port = storage.write_port()
        r_port = storage.read_port(domain="sync")

        produce, consume = Signal(range(words)), Signal(range(words))
        level = Signal(range(words + 1))         # words in the memory (not the output register)
        not_full, not_empty = Signal(init=1), Signal()
        out_valid = Signal()

        write = self.i.valid & not_full
        # Move a word to the output register when there is one and the register is free.
        read = not_empty & (~out_valid | self.o.ready)
        m.d.comb += [
            self.i.ready.eq(not_full),
            w_port.addr.eq(produce), w_port.data.eq(Value.cast(self.i.payload)),
            w_port.en.eq(write),
            r_port.addr.eq(consume), r_port.en.eq(read),
            Value.cast(self.o.payload).eq(r_port.data),
            self.o.valid.eq(out_valid),
        ]
        with m.If(write):
            m.d.sync += produce.eq(Mux(produce == words - 1, 0, produce + 1))
        with m.If(read):
            m.d.sync += consume.eq(Mux(consume == words - 1, 0, consume + 1))
        with m.If(read):
            m.d.sync += out_valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += out_valid.eq(0)
        # The flags are the tests of the next level, registered with it.
        with m.If(write & ~read):
            m.d.sync += [level.eq(level + 1), not_empty.eq(1), not_full.eq(level != words - 1)]
        with m.Elif(read & ~write):
            m.d.sync += [level.eq(level - 1), not_full.eq(1), not_empty.eq(level != 1)]
        return m
