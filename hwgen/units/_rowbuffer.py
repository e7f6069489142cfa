"""Row pipelines of the row-wise I-ViT units (Shiftmax, ShiftGELU, LayerNorm).

A row unit needs a value of the whole row (its maximum, sum or variance)
before it can finish any element, so it passes over a row more than once.
Here each pass is its own stream stage and the stages run on different rows
at once, each taking a beat per cycle:

* :class:`RowReduce` passes the beats on and, at a row's last beat, emits the
  row's reduced value on a second stream;
* a :class:`RowQueue` (the row buffer) holds the beats
  while the value is reduced and turned into what the next pass needs (a
  division, a square root: per-row scalar units, :class:`RoundRobin` copies
  of them when one copy is slower than a row);
* :class:`RowApply` joins each beat with its row's value and computes the
  next pass in a register pipeline.

A row buffer as deep as a row plus the latency of the per-row path between
its two ends keeps the producer running while the consumer waits for the
row's value (:func:`row_buffer_depth`).
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, Value, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


__all__ = ["RoundRobin", "RowApply", "RowQueue", "RowReduce", "VALUE_FIFO_DEPTH", "add", "fold_max",
           "lanes_of", "larger", "per_row", "row_buffer_depth", "value_fifo"]

#: per-row values waiting between stages (a few rows' worth absorbs the per-row jitter)
VALUE_FIFO_DEPTH = 4
#: cycles of slack a row buffer adds to the per-row latency it must cover
_SLACK = 8
#: LUT RAM cells per read address in RowApply's results FIFO (see RowQueue)
RESULTS_LUTRAM_FANOUT = 16


def row_buffer_depth(folds, latency):
    """Beats a row buffer holds: one row plus ``latency`` cycles of the next, plus slack."""
    return folds + latency + _SLACK


def value_fifo(shape):
    """A FIFO of per-row values between two per-row units."""
    return RowQueue(shape, depth=VALUE_FIFO_DEPTH)


class RowQueue(wiring.Component):
    """A FIFO of ``depth`` beats whose handshake flags are flip-flops (the row buffers).

    Storage is a ``Memory`` of ``depth - 1`` words (synchronous read, LUT RAM)
    and the output register its read port fills. The writer and the reader
    each keep their own count (free words, stored words) with registered
    "none left" flags, and hear of the other side's moves a cycle late, so
    ``i.valid`` reaches only the write side and ``o.ready`` only the read
    side, each through one or two LUTs: the row pipelines hand their late
    handshakes to these. (One shared level counter, updated by both
    handshakes, put ``o.ready`` 3 LUTs and a 1.7 ns route (the output
    register's enable) before the level: LayerNorm I-ViT at ``pe = 4``, seed
    2, 176 MHz. Amaranth's ``SyncFIFOBuffered``, under
    :class:`~hwgen.units.fifo.StreamFIFO`, compares its level after the
    handshakes: 4 LUT levels after ``o.ready``, which limited Shiftmax to
    193 MHz.) A word is readable in the cycle after its write (the reader
    adds the registered ``wrote`` to its count); a freed word is writable 2
    cycles after its read, so the full rate needs ``depth >= 4`` when both
    sides stream. The row pipelines' producers rely on that bound: they
    write on credits returned at ``o`` and do not look at ``i.ready``.
    A queue deeper than ``SEGMENT_WORDS`` keeps it too (see ``elaborate``).

    ``lutram_fanout`` (optional): at most this many LUT RAM cells
    (TRELLIS_DPR16X4: 16 words of 4 bits) per read address. A wider or
    deeper queue is split into slices of payload bits side by side, each a
    queue with its own pointers (the same handshakes reach all of them, so
    their flags agree; ``i.ready`` and ``o.valid`` are the first slice's).
    One address register fanned out to 48 cells (ShiftGELU's 64-bit results,
    3 banks) was ShiftGELU's critical path at ``simd = 4``: 4.1 ns of routing.

    ``staged_write`` (default ``False``): the write to the LUT RAM waits a
    cycle in registers (enable, address, data), so the RAM cells' write
    enables are a LUT of flip-flops instead of the tail of ``i.valid``; a
    word is readable a cycle later (latency 3; the full rate needs
    ``depth >= 5``). A chain of segments stages the writes into its first
    segment: in LayerNorm I-ViT at ``pe = 4``, seed 2, 199.4 MHz, the row
    reduction's valid flip-flop went through 2 LUTs and 4.0 ns of routing
    to the write enables of the 54 cells of the row buffer's first segment.

    Members: ``i``, ``o`` streams of ``payload_shape``. Latency 2 cycles (3
    with ``staged_write``).
    """

    latency = 2
    #: words of one LUT RAM segment: its read multiplexer over 8 banks of 16 words stays
    #: within 200 MHz; 16 banks (LayerNorm ivit's 243-beat buffer) held it to 187 MHz
    SEGMENT_WORDS = 128
    #: cycles from a read at ``o`` to the write it makes room for (``i.ready`` high again)
    FREE_LAG = 2

    def __init__(self, payload_shape, *, depth, lutram_fanout=None, staged_write=False):
        if not isinstance(staged_write, bool):
            raise TypeError(f"staged_write must be a bool, not {staged_write!r}")
        self._payload_shape, self._depth = payload_shape, max(depth, 3)
        self._lutram_fanout = lutram_fanout
        self._staged_write = staged_write
        super().__init__({"i": In(stream.Signature(payload_shape)),
                          "o": Out(stream.Signature(payload_shape))})

    depth = property(lambda self: self._depth)

    def _segment_sizes(self, words):
        """``(count, sizes)``: the depths of a chain's segments, each of at most
        ``SEGMENT_WORDS`` words, summing to ``depth`` plus ``FREE_LAG`` per extra segment."""
        count = -(-words // self.SEGMENT_WORDS)
        while -(-(self._depth + self.FREE_LAG * (count - 1)) // count) - 1 > self.SEGMENT_WORDS:
            count += 1
        total = self._depth + self.FREE_LAG * (count - 1)
        return count, [total // count + (k < total % count) for k in range(count)]

    def _slices(self):
        """Payload bits of each slice: as many slices as ``lutram_fanout`` asks, bits spread evenly."""
        width = Shape.cast(self._payload_shape).width
        if self._lutram_fanout is None:
            return [width]
        banks = -(-min(self._depth - 1, self.SEGMENT_WORDS) // 16)
        count = min(-(-banks * -(-width // 4) // self._lutram_fanout), -(-width // 4))
        return [width // count + (k < width % count) for k in range(count)]

    def elaborate(self, platform):
        m = Module()
        words = self._depth - 1
        slices = self._slices()
        if len(slices) > 1:
            flat_i, flat_o = Value.cast(self.i.payload), Value.cast(self.o.payload)
            low = 0
            for k, bits in enumerate(slices):
                m.submodules[f"slice_{k}"] = part = RowQueue(unsigned(bits), depth=self._depth,
                                                             staged_write=self._staged_write)
                m.d.comb += [part.i.valid.eq(self.i.valid), part.i.payload.eq(flat_i[low:low + bits]),
                             part.o.ready.eq(self.o.ready), flat_o[low:low + bits].eq(part.o.payload)]
                if k == 0:
                    m.d.comb += [self.i.ready.eq(part.i.ready), self.o.valid.eq(part.o.valid)]
                low += bits
            return m
        if words > self.SEGMENT_WORDS:
            # Deeper: a chain of segments (each with its own output register). The chain's
            # write-to-read latency grows by 2 cycles per extra segment, which the row
            # buffers' depths leave room for (row_buffer_depth's slack). A place freed at the
            # chain's output also reaches the first segment 2 cycles per extra segment late,
            # while the writers (credits) count it free after 2: each extra segment holds
            # FREE_LAG more places, for the holes on their way back. The first segment
            # stages its writes (a cycle more from write to read, which the same slack
            # covers): the chain's producer is a row unit's pipeline, whose last valid
            # flip-flop would otherwise drive every write enable of the segment.
            count, sizes = self._segment_sizes(words)
            segments = [RowQueue(self._payload_shape, depth=size,
                                 staged_write=self._staged_write or k == 0)
                        for k, size in enumerate(sizes)]
            for k, segment in enumerate(segments):
                m.submodules[f"segment_{k}"] = segment
            wiring.connect(m, wiring.flipped(self.i), segments[0].i)
            for a, b in zip(segments, segments[1:]):
                wiring.connect(m, a.o, b.i)
            wiring.connect(m, segments[-1].o, wiring.flipped(self.o))
            return m
        # LUT RAM even when deep: Yosys maps block RAM without its output register, whose
        # 4.3 ns clock-to-output alone leaves no room for 200 MHz.
        m.submodules.storage = storage = Memory(shape=Shape.cast(self._payload_shape).width,
                                                depth=words, init=[],
                                                attrs={"ram_style": "distributed"})
        w_port, r_port = storage.write_port(), storage.read_port(domain="sync")
        produce, consume = Signal(range(words)), Signal(range(words))
        out_valid = Signal()
        # Each side counts the words it may use and hears of the other side's moves a cycle
        # late (``wrote``, ``freed``: registers), so a handshake reaches only its own side's
        # counter and flags: no path from ``o.ready`` to ``i.ready`` or back. The reader may
        # take the word written in the cycle before (``wrote``: one more than its count).
        write, read, wrote, freed = Signal(), Signal(), Signal(), Signal()
        full, _ = _credit_flags(m, "space", words, take=write, give=freed)
        empty, _ = _credit_flags(m, "stored", words, init=0, take=read, give=wrote)
        # ``read`` is one LUT of o.ready and three flip-flops. (An output register loading
        # whenever it was emptied, garbage included, left its enable to the mapper to share
        # with ``read``: one LUT more after o.ready, LayerNorm exact pe = 4 at 191.5 MHz.)
        w_en, w_addr, w_data = write, produce, Value.cast(self.i.payload)
        if self._staged_write:
            # The RAM is written a cycle after the handshake, and the reader hears of it a
            # cycle after that. A freed word is still writable FREE_LAG cycles after its
            # read: ``full`` counts places, not RAM writes.
            w_en = Signal(name="staged_en")
            w_addr = Signal.like(produce, name="staged_addr", reset_less=True)
            w_data = Signal(len(w_data), name="staged_data", reset_less=True)
            m.d.sync += [w_en.eq(write), w_addr.eq(produce), w_data.eq(Value.cast(self.i.payload))]
        m.d.comb += [write.eq(self.i.valid & ~full),
                     read.eq((~empty | wrote) & (~out_valid | self.o.ready)),
                     self.i.ready.eq(~full), self.o.valid.eq(out_valid),
                     w_port.addr.eq(w_addr), w_port.data.eq(w_data),
                     w_port.en.eq(w_en), r_port.addr.eq(consume), r_port.en.eq(read),
                     Value.cast(self.o.payload).eq(r_port.data)]
        m.d.sync += [wrote.eq(w_en), freed.eq(read)]
        with m.If(write):
            m.d.sync += produce.eq(Mux(produce == words - 1, 0, produce + 1))
        with m.If(read):
            m.d.sync += [consume.eq(Mux(consume == words - 1, 0, consume + 1)), out_valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += out_valid.eq(0)
        return m


class RowReduce(wiring.Component):
    """Buffers the beats of rows of ``folds`` beats and reduces each row to one value.

    ``lanes(beat)`` lists the values of a beat to reduce; ``combine(a, b)``
    reduces them in a tree with a register after each level; ``fold(running,
    part, first)`` adds a beat's reduced part to the row's value so far
    (``first``: the beat starts a row, ``running`` is stale). ``keep(beat)``
    (default: all of it) is what the row buffer stores of each beat.

    The row buffer (``depth`` beats, plus the pipeline's) and the value FIFO
    (:data:`VALUE_FIFO_DEPTH` rows) are inside, so the pipeline never stalls:
    a beat enters only with a credit for its place in the buffer (and, for a
    row's last beat, one for the row's value); credits come back as ``o`` and
    ``value`` are read. ``i.ready`` is a flip-flop (the credit test computed
    for the next cycle), and ``o.ready``/``value.ready`` reach only the
    FIFOs. (``i.ready`` as the test of this cycle's credit flags and row
    position, 2 LUTs, routed into the producer's output FIFO held LayerNorm
    I-ViT at ``simd = 1`` to 193 MHz: row buffer of ``y`` -> ``centre``'s
    results, 4 levels, 4.1 ns of routing.)

    ``staged_write`` (default ``False``): the row buffer stages its writes
    (:class:`RowQueue`'s ``staged_write``, one place more for the cycle a
    beat waits), so its LUT RAM write enables are a flip-flop rather than a
    LUT of the pipeline's last valid flag and the buffer's ``full``: in
    Shiftmax's ``row_sum`` inside attention_mini at 200 MHz that LUT and its
    net to the cells' write enables failed by 0.55 ns.

    Members: ``i`` (beats in), ``o`` (the kept beats, buffered), ``value``
    (one per row, buffered). A row's value is readable :attr:`latency` + 3
    cycles after its last beat is taken.
    """

    def __init__(self, *, beat_shape, value_shape, folds, lanes, combine, fold, depth,
                 keep=None, kept_shape=None, staged_write=False):
        if not isinstance(staged_write, bool):
            raise TypeError(f"staged_write must be a bool, not {staged_write!r}")
        self._staged_write = staged_write
        self._folds, self._lanes, self._combine, self._fold = folds, lanes, combine, fold
        self._value_shape, self._depth = value_shape, depth
        self._keep = keep if keep is not None else (lambda beat: beat)
        self._kept_shape = kept_shape if kept_shape is not None else beat_shape
        self._count = len(lanes(Signal(beat_shape)))
        super().__init__({
            "i": In(stream.Signature(beat_shape)),
            "o": Out(stream.Signature(self._kept_shape)),
            "value": Out(stream.Signature(value_shape)),
        })

    @property
    def latency(self):
        """Register stages before the buffers: the beat's lanes, then each tree level."""
        return 1 + (self._count - 1).bit_length()

    def elaborate(self, platform):
        m = Module()
        # Credits cover the pipeline, the buffer's write-to-read latency and their return.
        # A credit returned by a read reaches the buffer's input 1 + latency cycles later
        # (registered ``ready``, then the pipeline), no sooner than RowQueue.FREE_LAG: the
        # freed place is writable by then, so the buffer never refuses a beat.
        # A staged write holds each beat a cycle more before it is readable: one place more.
        slack = self.latency + RowQueue.latency + 3 + self._staged_write
        m.submodules.buffer = buffer = RowQueue(self._kept_shape, depth=self._depth + slack,
                                                staged_write=self._staged_write)
        m.submodules.values = values = RowQueue(self._value_shape,
                                                  depth=VALUE_FIFO_DEPTH + slack)
        fire = Signal()
        position, first, last, last_next = _row_position(m, self._folds, fire)
        beat_zero, beat_zero_next = _credit_flags(m, "beat", buffer.depth, take=fire,
                                                  give=buffer.o.valid & buffer.o.ready)
        value_zero, value_zero_next = _credit_flags(m, "value", values.depth, take=fire & last,
                                                    give=values.o.valid & values.o.ready)
        # ready = a credit for the beat (and for the row's value at its last beat), registered:
        # the same test on the flags' next values.
        ready = Signal(init=(buffer.depth > 0) & ((values.depth > 0) | (self._folds > 1)))
        m.d.sync += ready.eq(~beat_zero_next & (~value_zero_next | ~last_next))
        m.d.comb += [self.i.ready.eq(ready), fire.eq(self.i.valid & ready)]

        # The beat's lanes, then a tree with a register after each level. Only the valid
        # flags are reset: the beat, its row flags and the parts are read behind them.
        valid, beat, flags = fire, self._keep(self.i.payload), Cat(first, last)
        parts = self._lanes(self.i.payload)
        level = 0
        while True:
            regs = [Signal(part.shape(), name=f"part_{level}_{k}", reset_less=True)
                    for k, part in enumerate(parts)]
            valid_r = Signal(name=f"valid_{level}")
            beat_r = Signal.like(beat, name=f"beat_{level}", reset_less=True)
            flags_r = Signal(2, name=f"flags_{level}", reset_less=True)
            m.d.sync += [valid_r.eq(valid), beat_r.eq(beat), flags_r.eq(flags),
                         *(r.eq(part) for r, part in zip(regs, parts))]
            valid, beat, flags, parts, level = valid_r, beat_r, flags_r, regs, level + 1
            if len(parts) == 1:
                break
            parts = [self._combine(*parts[k:k + 2]) if k + 1 < len(parts) else parts[k]
                     for k in range(0, len(parts), 2)]

        # The fold: the running value of the row; after a row's last beat it is the row's
        # value, written to the value FIFO from the register a cycle later. A row's first
        # beat does not read it (``fold``'s ``first``), so it needs no reset.
        running = Signal(self._value_shape, reset_less=True)
        with m.If(valid):
            m.d.sync += running.eq(self._fold(running, parts[0], flags[0]))
        row_done = Signal()
        m.d.sync += row_done.eq(valid & flags[1])
        m.d.comb += [buffer.i.valid.eq(valid), buffer.i.payload.eq(beat),
                     values.i.valid.eq(row_done), values.i.payload.eq(running)]
        wiring.connect(m, buffer.o, wiring.flipped(self.o))
        wiring.connect(m, values.o, wiring.flipped(self.value))
        return m


def _credit_flags(m, name, total, *, take, give, init=None):
    """A credit counter of at most ``total``, starting at ``init`` (default ``total``);
    returns ``(zero, zero_next)``: the register "no credit left" and its value for the
    next cycle.

    ``take`` arrives late in the cycle (it is a handshake), so the flags for
    the next cycle are picked by ``take``/``give`` among values computed from
    the counter alone: no carry chain or compare after ``take``.
    """
    init = total if init is None else init
    count = Signal(range(total + 1), init=init, name=f"{name}_credits")
    zero = Signal(init=init == 0, name=f"{name}_credits_zero")
    one = Signal(init=init == 1, name=f"{name}_credits_one")
    down, up = take & ~give, give & ~take
    with m.If(down):
        m.d.sync += [count.eq(count - 1), one.eq(count == 2)]
    with m.Elif(up):
        m.d.sync += [count.eq(count + 1), one.eq(zero)]
    zero_next = Mux(down, one, Mux(up, 0, zero))
    m.d.sync += zero.eq(zero_next)
    return zero, zero_next


def _row_position(m, folds, fire):
    """``(position, first, last, last_next)`` of the next beat of a row: registers that move
    on ``fire``, and ``last``'s value for the next cycle."""
    position = Signal(range(folds))
    first = Signal(init=1)
    last = Signal(init=folds == 1)
    with m.If(fire):
        m.d.sync += [position.eq(Mux(last, 0, position + 1)), first.eq(last)]
    last_next = Mux(fire, Mux(last, folds == 1, position == folds - 2), last)
    m.d.sync += last.eq(last_next)
    return position, first, last, last_next


class RowApply(wiring.Component):
    """Joins each beat with its row's value: ``o = f(beat, value, position)``, pipelined.

    ``build(m, beat, value, position, enable)`` builds ``f`` from the beat and
    value presented at the input (and the beat's index in its row,
    ``position``, e.g. a ROM address) in registers that load when ``enable``
    is high, and returns ``(result, latency)``: ``result`` is valid
    ``latency`` cycles after its inputs. A beat is taken only with its row's
    value; the value is consumed with the row's last beat. ``f``'s registers
    need no reset (the row units' have none, which keeps them off the reset
    net): RowApply's own valid flags say which stages hold a beat.

    The pipeline never stalls (``enable`` is constant 1, so its registers
    need no enable net): results land in an output FIFO, and a beat enters
    only while a credit says the FIFO will have room for it when it leaves
    the pipeline (credits = FIFO depth, taken on entry, returned when a
    result leaves the FIFO). ``o.ready`` therefore reaches only the FIFO, and
    ``i.ready`` is a flip-flop: "the row's value is held and a credit is
    left", computed a cycle ahead from the next values of those flags, as
    :class:`RowReduce`'s is. (As a LUT of the two flags it sat before the
    producer's row buffer, whose read enable it drives: LayerNorm I-ViT at
    ``simd = 4``, seed 1, 170 MHz, ``value_current_valid`` -> ``i.ready`` ->
    the last segment's read enable, 3 levels, 4.9 ns of routing.)

    Members: ``i`` (beats), ``value`` (one per row), ``o`` (results).
    Latency ``latency + 3`` cycles; one beat per cycle.
    """

    def __init__(self, *, beat_shape, value_shape, out_shape, folds, build):
        self._folds, self._build = folds, build
        self._out_shape = out_shape
        super().__init__({
            "i": In(stream.Signature(beat_shape)),
            "value": In(stream.Signature(value_shape)),
            "o": Out(stream.Signature(out_shape)),
        })

    def elaborate(self, platform):
        m = Module()
        fire = Signal()
        position, _, last, _ = _row_position(m, self._folds, fire)
        value, value_valid_next = _held_values(m, self.value, consume=fire & last)
        result, latency = self._build(m, self.i.payload, value, position, Const(1))
        if 1 + latency < RowQueue.FREE_LAG:
            # A credit returned by a read comes back 1 + latency cycles before its beat
            # reaches the results FIFO, which would not have freed the place yet.
            raise ValueError(f"RowApply's build must take at least {RowQueue.FREE_LAG - 1} "
                             f"cycle(s), not {latency}")
        # Round trip of a credit: the pipeline, the FIFO's write-to-read latency, its return.
        depth = latency + RowQueue.latency + 2
        m.submodules.results = results = RowQueue(self._out_shape, depth=depth,
                                                  lutram_fanout=RESULTS_LUTRAM_FANOUT)
        _, credit_zero_next = _credit_flags(m, "result", results.depth, take=fire,
                                            give=results.o.valid & results.o.ready)
        # ready = the row's value is held and a credit is left, registered: the same test
        # on the flags' next values (no value is held at reset, so it starts low).
        ready = Signal()
        m.d.sync += ready.eq(value_valid_next & ~credit_zero_next)
        m.d.comb += [fire.eq(self.i.valid & ready), self.i.ready.eq(ready)]
        valid = fire
        for stage in range(latency):
            valid_s = Signal(name=f"valid_{stage}")
            m.d.sync += valid_s.eq(valid)
            valid = valid_s
        m.d.comb += [results.i.valid.eq(valid), results.i.payload.eq(result)]
        wiring.connect(m, results.o, wiring.flipped(self.o))
        return m


def _held_values(m, values, *, consume):
    """The row's value and the next row's, in registers; returns ``(value, valid_next)``:
    the row's value (a register) and whether one is held in the next cycle.

    ``values.ready`` is a flip-flop (the next row's slot is empty), so the
    beat handshake (``consume``: the row's last beat taken) reaches only these
    registers and not the value FIFO's pointers in another unit: in LayerNorm
    that route from the row buffer to the factor FIFO was the critical path
    (4 LUT levels, 4.75 ns of routing). With the next row's value waiting in
    its slot, a row's first beat can follow the last beat of the one before.
    """
    shape = values.payload.shape()
    # the values are read behind their valid flags: no reset
    current = Signal(shape, name="value_current", reset_less=True)
    upcoming = Signal(shape, name="value_next", reset_less=True)
    current_valid, upcoming_valid = Signal(name="value_current_valid"), Signal(name="value_next_valid")
    take = values.valid & ~upcoming_valid
    freed = consume | ~current_valid                  # the current slot is (being) freed
    m.d.comb += values.ready.eq(~upcoming_valid)
    # The next slot's word loads on every take, used or not: its enable (a value's width of
    # flip-flops) then waits for registers only, not for the beat handshake. (Loaded only
    # when the current slot stayed busy, it put 3 LUTs after LayerNorm's beat handshake:
    # 195 MHz at pe = 4.)
    with m.If(take):
        m.d.sync += upcoming.eq(values.payload)
    with m.If(freed):
        # The waiting value moves up, else the incoming one.
        m.d.sync += [current.eq(Mux(upcoming_valid, upcoming, values.payload)),
                     upcoming_valid.eq(0)]
    with m.Elif(take):
        m.d.sync += upcoming_valid.eq(1)
    current_valid_next = Mux(freed, upcoming_valid | take, current_valid)
    m.d.sync += current_valid.eq(current_valid_next)
    return current, current_valid_next


class RoundRobin(wiring.Component):
    """``count`` copies of a one-at-a-time stream unit taking items in turn, results in order.

    A per-row unit that needs ``T`` cycles per item (an iterative divider, a
    square root) keeps up with rows of ``F`` beats when ``count >= T / F``.
    The copies must take a new item exactly from the cycle after their
    result has left (the iterative units here do): the round robin keeps a
    ``free`` flag per copy, so ``i.ready`` is a flip-flop and not a
    multiplexer over the copies' states, and results leave through an output
    register, so ``o.valid`` is a flip-flop too. ``i.ready`` is computed from
    the ``free`` flags alone, not from a result leaving in the same cycle
    (with nine copies that bypass was a 7-level path), so a copy takes its
    next item two cycles after its result left: :func:`per_row` counts that
    cycle when it sizes the round robin.

    Members: ``i``, ``o`` as the copies' own. Latency one more than a copy's.
    """

    def __init__(self, units):
        self._units = list(units)
        if len(self._units) < 2:
            raise ValueError(f"a round robin needs at least 2 copies, not {len(self._units)}")
        first = self._units[0]
        super().__init__({"i": In(stream.Signature(first.i.payload.shape())),
                          "o": Out(stream.Signature(first.o.payload.shape()))})

    @property
    def latency(self):
        """One copy's latency and the output register (an item waits for no other copy)."""
        return self._units[0].latency + 1

    def elaborate(self, platform):
        m = Module()
        count = len(self._units)
        take, give = Signal(range(count)), Signal(range(count))
        free = Signal(count, init=(1 << count) - 1)
        ready = Signal(init=1)                            # free[take], registered
        nxt = Mux(take == count - 1, 0, take + 1)
        dispatch = self.i.valid & ready
        # A result moves into the output register when the register is (being) emptied.
        out_free = ~self.o.valid | self.o.ready
        result_valid = _select([u.o.valid for u in self._units], give)
        release = result_valid & out_free
        # the output register's word is read behind o.valid: no reset
        word = Signal(len(Value.cast(self.o.payload)), name="word", reset_less=True)
        m.d.comb += Value.cast(self.o.payload).eq(word)
        for k, unit in enumerate(self._units):
            m.submodules[f"copy_{k}"] = unit
            m.d.comb += [Value.cast(unit.i.payload).eq(Value.cast(self.i.payload)),
                         unit.i.valid.eq(dispatch & (take == k)),
                         unit.o.ready.eq(out_free & (give == k))]
        m.d.comb += self.i.ready.eq(ready)
        with m.If(release):
            m.d.sync += [self.o.valid.eq(1), give.eq(Mux(give == count - 1, 0, give + 1)),
                         word.eq(_select([Value.cast(u.o.payload) for u in self._units], give))]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        # free: cleared by a dispatch, set when the copy's result leaves it.
        m.d.sync += free.eq((free & ~Mux(dispatch, 1 << take, 0)) | Mux(release, 1 << give, 0))
        with m.If(dispatch):
            m.d.sync += take.eq(nxt)
        # ready for the next cycle: the next copy's flag if this cycle dispatched, else this
        # one's; the late handshake only picks between two values read from registers.
        m.d.sync += ready.eq(Mux(dispatch, free.bit_select(nxt, 1), free.bit_select(take, 1)))
        return m


def _select(values, index):
    """``values[index]``; padded to a power of two so the Verilog case is complete (lint)."""
    values = values + values[-1:] * ((1 << len(index)) - len(values))
    return Array(values)[index]


def per_row(make, folds):
    """``make()``, or enough :class:`RoundRobin` copies of it to take an item every ``folds`` cycles

    (from one copy's ``interval``, its cycles per item, and the cycle a copy
    of a round robin waits before it is offered its next item).
    """
    first = make()
    if first.interval <= folds:
        return first
    count = -(-(first.interval + 1) // folds)
    return RoundRobin([first] + [make() for _ in range(count - 1)])


def lanes_of(beat):
    """A ``lanes`` for :class:`RowReduce`: every lane of an ``ArrayLayout`` beat."""
    return [beat[lane] for lane in range(beat.shape().length)]


def add(a, b):
    """A ``combine`` for :class:`RowReduce`: the sum."""
    return a + b


def larger(a, b):
    """A ``combine`` for :class:`RowReduce`: ``max(a, b)`` of two values of one shape."""
    return Mux(_greater(b, a), b, a)


def fold_max(running, part, first):
    """A ``fold`` for :class:`RowReduce`: the row's maximum."""
    return Mux(first | _greater(part, running), part, running)


def _greater(a, b):
    """``a > b``; signed values compared as offset binary (top bit flipped), so the
    comparison is the carry out of one subtraction with no sign fix-up after it."""
    if a.shape().signed:
        top = 1 << (len(a) - 1)
        return (a.as_unsigned() ^ top) > (b.as_unsigned() ^ top)
    return a > b
