"""A stream FIFO whose write-ready, level and read-valid are flip-flops."""

from amaranth.hdl import Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_int
from ._credit import CreditQueue

__all__ = ["StreamFIFO", "LUTRAM_DEPTH"]

#: the deepest FIFO kept in LUTRAM (deeper ones are block RAM)
LUTRAM_DEPTH = 64


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

    With ``registered_write`` the register is on the other side: the beat,
    its address and its valid bit load a register every cycle (no enable),
    which writes a LUTRAM of ``depth`` words a cycle later, and ``o.payload``
    is the LUTRAM's asynchronous read at the read pointer. The same flip-flops
    (one payload register), the same latency, and ``i.payload`` reaches a
    register only; for a producer whose output logic is deep (a width
    converter's read rotator), where the LUTRAM's write data would end that
    logic. A beat is shown only once written (``o.valid`` is next cycle's
    count of reserved words less the pending one), so the word on show is
    never the one being written. The composer picks it (``hwgen.network``).

    With ``block_ram`` (the default above ``LUTRAM_DEPTH`` beats) neither
    ``o.ready`` nor the output's logic reaches the block RAM: it reads every
    cycle, and a word is taken (the read pointer moves) on the memory's
    ``not_empty`` flag and the ``room`` flip-flop of a
    :class:`~._credit.CreditQueue` (registered room, eight words of LUTRAM)
    that the word fills, through a register loaded every cycle with no reset
    (the DP16KD's output register, :mod:`hwgen.outreg`). So ``o.ready``
    reaches only the queue's pointer and count, and ``o.payload`` is the
    queue's LUTRAM read, near the consumer. In attention_mini at 200 MHz the
    output register's read enable had been the end of the residual adder's
    ``a.ready`` and of MatMul's, the DP16KD 36 columns away (6.62 ns, 5.07 of
    it routing), and the RAM's slow clock-to-output in series with MatMul's
    LUTRAM writes. The cost is two cycles of latency (4) and the queue.

    Parameters
    ----------
    payload_shape : ShapeLike   e.g. ``ArrayLayout(unsigned(1), 32)``
    depth : int                 beats (at least 3 are built)
    registered_write : bool     the write registered and the read asynchronous (default
                                False); at most ``LUTRAM_DEPTH`` beats, as an asynchronous
                                read needs LUTRAM
    block_ram : bool or None    the read decoupled from ``o`` by a credit queue, for a block
                                RAM (default None: when ``depth`` exceeds ``LUTRAM_DEPTH``;
                                the composer also asks for it before a two-input unit);
                                not with ``registered_write``

    Members
    -------
    i : In(stream.Signature(payload_shape))
    o : Out(stream.Signature(payload_shape))

    Latency 2 cycles (input to output when empty; 4 with ``block_ram``); one
    beat per cycle.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "depth")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): width, LUTRAM bits (none above
        64 beats: block RAM), 1."""
        bits = Shape.cast(self.i.payload.shape()).width
        return "fifo", [bits, bits * -(-self.depth // 16) if self.depth <= LUTRAM_DEPTH else 0,
                        1]

    def __init__(self, payload_shape, *, depth, registered_write=False, block_ram=None):
        self._payload_shape = payload_shape
        self._depth = check_int("depth", depth, minimum=1)
        if not isinstance(registered_write, bool):
            raise TypeError(f"registered_write must be True or False, not {registered_write!r}")
        if registered_write and self.depth > LUTRAM_DEPTH:
            raise ValueError(f"registered_write needs a LUTRAM of at most {LUTRAM_DEPTH} beats "
                             f"(an asynchronous read), not depth={depth!r}")
        self._registered_write = registered_write
        if block_ram is None:
            block_ram = self.depth > LUTRAM_DEPTH and not registered_write
        if not isinstance(block_ram, bool):
            raise TypeError(f"block_ram must be True, False or None, not {block_ram!r}")
        if block_ram and registered_write:
            raise ValueError("block_ram reads a synchronous memory, registered_write an "
                             "asynchronous one: not both")
        self._block_ram = block_ram
        super().__init__({
            "i": In(stream.Signature(payload_shape)),
            "o": Out(stream.Signature(payload_shape)),
        })

    #: beats it holds as built (a memory of at least 2 words, so its address is never
    #: zero-width, which Verilator's lint rejects, plus the output register)
    depth = property(lambda self: max(self._depth, 3))
    registered_write = property(lambda self: self._registered_write)
    block_ram = property(lambda self: self._block_ram)
    #: cycles from a beat in to the beat out when empty: the credit queue's two registers
    #: (the read's own, the queue's) more with ``block_ram``
    latency = property(lambda self: 4 if self._block_ram else 2)
    #: ``i.ready`` is a flip-flop (hwgen.network)
    registered_ready = True

    @property
    def payload_levels(self):
        """LUT levels between the flip-flops and ``o.payload`` (hwgen.network): none from the
        output register, one through a LUTRAM's asynchronous read (``registered_write``, or
        the credit queue's ring with ``block_ram``)."""
        return int(self._registered_write or self._block_ram)

    @property
    def input_levels(self):
        """LUT levels from ``i.payload`` to a register (hwgen.network): not stated with
        ``registered_write`` (the beat goes to a register, so no register slice in front
        would shorten anything); else the beat is the LUTRAM's write data, no logic, but its
        wire and write setup count as two. At 200 MHz on an LFE5U-85F speed 8 a width
        converter's read rotator into the LUTRAM write took 4.71 ns with 2 LUT levels
        (tiny_bnn, seed 1), 5.14 ns with 3 (sfc_balanced, seed 2) and 4.84-5.22 ns with 4
        (odd_mlp, seeds 1-3), where the model counts 3 and 4 levels as 2.34 and 3.12 ns
        (budget 3.755). None (not stated) for block RAM, deeper than ``LUTRAM_DEPTH``."""
        if self._registered_write or self.depth > LUTRAM_DEPTH:
            return None
        return 2

    @property
    def ready_fanout(self):
        """Flip-flops ``o.ready`` reaches: the output register, the read pointer and flags
        (with ``registered_write``: the read pointer, the reserved count and both flags; with
        ``block_ram``: the credit queue's read pointer and count of eight slots)."""
        if self._block_ram:
            return 3 + 4
        if self._registered_write:
            return (self.depth - 1).bit_length() + self.depth.bit_length() + 2
        return Shape.cast(self._payload_shape).width + 4

    def stage_delay(self, model):
        """(ns, what, fix) by the delay model (hwgen.timing): the consumer's ``ready`` and the
        read into the output register's enable, or a block RAM's output into the next unit
        (with ``block_ram``: the read pointer and flags from the queue's room flag; the RAM's
        output goes to its own register; with ``registered_write``: the consumer's ``ready``
        and the read into the read pointer, count and flags)."""
        width = Shape.cast(self._payload_shape).width
        if self._block_ram:
            fanout = 2 * (self.depth - 1).bit_length() + 2     # pointer, level, flags
            return (model.stage(model.luts(1, fanout=fanout)),
                    "the read pointer and flags from the credit queue's room flag", "")
        if self._registered_write:
            return (model.stage(model.luts(2, fanout=self.ready_fanout)),
                    "the read pointer, count and flags from the consumer's ready", "")
        ns = model.stage(model.luts(2, fanout=width))
        if self.depth - 1 > 64:                       # deep enough for block RAM
            ns = max(ns, model.bram_clk_to_q + model.route() + model.setup)
        return ns, f"the read enable of a {width}-bit output register", ""

    def elaborate(self, platform):
        if self._registered_write:
            return self._elaborate_registered_write()
        m = Module()
        width = Shape.cast(self._payload_shape).width
        words = self.depth - 1
        # A read and a write meet at one address only when the FIFO is empty (the word read
        # is not used) or full (nothing is written), so the block RAM needs no collision
        # logic: Yosys's, a register and a LUT per bit after the DP16KD, would keep the
        # register after the read out of the RAM's output register.
        attrs = {"no_rw_check": 1} if self._block_ram else {}
        m.submodules.storage = storage = Memory(shape=width, depth=words, init=[], attrs=attrs)
        w_port = storage.write_port()
        r_port = storage.read_port(domain="sync")

        produce, consume = Signal(range(words)), Signal(range(words))
        level = Signal(range(words + 1))         # words in the memory (not the output register)
        not_full, not_empty = Signal(init=1), Signal()

        write = self.i.valid & not_full
        if self._block_ram:
            read = self._credit_read(m, r_port, not_empty)
        else:
            read = self._output_register(m, r_port, not_empty)
        m.d.comb += [
            self.i.ready.eq(not_full),
            w_port.addr.eq(produce), w_port.data.eq(Value.cast(self.i.payload)),
            w_port.en.eq(write),
            r_port.addr.eq(consume),
        ]
        _advance(m, produce, write, words)
        _advance(m, consume, read, words)
        # The flags are the tests of the next level, registered with it.
        with m.If(write & ~read):
            m.d.sync += [level.eq(level + 1), not_empty.eq(1), not_full.eq(level != words - 1)]
        with m.Elif(read & ~write):
            m.d.sync += [level.eq(level - 1), not_full.eq(1), not_empty.eq(level != 1)]
        return m

    def _output_register(self, m, r_port, not_empty):
        """``o`` is the read port's register; returns the read: a word moves there when there
        is one and the register is free or leaving."""
        out_valid = Signal()
        read = not_empty & (~out_valid | self.o.ready)
        m.d.comb += [r_port.en.eq(read),
                     Value.cast(self.o.payload).eq(r_port.data), self.o.valid.eq(out_valid)]
        with m.If(read):
            m.d.sync += out_valid.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += out_valid.eq(0)
        return read

    def _credit_read(self, m, r_port, not_empty):
        """``o`` is a credit queue's (``block_ram``); returns the read: a word leaves the
        memory when there is one and the queue has room for it and every word in flight. Its
        stages: the read port's register, a register with no reset loaded every cycle (the
        DP16KD's output register), the queue's ring. The read port reads every cycle (no
        enable: its word matters only the cycle after a read), so the consumer's credit
        reaches the read pointer, not the RAM."""
        m.submodules.queue = queue = CreditQueue(self._payload_shape, stages=3,
                                                 registered_room=True, lutram=True)
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        word = Signal(len(r_port.data), reset_less=True, name="read_reg")
        read = not_empty & queue.room
        m.d.sync += word.eq(r_port.data)
        m.d.comb += [r_port.en.eq(1), queue.accept.eq(read), Value.cast(queue.w_data).eq(word)]
        return read

    def _elaborate_registered_write(self):
        m = Module()
        width = Shape.cast(self._payload_shape).width
        words = self.depth
        m.submodules.storage = storage = Memory(shape=width, depth=words, init=[],
                                                attrs={"ram_style": "distributed"})
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")

        produce, consume = Signal(range(words)), Signal(range(words))
        # The beat taken this cycle, written next cycle (at the word before the write
        # pointer, which has moved past it): loaded every cycle, so nothing but the clock
        # reaches the payload register's enable.
        data, pending = Signal(width), Signal()
        # Words reserved: written, or pending. `i.ready` is its next-state test; `o.valid`
        # ("a word is written") the test of next cycle's reserved words less the pending
        # one, which is this cycle's reserved words less this cycle's read.
        reserved = Signal(range(words + 1))
        not_full, not_empty = Signal(init=1), Signal()

        write = self.i.valid & not_full
        read = not_empty & self.o.ready
        m.d.sync += [data.eq(Value.cast(self.i.payload)), pending.eq(write)]
        m.d.comb += [
            self.i.ready.eq(not_full),
            w_port.addr.eq(Mux(produce == 0, words - 1, produce - 1)),
            w_port.data.eq(data), w_port.en.eq(pending),
            r_port.addr.eq(consume),
            Value.cast(self.o.payload).eq(r_port.data),
            self.o.valid.eq(not_empty),
        ]
        _advance(m, produce, write, words)
        _advance(m, consume, read, words)
        with m.If(write & ~read):
            m.d.sync += [reserved.eq(reserved + 1), not_full.eq(reserved != words - 1)]
        with m.Elif(read & ~write):
            m.d.sync += [reserved.eq(reserved - 1), not_full.eq(1)]
        m.d.sync += not_empty.eq(Mux(read, reserved > 1, reserved != 0))
        return m


def _advance(m, pointer, enable, words):
    """Move ``pointer`` to the next of ``words`` words (wrapping) when ``enable``."""
    with m.If(enable):
        m.d.sync += pointer.eq(Mux(pointer == words - 1, 0, pointer + 1))
