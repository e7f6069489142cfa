"""Credit flow control for pipelines that never stall (Thresholding, Requant, AddStreams, MVAUs).

A unit built on :class:`CreditQueue` advances every pipeline register every
cycle, with no enable at all: flow control happens at the input, which
takes a beat only when the queue at the output has a free slot for it and
for every beat already in flight. So the output's ``ready`` reaches only the
queue's read pointer and count (a few flip-flops), never the datapath, and
the unit's ``i.ready`` is computed from its own flip-flops only, not from
anything downstream. This is how the handshake is kept off the critical
path by construction (``hwgen.network`` relies on both properties).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_payload_shape

__all__ = ["CreditQueue", "credit_input"]


class CreditQueue(wiring.Component):
    """Output queue of a ``stages``-deep pipeline that never stalls; says when to accept.

    The unit around it drives ``accept`` high in the cycle an input beat
    enters its pipeline (the unit's ``i.ready`` is ``room``), and drives
    ``w_data`` with the beat's result in the cycle it leaves the pipeline's
    last register stage, ``stages - 1`` cycles later (the queue tracks which
    cycles those are, so invalid cycles of the free-running pipeline are
    ignored). The queue holds ``stages + 1`` results (up to 4, or in LUTRAM
    any number, rounded up to a power of two, see :attr:`slots`) in a ring of
    registers or of LUTRAM words: at full rate one result is on show while ``stages`` more are in
    flight.

    ``room`` is ``stored + in_flight < slots``, a function of the
    queue's own flip-flops (a lookup table over the stored count, the newest
    valid bit and a register counting the older ones; with
    ``registered_room`` a flip-flop); ``o.valid`` is a flip-flop holding
    ``stored != 0``; ``o.payload`` is the slot under the read pointer. Writes go to the slot after the last
    stored one, so the slot on show never changes while it is stalled, and
    ``o.ready`` moves only the read pointer and the count. Every state is
    consistent again ``stages`` cycles after any state, which makes the
    stream rules provable by induction.

    The queue adds no cycle of latency, and the read multiplexer (a LUT per
    payload bit up to 4 slots) is what that costs: an output register fed
    from one source only (a chain of registers a result walks) saves it but
    adds a cycle per register, and the digits ViT lost rate to that latency
    (261 -> 267 cycles per image, 4 of the 6 at the scores MatMul, whose ring
    with 8 delay registers in front lost the same); such a register,
    refilled only the cycle after a departure, also passes one result per two
    cycles at best (``tests/units/test_credit.py``).

    Parameters
    ----------
    payload_shape : ShapeLike   the output payload, e.g. ``ArrayLayout(unsigned(1), 16)``
    stages : int                register stages from accepting an input to the queue,
                                counting the queue's own register (at least 1)
    interval : int              fewest cycles between two ``accept`` (default 1): a
                                pipeline that makes one result per ``interval`` input
                                slices (an MVAU's SF) needs fewer slots for full rate
    registered_room : bool      ``room`` straight from a flip-flop (default False): it is
                                computed a cycle ahead, counting that cycle's ``accept`` but
                                not its departure, so a result leaving frees its slot a cycle
                                later and the queue holds one beat more in flight (:attr:`slots`
                                counts ``stages + 1``). For units whose ``accept`` fans out
                                to many enables (the folded engine's input buffer and slice)
    lutram : bool               keep the ring in a memory with an asynchronous read (LUTRAM:
                                Xilinx RAM32M, ECP5 TRELLIS_DPR16X4) rather than registers read
                                through a multiplexer (default False): the same cycles and
                                ports, fewer LUTs for a wide payload of three or more slots
    gated_input : bool          every input beat waits for ``room``, not only the one in
                                ``interval`` that makes a result (default False: an MVAU's
                                other slices go on). Then ``room`` must not fall while a
                                result is in flight at full rate, which takes one slot more
                                when ``interval`` exceeds 1 (:attr:`slots`; LabelSelect,
                                whose ``i.ready`` is ``room`` for every beat of a vector)

    Members
    -------
    accept : In(1)              an input beat enters the pipeline this cycle
    room : Out(1)               a beat may be accepted this cycle
    w_data : In(payload_shape)  the pipeline's result, ``stages - 1`` cycles after ``accept``
    o : Out(stream.Signature(payload_shape))

    Latency ``stages`` cycles from ``accept`` to ``o.valid``; one beat per
    cycle while ``o`` does not stall.
    """

    def __init__(self, payload_shape, *, stages, interval=1, registered_room=False,
                 lutram=False, gated_input=False):
        self._payload_shape = check_payload_shape(payload_shape)
        self._stages = check_int("stages", stages, minimum=1)
        self._interval = check_int("interval", interval, minimum=1)
        if not isinstance(registered_room, bool):
            raise TypeError(f"registered_room must be True or False, not {registered_room!r}")
        self._registered_room = registered_room
        if not isinstance(lutram, bool):
            raise TypeError(f"lutram must be True or False, not {lutram!r}")
        self._lutram = lutram
        if not isinstance(gated_input, bool):
            raise TypeError(f"gated_input must be True or False, not {gated_input!r}")
        self._gated_input = gated_input
        super().__init__({
            "accept": In(1),
            "room": Out(1),
            "w_data": In(payload_shape),
            "o": Out(stream.Signature(payload_shape)),
        })

    stages = property(lambda self: self._stages)
    interval = property(lambda self: self._interval)
    registered_room = property(lambda self: self._registered_room)
    gated_input = property(lambda self: self._gated_input)
    #: the ring is a LUTRAM memory (``lutram`` with more than one slot)
    lutram = property(lambda self: self._lutram and self.slots > 1)

    @property
    def slots(self):
        """Results held: one on show and those in flight at full rate (``stages //
        interval``; ``stages + 1`` with ``registered_room``). With a result per cycle
        (``interval`` 1), at least 2 and up to 4 rounded up to a power of two (the pointers
        then wrap by themselves); in LUTRAM (``lutram``, more than one slot) always rounded
        up to a power of two, as a LUTRAM primitive holds 16 words whatever is used of it
        and the write address is then the read pointer plus the count in one short adder
        (a wrap-around compare on both took attention_mini's v Requant queue, 9 slots then
        in registers, 10 levels from its read pointer into a slot at 200 MHz); else exact
        (a wrap-around compare costs less than the payload registers of the spare slots,
        and an MVAU's results are whole accumulator words): one slot
        when a result has left before the next is due (an MVAU whose SF exceeds its
        pipeline depth). With ``gated_input`` and a registered ``room``, ``stages //
        interval + 2``: a result is counted from the cycle after its ``accept`` to the cycle it
        leaves, ``stages`` cycles at full rate, and ``room`` for the next beat is
        decided a cycle ahead, so that many earlier results plus the newest must leave a slot
        free, or the beats between two results would wait."""
        if self._gated_input and self._registered_room:
            needed = self._stages // self._interval + 2
        else:
            needed = (self._stages + self._registered_room) // self._interval + 1
        if self._interval == 1:
            needed = max(needed, 2)
        if (self._lutram and needed > 1) or (needed <= 4 and self._interval == 1):
            return 1 << (needed - 1).bit_length()
        return needed

    def elaborate(self, platform):
        m = Module()
        slots = self.slots
        width = Shape.cast(self._payload_shape).width

        # Beats in flight: one valid bit per pipeline register before the queue.
        in_flight = [Signal(name=f"in_flight_{k}") for k in range(self._stages - 1)]
        m.d.sync += [bit.eq(prev) for prev, bit in zip([self.accept] + in_flight, in_flight)]
        arriving = in_flight[-1] if in_flight else self.accept

        pointer = Signal(range(slots), name="read_at") if slots > 1 else None
        stored = Signal(range(slots + 1))
        leaving = self.o.valid & self.o.ready
        held = [stored, *self._in_flight_count(m, in_flight)]
        if self._registered_room:
            # Next cycle's count is at most this one's plus this cycle's accept (a result
            # leaving now is counted until the cycle after); recomputed every cycle. The
            # late ``accept`` only picks between two flags of the queue's own flip-flops,
            # kept as wires so that ABC cannot fold ``accept`` into their tables (tiny_bnn's
            # fc1 at 200 MHz: room_reg -> issue -> accept -> 3 LUTs -> room_reg, 5.58 ns).
            room = Signal(init=1, name="room_reg")
            fits = [Signal(name=f"room_if_{name}", attrs={"keep": 1})
                    for name in ("accept", "idle")]
            if len(Cat(*held)) > _LUT_INPUTS:
                below = self._held_below_a_cycle_late(m, held, in_flight, leaving)
            else:
                def below(limit):
                    return _sum_below(held, limit)
            m.d.comb += [fits[0].eq(below(slots - 1)), fits[1].eq(below(slots))]
            m.d.sync += room.eq(Mux(self.accept, *fits))
            m.d.comb += self.room.eq(room)
        else:
            m.d.comb += self.room.eq(_sum_below(held, slots))
        if slots == 1:
            # One slot: nothing to point at (and no zero-width pointer in the Verilog).
            read_at = Const(0, 1)

            def wrap(value):
                return Const(0, 1)
        elif slots & (slots - 1):
            # Not a power of two: every use reads the pointer through the same wrap, so a
            # pointer value past the last slot (never reached) still names one slot only.
            read_at = Mux(pointer >= slots, 0, pointer)

            def wrap(value):
                return Mux(value >= slots, value - slots, value)
        else:
            read_at = pointer

            def wrap(value):                 # the pointers wrap by truncation
                return value

        # The write position is the read pointer plus the count, not a register of its own.
        write_at = wrap(read_at + stored)[:len(read_at) if pointer is None else len(pointer)]
        if self.lutram:
            m.submodules.ring = ring = Memory(shape=width, depth=slots, init=[],
                                              attrs={"ram_style": "distributed"})
            write, read = ring.write_port(), ring.read_port(domain="comb")
            m.d.comb += [write.addr.eq(write_at), write.data.eq(Value.cast(self.w_data)),
                         write.en.eq(arriving), read.addr.eq(read_at),
                         Value.cast(self.o.payload).eq(read.data)]
        else:
            ring = [Signal(width, name=f"slot_{k}") for k in range(slots)]
            for k, slot in enumerate(ring):
                with m.If(arriving & (write_at == k)):
                    m.d.sync += slot.eq(Value.cast(self.w_data))
            m.d.comb += Value.cast(self.o.payload).eq(_pick(ring, read_at))

        m.d.comb += self.o.valid.eq(self._stored_any(m, stored, arriving, leaving))
        if slots > 1:
            with m.If(leaving):
                m.d.sync += pointer.eq(wrap(read_at + 1))
        m.d.sync += stored.eq(stored + arriving - leaving)
        return m

    @staticmethod
    def _stored_any(m, stored, arriving, leaving):
        """``stored != 0`` as a flip-flop: the test of next cycle's count, taken from this
        cycle's count and whether a result arrives and one leaves (+1, -1 or 0, the wrap of
        ``stored``'s width included), so it is registered with the count and recomputed from
        it every cycle (no state of its own that could drift from it). ``o.valid`` is then no
        LUT in front of the consumer's issue logic (int8_mlp at 200 MHz: fc1's ``stored`` ->
        the next converter's room flag, 5 levels, 5.69 ns)."""
        top = (1 << len(stored)) - 1
        valid = Signal(name="stored_any")
        m.d.sync += valid.eq(Mux(arriving == leaving, stored != 0,
                                 Mux(arriving, stored != top, stored != 1)))
        return valid

    def _held_below_a_cycle_late(self, m, held, in_flight, leaving):
        """``limit -> held < limit`` (the results held now, stored or in flight) for ``limit``
        in ``slots - 1 .. slots``, from flip-flops: last cycle's count compared with the four
        limits it may need (one register each, each the table :func:`_sum_below` builds),
        and whether last cycle accepted a beat and let a result leave, which move the count
        by +1 / -1 / 0 and so pick one of those flags. For a queue whose stored count and
        in-flight bits are more than a LUT6's inputs: their table is then several LUT levels
        in front of ``room_reg``'s pick (sfc_balanced's LabelSelect at 200 MHz:
        ``in_flight_0 -> room_reg``, 5 levels, 5.11 ns), and here it ends in a register of its
        own. Every register is recomputed from the queue's other state each cycle, so none
        can drift from it (the stream rules stay provable by induction); each flag starts as
        the empty queue's."""
        slots = self.slots
        flags = {}
        for limit in range(slots - 2, slots + 2):
            flags[limit] = Signal(name=f"held_below_{limit - slots + 2}", init=limit > 0)
            m.d.sync += flags[limit].eq(_sum_below(held, limit))
        if in_flight:
            accepted = in_flight[0]
        else:
            accepted = Signal(name="accepted")
            m.d.sync += accepted.eq(self.accept)
        left = Signal(name="left")
        m.d.sync += left.eq(leaving)

        def below(limit):                    # held - accepted + left was below each flag's limit
            return Mux(accepted == left, flags[limit],
                       Mux(accepted, flags[limit - 1], flags[limit + 1]))
        return below

    @staticmethod
    def _in_flight_count(m, in_flight):
        """The number of set ``in_flight`` bits, as the newest bit plus a register holding the
        count of the others: they are last cycle's bits but the oldest, so the register is
        recounted from the valid bits every cycle (no state of its own that could drift) and
        ``room`` is a small function of flip-flops, not an adder tree over a deep pipeline's
        valid bits in series with every input enable (MatMul's 8 stages: 15 levels)."""
        if len(in_flight) <= 2:
            return in_flight
        older = Signal(range(len(in_flight)), name="in_flight_older")
        m.d.sync += older.eq(sum(in_flight[:-1]))
        return [in_flight[0], older]


#: inputs of the widest function ECP5 builds in one slice pair (LUT4s and the PFUMX / L6MUX)
_LUT_INPUTS = 6


def _sum_below(parts, limit):
    """``sum(parts) < limit`` for a few small unsigned counts, as one lookup table over their
    bits (a LUT or two), not adders and a comparator on carry chains."""
    parts = [Value.cast(part) for part in parts]
    bits = Cat(*parts)
    if len(bits) > 10:                           # too wide for a table: plain arithmetic
        return sum(parts) < limit
    table = 0
    for index in range(1 << len(bits)):
        total, at = 0, 0
        for part in parts:
            total += index >> at & ((1 << len(part)) - 1)
            at += len(part)
        table |= (total < limit) << index
    return Const(table, 1 << len(bits)).bit_select(bits, 1)


def _pick(values, index):
    """``values[index]`` as a balanced tree of 2:1 multiplexers on the bits of ``index``."""
    level = list(values)
    for bit in range(max(len(values) - 1, 0).bit_length()):
        level = [Mux(index[bit], level[k + 1], level[k]) if k + 1 < len(level) else level[k]
                 for k in range(0, len(level), 2)]
    return level[0]


def credit_input(m, unit, *, lutram=False):
    """The flow control of a one-input unit whose pipeline never stalls: a :class:`CreditQueue`
    of ``unit.latency`` stages (its ring in LUTRAM with ``lutram``) drives ``unit.o``, and
    ``unit.i`` is ready when the queue has room for a beat and everything in flight. Returns
    the queue (the unit writes its last stage into ``queue.w_data``) and ``accept``, true in
    a cycle a beat is taken."""
    m.submodules.queue = queue = CreditQueue(unit.o.payload.shape(), stages=unit.latency,
                                             lutram=lutram)
    wiring.connect(m, wiring.flipped(unit.o), queue.o)
    accept = unit.i.valid & queue.room
    m.d.comb += [unit.i.ready.eq(queue.room), queue.accept.eq(accept)]
    return queue, accept
