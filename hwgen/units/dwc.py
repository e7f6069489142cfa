"""Element-wise stream width conversion (FINN: StreamingDataWidthConverter)."""

import math

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from .skid import SkidBuffer

__all__ = ["StreamingDataWidthConverter"]

#: rotator multiplexers (bits of one stage) that one copy of the write pointer selects, where
#: :meth:`StreamingDataWidthConverter.retimed` gives the pointer copies: sfc_mixed's input
#: converter at 200 MHz had its pointer's bit 0 select all 116 bits of the first stage
#: (``write_at`` -> ``slot_1``, 5 levels, 5.17 ns)
POINTER_REACH = 32
#: rotator stages from which :meth:`StreamingDataWidthConverter.retimed` copies the write
#: pointer of a converter whose rotators do not fit the clock: on ECP5 speed 8 at 200 MHz the
#: 4-stage rotators of tiny_bnn's and odd_mlp's converters (104-110 bits a stage) met the
#: clock with one pointer, sfc_mixed's 5-stage one did not
COPIED_STAGES = 5


class StreamingDataWidthConverter(wiring.Component):
    """Regroup a stream of elements from ``in_per_beat`` to ``out_per_beat`` per beat.

    Samples of ``elements`` elements pass through in order. When a sample does
    not fill its last beat, that beat is partial: on the input side its extra
    lanes are ignored, on the output side they are zero. So the converter also
    maps between an AXI4-Stream word of ``io_bits // bits`` elements and a
    layer's SIMD/PE lanes, with each sample starting at lane 0.

    Internally a ring of ``capacity`` slots of ``group`` elements (``group``
    divides both lane counts and both last-beat remainders) holds the element
    stream between a write and a read pointer. An arriving beat is rotated up
    to the write pointer and written to the slots of a registered window; the
    output shows the slots from the read pointer on, rotated down to lane 0.
    So a leaving beat moves only the read pointer and a few flags, never the
    slots, and each slot's enable is a flip-flop of its own, set while
    ``i.ready`` is and the slot is in the window of the next beat (free
    slots then, which load the input every cycle until a beat is taken and
    the window moves past them). ``i.ready`` ("room for the next beat, even if
    none leaves") and ``o.valid`` are flip-flops whose next values are picked
    by ``take`` and ``give`` among four precomputed cases. ``o.valid``'s are
    the occupancy compared with constants; ``i.ready``'s are flip-flops
    themselves (``room``), computed a cycle ahead, as are the last-beat flags
    and the slots of the next beat and of the one after, so a slot's enable
    is ``take`` and ``give`` picking among flip-flops. For full rate with a registered ``i.ready`` the
    ring holds ``A + 2B - 1`` groups when beats shrink (``A`` groups in,
    ``B`` out) and ``2A + B - 1`` when they grow: room for a beat is then
    there whenever the narrow side would otherwise have to wait.

    The rotators are barrel rotators of one LUT level per bit of
    ``capacity - 1``, in the cycle that writes a beat and the one that shows
    it. Where lane counts share no divisor the ring is long and the rotators
    deep (64 -> 49 lanes: 161 one-element slots, 8 stages). With
    ``via``, the conversion goes through intermediate lane counts instead:
    converters in series (``in_per_beat -> via[0] -> ... -> out_per_beat``),
    each with a shorter ring, and a SkidBuffer between two of them, so one's
    output rotator and the next one's input rotator are in different cycles
    (in series they would be as deep as the one ring they replace), one that
    shows its beat from a register (in front of the next rotator). Each
    intermediate costs two more cycles of latency and two registers of its
    lanes. The rate is that of the narrowest lane count on the way: the same
    as without ``via`` as long as every intermediate is at least the narrower
    side, else ``min_lanes`` elements per cycle at least (a consumer that reads
    a sample in bursts from a FIFO may not need more). :meth:`retimed` picks
    ``via`` when the delay model says one cycle is too short for the rotators.

    Each bit of the write pointer selects one stage of the write rotator, a
    multiplexer per bit of the ring. With ``write_copies``, the pointer is that
    many equal registers (each in a submodule of its own, so synthesis keeps
    them apart), each selecting the stages of a run of the ring's slots: no
    select net reaches more than a run. :meth:`retimed` gives a converter whose
    rotators do not fit the clock, are ``COPIED_STAGES`` deep or more and that
    no ``via`` shortens one copy per ``POINTER_REACH`` bits of a stage.

    With ``one_hot_read``, the read pointer is also held one-hot (a flip-flop
    per slot, rotated by a constant when a beat leaves) and each output group
    is the OR of every slot AND its pointer bit: about ``log4(2 * capacity)``
    LUT levels where the rotator takes ``log2(capacity)`` (13 slots: 3
    instead of 4). :meth:`retimed` gives it to a converter whose rotators do
    not fit the clock and that no ``via`` shortens.

    Parameters
    ----------
    shape : Shape          element shape
    in_per_beat : int      elements per input beat
    out_per_beat : int     elements per output beat
    elements : int         elements per sample
    via : int, tuple of int or None
                           intermediate lanes (converters in series), each at least
                           ``min_lanes``; default None (one converter)
    min_lanes : int or None
                           elements per cycle the conversion must carry, at most
                           ``min(in_per_beat, out_per_beat)`` (the default: full rate);
                           it bounds ``via`` and what :meth:`retimed` may pick
    write_copies : int     registers holding the write pointer, at most ``capacity``, each
                           selecting the write rotator of a run of slots (default 1; more
                           only without ``via``)
    one_hot_read : bool    the read pointer held one-hot, the output an AND-OR of the slots
                           instead of the read rotator (default False; only without ``via``)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(shape, in_per_beat)))
    o : Out(stream.Signature(ArrayLayout(shape, out_per_beat)))

    Latency 1 cycle (the ring is a register; 2 more per lane count of ``via``); throughput
    is the full rate of the narrower side (or of the narrowest ``via``): one beat per cycle
    on each side when ``in_per_beat == out_per_beat``, otherwise as many beats as the
    element rate allows. ``i.ready`` is a flip-flop; ``o.ready`` reaches the read
    pointer, the occupancy, the flags and the slots' enable flip-flops only.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency",)

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): the incoming beat is placed by
        barrel rotators over the input lanes' bits: in bits * rotator stages, in bits, out bits,
        1."""
        if self._via:
            # The SkidBuffers between them (two via-lane registers each) are not in the dwc
            # model.
            parts = [part.resource_features[1] for part in self._parts()]
            return "dwc", [sum(column) for column in zip(*parts)]
        bits = Shape.cast(self.i.payload.shape().elem_shape).width
        lanes_in, lanes_out = self.in_per_beat * bits, self.out_per_beat * bits
        return "dwc", [lanes_in * self.shift_stages, lanes_in, lanes_out, 1]

    def __init__(self, *, shape, in_per_beat, out_per_beat, elements, via=None,
                 min_lanes=None, write_copies=1, one_hot_read=False):
        self._shape = check_shape("shape", shape)
        self._a = check_int("in_per_beat", in_per_beat, minimum=1)
        self._b = check_int("out_per_beat", out_per_beat, minimum=1)
        self._elements = check_int("elements", elements, minimum=1)
        full = min(self._a, self._b)
        self._min_lanes = full if min_lanes is None else check_int("min_lanes", min_lanes,
                                                                   minimum=1)
        if self._min_lanes > full:
            raise ValueError(f"min_lanes must be at most min(in_per_beat, out_per_beat) "
                             f"({full}), not {min_lanes!r}")
        if isinstance(via, (tuple, list)):
            if not via:
                raise ValueError("via must name at least one lane count, not ()")
            via = tuple(check_int("via", lanes, minimum=self._min_lanes) for lanes in via)
            via = via[0] if len(via) == 1 else via
        elif via is not None:
            via = check_int("via", via, minimum=self._min_lanes)
        self._via = via
        self._write_copies = check_int("write_copies", write_copies, minimum=1)
        if not isinstance(one_hot_read, bool):
            raise TypeError(f"one_hot_read must be True or False, not {one_hot_read!r}")
        if one_hot_read and via is not None:
            raise ValueError("one_hot_read must be False with via (each converter of the "
                             "chain has its own pointer)")
        self._one_hot_read = one_hot_read
        if write_copies > 1 and via is not None:
            raise ValueError(f"write_copies must be 1 with via (each converter of the chain "
                             f"has its own pointer), not {write_copies!r}")
        if write_copies > self.capacity:
            raise ValueError(f"write_copies must be at most the ring's {self.capacity} slots, "
                             f"not {write_copies!r}")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._shape, self._a))),
            "o": Out(stream.Signature(data.ArrayLayout(self._shape, self._b))),
        })

    in_per_beat = property(lambda self: self._a)
    out_per_beat = property(lambda self: self._b)
    elements = property(lambda self: self._elements)
    #: the intermediate lane count, a tuple of them when several, or None
    via = property(lambda self: self._via)
    min_lanes = property(lambda self: self._min_lanes)
    write_copies = property(lambda self: self._write_copies)
    one_hot_read = property(lambda self: self._one_hot_read)
    in_beats = property(lambda self: -(-self._elements // self._a))
    out_beats = property(lambda self: -(-self._elements // self._b))

    @property
    def group(self):
        """Elements every lane count is a multiple of: the ring's slots hold whole groups."""
        return math.gcd(self._a, self._b, _rest(self._a, self._elements),
                        _rest(self._b, self._elements))

    def _groups(self):
        """(in, out, in of a last beat, out of a last beat) beat sizes, in groups."""
        sizes = (self._a, self._b, _rest(self._a, self._elements),
                 _rest(self._b, self._elements))
        return tuple(size // self.group for size in sizes)

    @property
    def capacity(self):
        """Slots of the ring: full rate of the narrow side with a registered ``i.ready``
        (``A + 2B - 1`` when beats shrink, ``2A + B - 1`` when they grow; ``A``, ``B`` the
        largest beats in groups)."""
        a, b, a_rest, b_rest = self._groups()
        a, b = (a if self.in_beats > 1 else a_rest), (b if self.out_beats > 1 else b_rest)
        return a + 2 * b - 1 if a >= b else 2 * a + b - 1

    @property
    def shift_stages(self):
        """Stages of each barrel rotator: the bits of a pointer into the ring (with ``via``:
        the deeper of the two converters)."""
        if self._via:
            return max(part.shift_stages for part in self._parts())
        return (self.capacity - 1).bit_length()

    @property
    def input_levels(self):
        """LUT levels from ``i.payload`` to a slot of the (first) ring: its write rotator and
        the slot's enable. What the composer adds to its producer's output logic to decide
        whether the beat must come from a register (``hwgen.network``)."""
        first = self._parts()[0] if self._via else self
        return first.shift_stages + 1

    #: LUT levels between the flip-flops and ``o.payload``: the read rotator (hwgen.network)
    payload_levels = property(lambda self: (self._parts()[-1] if self._via else self)
                              .shift_stages)

    latency = property(lambda self: 1 + 2 * len(self._hops()))
    #: ``i.ready`` is a flip-flop (hwgen.network)
    registered_ready = True

    @property
    def ready_fanout(self):
        """Flip-flops ``o.ready`` reaches: the read pointer (one per slot when one-hot), the
        occupancy (one per slot), ``o.valid``, ``i.ready``, its four room flags, the slots'
        enables (one per slot) and the output's beat counter and two last-beat flags (with
        ``via``: the last converter's only, as every other's ``o.ready`` is a skid's
        registered ``i.ready``)."""
        if self._via:
            return self._parts()[-1].ready_fanout
        pointer = self.capacity if self._one_hot_read else (self.capacity - 1).bit_length()
        return (pointer + 6 + 2 * self.capacity
                + (self.out_beats > 1) * (2 + (self.out_beats - 1).bit_length()))

    def _hops(self):
        """The intermediate lane counts, as a tuple (empty without ``via``)."""
        if self._via is None:
            return ()
        return self._via if isinstance(self._via, tuple) else (self._via,)

    def _middles(self):
        """The register slices between the converters of a ``via`` conversion, each showing
        its beat from a register: the next converter's write rotator then starts at a
        flip-flop, not behind the slice's read multiplexer (sfc_balanced's input at 200 MHz:
        ``middle0.read_at`` -> the multiplexer -> 3 rotator stages -> ``part1.slot_3``, 4
        levels, 5.01 ns), and its ``o.ready`` is that converter's registered ``i.ready``. One
        flip-flop fewer than the ring of two."""
        return [SkidBuffer(data.ArrayLayout(self._shape, lanes), registered_output=True)
                for lanes in self._hops()]

    def _parts(self):
        """The converters of a conversion ``via`` intermediate lane counts, in stream order."""
        lanes = (self._a, *self._hops(), self._b)
        parts = [StreamingDataWidthConverter(shape=self._shape, in_per_beat=a, out_per_beat=b,
                                             elements=self._elements)
                 for a, b in zip(lanes, lanes[1:])]
        for part in parts:
            part._MustUse__silence = True    # also built to be measured, not elaborated
        return parts

    def retimed(self, model, clock_mhz):
        """This converter, or one ``via`` intermediate lane counts, when the delay model says
        its rotators do not fit one cycle at ``clock_mhz``.

        At full rate, one intermediate lane count between the two sides, the one with the
        shallowest rotators, if that saves at least two stages (64 -> 49 lanes: via 56, two
        21-slot rings of 5 stages). Where a consumer needs fewer elements per cycle
        (``min_lanes``), the chain of lane counts from ``min_lanes`` up to the wider side
        whose rings all fit the clock (else whose deepest is shallowest), then with the
        fewest converters, then the fewest ring bits (:func:`_chain`): narrow lane counts
        that share large divisors with both sides (64 -> 49 at 4 per cycle: 16, 4, 28, 7, no
        ring deeper than 3 stages), but only if their rings and register slices hold no more
        bits than the full-rate choice's (the issue's flip-flop budget: a 64 -> 24 converter
        of 4 stages is cheaper as it is than through 32, 16 and 8 lanes). Where neither
        applies, the converter with a one-hot read pointer (``one_hot_read``: cnv_ci's 8 -> 3
        input converter at 200 MHz, 13 slots, had its read rotator into the slice after it
        on seeds 1 and 3, 5 levels, 5.03-5.15 ns) and, when its rotators are
        ``COPIED_STAGES`` deep or more, copies of its write pointer (``write_copies``, one
        per ``POINTER_REACH`` bits of a stage: 64 -> 28 lanes, 29 slots of 4 bits, 5 stages:
        four copies)."""
        if (self._via or self._write_copies > 1 or self._one_hot_read
                or self._shift_delay(model) <= model.budget(clock_mhz)):
            return self                      # chosen already, or fits
        fits = 1                             # rotator stages that fit the clock
        while fits < self.shift_stages and model.luts(fits + 2) <= model.budget(clock_mhz):
            fits += 1
        full = self._full_rate_via()
        hops = full
        if self._min_lanes < min(self._a, self._b):
            narrow = _chain(a=self._a, b=self._b, elements=self._elements,
                            width=self._shape.width, min_lanes=self._min_lanes, fits=fits,
                            most=self.shift_stages - 2)
            if narrow and _chain_bits(self._a, self._b, self._elements, narrow) <= _chain_bits(
                    self._a, self._b, self._elements, full):
                hops = narrow
        if not hops:
            # Rotators that nothing shortens: the read side's becomes an AND-OR where that
            # has fewer levels, and what is left to cut on a deep write side is its select
            # nets' fanout.
            return self._in_place()
        split = StreamingDataWidthConverter(shape=self._shape, in_per_beat=self._a,
                                            out_per_beat=self._b, elements=self._elements,
                                            via=hops, min_lanes=self._min_lanes)
        split._MustUse__silence = True       # replaced by the composer or elaborated
        return split

    def _in_place(self):
        """This converter with a one-hot read pointer where its AND-OR has fewer LUT levels
        than the rotator and, from ``COPIED_STAGES`` rotator stages on, one copy of its write
        pointer per ``POINTER_REACH`` bits of a stage (itself when neither applies)."""
        one_hot = _and_or_levels(self.capacity) < self.shift_stages
        copies = 1
        if self.shift_stages >= COPIED_STAGES:
            copies = min(-(-self.capacity * self.group * self._shape.width // POINTER_REACH),
                         self.capacity)
        if copies == 1 and not one_hot:
            return self
        copied = StreamingDataWidthConverter(shape=self._shape, in_per_beat=self._a,
                                             out_per_beat=self._b, elements=self._elements,
                                             min_lanes=self._min_lanes, write_copies=copies,
                                             one_hot_read=one_hot)
        copied._MustUse__silence = True      # replaced by the composer or elaborated
        return copied

    def _full_rate_via(self):
        """``(via,)`` of one intermediate lane count between the two sides (full rate) with the
        shallowest rotators, then the fewest stages in all, then the narrowest; () unless it
        saves at least two stages (worth a cycle and the flip-flops)."""
        narrow, wide = sorted((self._a, self._b))
        best = None
        for via in range(narrow, wide + 1):
            if via in (self._a, self._b):
                continue
            stages = [_ring(x, y, self._elements)[1]
                      for x, y in ((self._a, via), (via, self._b))]
            key = (max(stages), sum(stages), via)
            if best is None or key < best:
                best = key
        if best is None or best[0] > self.shift_stages - 2:
            return ()
        return (best[2],)

    def _shift_delay(self, model):
        """ns of a rotator: its stages and the slot's enable (or the output mask)."""
        return model.luts(self.shift_stages + 1)

    def stage_delay(self, model):
        """(ns, what, fix) of the converter's one cycle by the delay model (hwgen.timing):
        ``give`` to the slots' enables, or a pointer through a rotator."""
        if self._via:
            middles = self._middles()
            for middle in middles:
                middle._MustUse__silence = True  # measured, not elaborated
            return max([*(part.stage_delay(model) for part in self._parts()),
                        *(middle.stage_delay(model) for middle in middles)],
                       key=lambda stage: stage[0])
        slots = self.capacity * self.group * self._shape.width
        give = model.luts(1, fanout=slots)
        shift = self._shift_delay(model)
        if give >= shift:
            return (model.stage(give), f"the beat-written enable to {slots} flip-flops",
                    "fewer lanes on the wider side (smaller pe/simd or io_bits)")
        return (model.stage(shift), f"{self.shift_stages} barrel-rotator stages",
                "lane counts with a larger common divisor (a shorter ring), or a "
                "conversion via an intermediate lane count (retimed)")

    def elaborate(self, platform):
        m = Module()
        if self._via:
            parts, middles = self._parts(), self._middles()
            # Named as with one intermediate (first, middle, second) when there is one.
            names = ["first", "second"] if len(parts) == 2 else [f"part{k}" for k in
                                                                 range(len(parts))]
            for name, part in zip(names, parts):
                m.submodules[name] = part
            for k, middle in enumerate(middles):
                m.submodules["middle" if len(middles) == 1 else f"middle{k}"] = middle
            # A register slice between two rings: no path runs through two rotators.
            wiring.connect(m, wiring.flipped(self.i), parts[0].i)
            for part, middle, after in zip(parts, middles, parts[1:]):
                wiring.connect(m, part.o, middle.i)
                wiring.connect(m, middle.o, after.i)
            wiring.connect(m, parts[-1].o, wiring.flipped(self.o))
            return m
        # Counts from here on are in groups of `group` elements (every lane count is a multiple).
        group, width = self.group, self._shape.width
        a, b, a_rest, b_rest = self._groups()
        capacity, step = self.capacity, group * width
        take, give = Signal(), Signal()
        # Whether each of the next beats on a side is a sample's last: three ahead on the input
        # side (the room flags below look two beats past the current one), two on the output.
        ins = _last_flags(m, "in", give, self._a, self._elements, ahead=3)
        outs = _last_flags(m, "out", take, self._b, self._elements, ahead=2)
        in_last = ins[0]
        out_last, out_moved = outs
        ring = [Signal(step, name=f"slot_{k}") for k in range(capacity)]
        self._slots = ring              # the ring, for a test that checks what holds still
        write_at = Signal(range(capacity), name="write_at")
        read_at = Signal(range(capacity), name="read_at")
        # The occupancy as a thermometer code: bit k is "at least k + 1 groups held", so every
        # comparison of the occupancy with a constant is one of its flip-flops.
        level = Signal(capacity, name="level")
        self._held = (read_at, level)   # the slots holding beats, for the same test
        # The beat's slots: a mask register per beat size (the size of a sample's last beat
        # and of the others) holding that many slots from the write pointer on. On `give`
        # each moves past the beat just written, a rotation by a constant per beat size, so
        # no pointer arithmetic and no barrel rotator is in front of them (rotating ones up
        # to the next write pointer took sfc_balanced's converter 12 levels at 200 MHz).
        sizes = [a_rest] if isinstance(in_last, Const) and in_last.value else (
            [a] if isinstance(in_last, Const) else [a, a_rest])
        masks = {size: Signal(capacity, init=(1 << size) - 1, name=f"window_{size}")
                 for size in sizes}
        ready, valid = Signal(init=1), Signal()
        m.d.comb += [
            self.i.ready.eq(ready),
            self.o.valid.eq(valid),
            take.eq(valid & self.o.ready),
            give.eq(self.i.valid & ready),
        ]

        # Write: the beat rotated up to `write_at` (a barrel rotator selected by a register)
        # into the slots of the window. Each slot's enable is a flip-flop of its own, "ready
        # and in the window", computed a cycle ahead: while `i.ready` is high the window's
        # slots are free, so they load whatever the input shows every cycle, and the beat
        # stays there once `give` moves the write pointer past them. No LUT and no shared
        # register sits in front of a slot's enable (sfc_balanced's input converter: `i.ready`
        # and `give` to its slots' enables, 2 levels across the die, 6.3 ns at 200 MHz).
        # No slot moves when a beat leaves.
        # A sample of one beat fills only its first `a_rest` groups (the ring is sized for them).
        incoming = Value.cast(self.i.payload)[:(a if self.in_beats > 1 else a_rest) * step]
        # The copies of the write pointer, the first the pointer itself; each selects the
        # rotator of a run of slots (they load with the pointer, below).
        pointers = [write_at] + [Signal.like(write_at, name=f"write_at_c{c}")
                                 for c in range(1, self._write_copies)]
        placed = _rotate_up(m, incoming, pointers, step, capacity)
        window, following = _windows(m, masks, ins, a, a_rest, give, capacity)
        armed = Signal(capacity, init=_reset(window), name="armed")
        for k, slot in enumerate(ring):
            with m.If(armed[k]):
                m.d.sync += slot.eq(placed[k * step:(k + 1) * step])
        # Read: the slots from `read_at` on, rotated down to lane 0; a sample's last beat
        # shows only its own groups, the rest zero.
        if self._one_hot_read:
            read_hot = Signal(capacity, init=1, name="read_hot")
            shown = _select_down(ring, read_hot, b)
        else:
            shown = _rotate_down(m, Cat(*ring), read_at, step, capacity)[:b * step]
        out_mask = _pick(out_last, _ones(b_rest * step, b * step), _ones(b * step))
        m.d.comb += self.o.payload.as_value().eq(shown & out_mask)

        # The registers' next values for each (take, give) case from registers only; take and
        # give pick one of the four. Within a case the groups arriving (A) and leaving (L) are
        # constants picked by the last-beat flags, so a test is a bit of `level`.
        def at_least(groups):
            """Whether the ring holds at least ``groups`` groups: a flip-flop or a constant."""
            return Const(int(groups <= 0)) if not 0 < groups <= capacity else level[groups - 1]

        def cases(make):
            values = {(t, g): make(t, g) for t in (0, 1) for g in (0, 1)}
            return Mux(take, Mux(give, values[1, 1], values[1, 0]),
                       Mux(give, values[0, 1], values[0, 0]))

        def next_out_last(t):
            return out_moved if t else out_last

        def delta(t, g, il, ol):
            """Groups the ring gains in a cycle of case (t, g) (flags: this cycle's beats)."""
            return (g and (a_rest if il else a)) - (t and (b_rest if ol else b))

        def valid_test(t, g):
            """``count + A - L`` at least the next output beat's groups."""
            flags = (in_last, out_last, next_out_last(t))

            def test(values):
                il, ol, nol = values
                return at_least((b_rest if nol else b) - delta(t, g, il, ol))
            return _over(flags, test)

        def next_level(t, g):
            """``level`` after a cycle of case (t, g): each bit the one ``A - L`` below it."""
            return Cat(*(_over((in_last, out_last), lambda values, k=k: at_least(
                k - delta(t, g, *values))) for k in range(1, capacity + 1)))

        def room_bound(t, g, il, nil, ol):
            """``i.ready`` next cycle after a cycle of case (t, g) is the occupancy (``count``)
            at most this: ``count + A - L`` leaves room for the next input beat."""
            return capacity - (a_rest if (nil if g else il) else a) - delta(t, g, il, ol)

        def room_after(t, g):
            """``room[t, g]`` of the next cycle: for each case (t0, g0) of this one, a bit of
            ``level``, the beats moved on by that case."""
            def after(t0, g0):
                def test(values):
                    i0, i1, i2, o0, o1 = values
                    il, nil = (i1, i2) if g0 else (i0, i1)
                    bound = room_bound(t, g, il, nil, o1 if t0 else o0)
                    return ~at_least(bound - delta(t0, g0, i0, o0) + 1)
                return _over((*ins, *outs), test)
            return cases(after)

        m.d.sync += [
            level.eq(cases(next_level)),
            valid.eq(cases(valid_test)),
        ]
        # ready: count + A - L + the next input beat's groups <= capacity. Its four cases are
        # flip-flops (`room`), each computed a cycle ahead from `level` and the flags, so what
        # `take` and `give` pick for `i.ready` and the slots' enables is a register already.
        room = {(t, g): Signal(init=int(room_bound(t, g, *(_reset(flag) for flag in
                                                           (ins[0], ins[1], outs[0]))) >= 0),
                               name=f"room_{t}{g}")
                for t in (0, 1) for g in (0, 1)}
        m.d.sync += [room[t, g].eq(room_after(t, g)) for t in (0, 1) for g in (0, 1)]
        m.d.sync += ready.eq(cases(lambda t, g: room[t, g]))
        # The slots' enables: next cycle's window (the one after this beat if it is given) if
        # there is room for it, `take` last so the consumer's ready passes one LUT.
        def arm(t):
            return Mux(give, Mux(room[t, 1], following, 0), Mux(room[t, 0], window, 0))
        m.d.sync += armed.eq(Mux(take, arm(1), arm(0)))
        after = _over((in_last,), lambda values: _wrap(write_at, a_rest if values[0] else a,
                                                       capacity))
        with m.If(give):
            m.d.sync += write_at.eq(after)
            for mask in masks.values():
                m.d.sync += mask.eq(_over((in_last,), lambda values, mask=mask: mask.rotate_left(
                    (a_rest if values[0] else a) % capacity)))
        with m.If(take):
            m.d.sync += read_at.eq(_over((out_last,), lambda values: _wrap(
                read_at, b_rest if values[0] else b, capacity)))
            if self._one_hot_read:
                m.d.sync += read_hot.eq(_over((out_last,), lambda values: read_hot.rotate_left(
                    (b_rest if values[0] else b) % capacity)))
        # Each copy in a submodule of its own, which synthesis (keeping the hierarchy) does
        # not merge back into the pointer.
        for copy in pointers[1:]:
            m.submodules[copy.name] = load = Module()
            with load.If(give):
                load.d.sync += copy.eq(after)
        return m


def _windows(m, masks, ins, a, a_rest, give, capacity):
    """(window, following): the slots of the next input beat and of the beat after it, each
    read from a register, so a slot's enable picks between two flip-flops of its own.

    With one beat size they are that size's mask and the mask moved past one beat. With two
    (a sample's last beat is shorter), two registers: on ``give`` the window becomes the
    following beat's slots and ``following`` those of the beat after, the mask of its size
    (``ins[2]``) moved past the two beats before it."""
    def size(last):
        return a_rest if last else a
    if len(masks) == 1:
        (only, mask), = masks.items()
        return mask, mask.rotate_left(only % capacity)
    first, second = (size(_reset(flag)) for flag in ins[:2])
    window = Signal(capacity, init=(1 << first) - 1, name="window")
    following = Signal(capacity, init=_rotated((1 << second) - 1, first, capacity),
                       name="following")
    with m.If(give):
        m.d.sync += [
            window.eq(following),
            following.eq(_over(ins, lambda values: masks[size(values[2])].rotate_left(
                (size(values[0]) + size(values[1])) % capacity))),
        ]
    return window, following


def _wrap(pointer, moved, capacity):
    """``(pointer + moved) % capacity`` for a constant ``moved``, as a table of the pointer's
    values: LUTs of the pointer's bits, no carry chain (a comparison and a sum in carry
    chains before their multiplexer took sfc_mixed's converter 5.25 ns from its pointer back
    to the pointer's enable at 200 MHz)."""
    if moved % capacity == 0:
        return pointer
    # Every value of the pointer's bits has an entry (a complete case for Verilator); those
    # from `capacity` on never occur.
    return Array(Const((k + moved) % capacity, len(pointer))
                 for k in range(1 << len(pointer)))[pointer]


def _rotated(value, amount, bits):
    """``value`` (``bits`` bits) rotated left by ``amount``, as an integer."""
    amount %= bits
    return ((value << amount) | (value >> (bits - amount))) & ((1 << bits) - 1)


def _reset(flag):
    """The value of ``flag`` (a constant or a register) after reset."""
    return flag.value if isinstance(flag, Const) else flag.init


def _over(flags, test):
    """``test(values)`` for every value of the non-constant flags, as a Mux tree."""
    if not flags:
        return test(())
    flag, rest = flags[0], flags[1:]
    if isinstance(flag, Const):
        return _over(rest, lambda values: test((bool(flag.value),) + values))
    return Mux(flag, _over(rest, lambda values: test((True,) + values)),
               _over(rest, lambda values: test((False,) + values)))


def _ring(a, b, elements):
    """(slots, rotator stages, group) of one converter's ring from ``a`` to ``b`` lanes: the
    arithmetic of :attr:`StreamingDataWidthConverter.capacity`, without building one."""
    sizes = (a, b, _rest(a, elements), _rest(b, elements))
    group = math.gcd(*sizes)
    a, b, a_rest, b_rest = (size // group for size in sizes)
    a = a if -(-elements // sizes[0]) > 1 else a_rest
    b = b if -(-elements // sizes[1]) > 1 else b_rest
    slots = a + 2 * b - 1 if a >= b else 2 * a + b - 1
    return slots, (slots - 1).bit_length(), group


def _chain_bits(a, b, elements, hops):
    """Elements held by the rings and register slices of a conversion through ``hops``."""
    lanes = (a, *hops, b)
    rings = sum(slots * group for slots, _, group in
                (_ring(x, y, elements) for x, y in zip(lanes, lanes[1:])))
    return rings + 2 * sum(hops)


def _chain(*, a, b, elements, width, min_lanes, fits, most):
    """Intermediate lane counts from ``a`` to ``b`` lanes, each from ``min_lanes`` up to the
    wider side, or () when no chain keeps its deepest ring within ``most`` rotator stages.

    A breadth-first search per depth limit: the smallest limit (at least the ``fits``
    stages the clock allows) for which a chain exists, then the fewest converters, then the
    fewest ring bits (``width``-bit elements)."""
    lanes = range(min_lanes, max(a, b) + 1)
    for limit in range(min(fits, most), most + 1):
        best = {a: (0, 0, ())}          # lanes -> (converters, ring bits, hops)
        frontier = [a]
        while frontier and b not in best:
            reached = {}
            for here in frontier:
                hops, bits, path = best[here]
                for there in lanes:
                    if there in best or there == here:
                        continue
                    slots, stages, group = _ring(here, there, elements)
                    if stages > limit:
                        continue
                    key = (hops + 1, bits + slots * group * width, path + (there,))
                    if there not in reached or key < reached[there]:
                        reached[there] = key
            best.update(reached)
            frontier = sorted(reached)
        if b in best:
            return best[b][2][:-1]
    return ()


def _last_flags(m, name, advance, per_beat, elements, ahead):
    """Whether each of the next ``ahead`` beats of a ``per_beat``-lane stream is a sample's
    last, the current beat first.

    Every beat of a sample is full but the last, which holds the remainder. The
    flags are registers that follow ``advance`` (a beat passed) with a beat
    counter (each moves to the one before it, the furthest from the counter), or
    constants when every beat is full or a sample is one beat."""
    beats, rest = -(-elements // per_beat), _rest(per_beat, elements)
    if rest == per_beat or beats == 1:
        return [Const(int(rest != per_beat))] * ahead
    beat = Signal(range(beats), name=f"{name}_beat")
    # The k-th beat from now is the last when the counter is k short of it.
    flags = [Signal(name=f"{name}_last" + (f"_{k}" if k else ""),
                    init=int((beats - 1 - k) % beats == 0)) for k in range(ahead)]
    with m.If(advance):
        m.d.sync += [beat.eq(Mux(flags[0], 0, beat + 1)),
                     *(flag.eq(after) for flag, after in zip(flags, flags[1:])),
                     flags[-1].eq(beat == (beats - 1 - ahead) % beats)]
    return flags


def _rest(per_beat, elements):
    """Elements in a sample's last beat (``per_beat`` when it is full)."""
    return elements - (-(-elements // per_beat) - 1) * per_beat


def _ones(bits, length=None):
    """``bits`` low bits set, as a ``length``-bit constant."""
    return Const((1 << bits) - 1, length or bits)


def _pick(flag, if_set, if_clear):
    """``if_set`` or ``if_clear`` by ``flag``: a plain choice when the flag is a constant."""
    if isinstance(flag, Const):
        return if_set if flag.value else if_clear
    return Mux(flag, if_set, if_clear)


def _rotate_up(m, value, pointers, width, count):
    """``value`` (unsigned, zero-extended to ``count`` slots of ``width`` bits) rotated up by
    the pointer (a value below ``count``): one stage per bit, each a constant rotation, each
    stage a signal of its own (as one expression, every stage would copy the ones before).
    ``pointers`` are equal copies of the pointer: copy ``c`` selects the ``c``-th run of
    slots of every stage."""
    value = Cat(value, Const(0, count * width - len(value)))
    runs = [(c * count // len(pointers) * width, (c + 1) * count // len(pointers) * width)
            for c in range(len(pointers))]
    for stage in range(len(pointers[0])):
        moved = value.rotate_left(((1 << stage) % count) * width)
        rotated = Signal(count * width)
        if len(pointers) == 1:
            m.d.comb += rotated.eq(Mux(pointers[0][stage], moved, value))
        else:
            m.d.comb += rotated.eq(Cat(*(Mux(pointer[stage], moved[start:end], value[start:end])
                                         for pointer, (start, end) in zip(pointers, runs))))
        value = rotated
    return value


def _select_down(ring, hot, groups):
    """The first ``groups`` slots from the one-hot pointer ``hot`` on: output group ``g`` is
    the OR over every slot ``r`` of slot ``r + g`` AND bit ``r`` of the pointer."""
    count, width = len(ring), len(ring[0])
    return Cat(*(_any(ring[(r + g) % count] & hot[r].replicate(width) for r in range(count))
                 for g in range(groups)))


def _and_or_levels(count):
    """LUT4 levels of :func:`_select_down` over ``count`` slots: ``2 * count`` inputs."""
    levels = 1
    while 4 ** levels < 2 * count:
        levels += 1
    return levels


def _any(values):
    """The OR of ``values``, as a balanced tree."""
    values = list(values)
    while len(values) > 1:
        values = [values[k] | values[k + 1] if k + 1 < len(values) else values[k]
                  for k in range(0, len(values), 2)]
    return values[0]


def _rotate_down(m, value, slots, width, count):
    """``value`` (``count`` slots of ``width`` bits) rotated down by ``slots`` (below ``count``)."""
    for stage, bit in enumerate(slots):
        rotated = Signal(count * width)
        m.d.comb += rotated.eq(Mux(bit, value.rotate_right(((1 << stage) % count) * width),
                                   value))
        value = rotated
    return value
