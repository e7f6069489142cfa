"""Top-1 index of each vector, ties to the lowest index (FINN: LabelSelect, i.e. argmax)."""

from collections.abc import Callable
from typing import NamedTuple

from amaranth.hdl import Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from ._compare import greater
from ._credit import CreditQueue

__all__ = ["LabelSelect"]


class LabelSelect(wiring.Component):
    """Index of the largest of ``channels`` elements arriving ``pe`` per beat (FINN: LabelSelect).

    For each vector ``x[0 .. C-1]``::

        y = min { c : x[c] == max(x) }      # torch.argmax / sw_reference.ops.argmax

    Channels arrive in order, ``pe`` per beat, ``channels // pe`` beats (folds)
    per vector; one output beat per vector. Within a beat a balanced
    comparison tree picks the upper half's candidate only if it is strictly
    greater, so the lower lane wins ties; across beats the running best is
    replaced only by a strictly greater beat winner, so the earlier beat wins
    ties. Together: the lowest index among the maxima. Through the tree a candidate
    carries the outcomes of the comparisons that chose it rather than its lane index,
    and the lane is decoded from them after the tree's last register, so no register
    of the tree holds a bit with a constant arm (which Yosys turns into a reset).

    ``in_shape`` may be signed or unsigned of any width; ``unsigned(1)`` is a
    binary element (bit 1 = +1, 0 = -1), whose order the bits already have.

    Parameters
    ----------
    in_shape : Shape            element type of ``x``
    channels : int              elements per vector ``C`` (FINN ``Labels``)
    pe : int                    elements per beat; must divide ``channels``
    levels_per_stage : int      comparison levels of the tree between two registers
                                (default 1; the composer picks it from the delay model
                                and ``target.clock_mhz``, see :meth:`retimed`)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(unsigned(index_bits), 1)))
        ``index_bits = max(2, ceil(log2(channels)))``; an array of one element
        so that every unit's payload is an ``ArrayLayout``. Never 1 bit: a
        1-bit element means binary (-1/+1) throughout hwgen, and the spec
        gives argmax over 1 or 2 classes a 2-bit type too.

    Latency ``2 + tree_stages`` cycles from a vector's last input beat to
    its result (a register after every ``levels_per_stage`` comparison
    levels of the tree, whose ``tree_levels = ceil(log2(pe))``, at least one
    register even with one lane, then the running best into the result
    queue); one input beat per cycle. Whether the tree's winner beats
    the running best is compared a cycle early, against both values the
    best may then hold, each comparison into a flip-flop of its own, so
    the running best's loop is a pick between flip-flops and no carry chain
    ends in a multiplexer. A comparison is the sign of a difference, the top
    sum bit of one carry chain (:func:`~hwgen.units._compare.greater`). One comparison
    per register keeps the cycle short: with all ten comparisons of ``pe = 10`` in one cycle the
    unit limited sfc_balanced to 47.3 MHz on an ECP5-85k.

    The pipeline never stalls (credit, :class:`~hwgen.units._credit.CreditQueue`): its
    registers load every cycle with no enable, and a beat is taken only while the result
    queue has room for every vector end in flight and one more (:attr:`result_slots`,
    two results when a vector is longer than the pipeline). So ``i.ready`` is a flip-flop
    (the queue's ``room``, decided a cycle ahead) and ``o.ready`` reaches the queue's
    pointer and count only. The next vector streams in while a result waits to be taken;
    with the output blocked, beats stop once the queue is full. (With ``i.ready`` one LUT
    of three flip-flops and the tree on its enable, tiny_bnn at 200 MHz had LabelSelect's
    ``i.ready`` -> the width converter before it -> its slot enables, 5 levels, 5.43 ns.)
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE * input bits, 1."""
        return "label_select", [self._pe * self._in_shape.width, 1]

    def __init__(self, *, in_shape, channels, pe=1, levels_per_stage=1):
        self._in_shape = check_shape("in_shape", in_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._pe = check_int("pe", pe, minimum=1)
        if channels % pe:
            raise ValueError(f"pe must divide channels ({channels}), not {pe!r}")
        self._levels_per_stage = check_int("levels_per_stage", levels_per_stage, minimum=1)
        self._index_bits = max(2, (self._channels - 1).bit_length())

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(unsigned(self._index_bits), 1))),
        })

    in_shape = property(lambda self: self._in_shape)
    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    folds = property(lambda self: self._channels // self._pe)
    index_bits = property(lambda self: self._index_bits)
    tree_levels = property(lambda self: (self._pe - 1).bit_length())
    levels_per_stage = property(lambda self: self._levels_per_stage)
    #: register stages of the tree: one after every ``levels_per_stage`` comparison levels,
    #: at least one (with one lane, the input's), so the running best's comparisons start
    #: from flip-flops
    tree_stages = property(lambda self: max(1, -(-self.tree_levels // self._levels_per_stage)))
    latency = property(lambda self: 2 + self.tree_stages)
    #: ``i.ready`` is a flip-flop (hwgen.network)
    registered_ready = True

    @property
    def result_slots(self):
        """Results the output queue holds: those a full-rate stream has in flight, plus one."""
        return self._queue().slots

    @property
    def ready_fanout(self):
        """Flip-flops ``o.ready`` reaches: the queue's read pointer and count."""
        slots = self.result_slots
        return max(slots - 1, 1).bit_length() + slots.bit_length()

    def _queue(self):
        """The result queue: every beat waits for its room, one result per vector."""
        queue = CreditQueue(self.o.payload.shape(), stages=self.latency, interval=self.folds,
                            registered_room=True, gated_input=True)
        queue._MustUse__silence = True       # also built to be measured, not elaborated
        return queue

    def stage_delay(self, model):
        """(ns, what, fix) of the slowest register stage by the delay model (hwgen.timing)."""
        tree = self._levels_per_stage * self._level_ns(model)
        enable = model.luts(1, fanout=self._index_bits + 4)       # accept -> the beat counter
        compare = model.carry(self._in_shape.width)               # winner vs. best, registered
        pick = model.luts(2, fanout=self._in_shape.width + self._index_bits)  # the best's loop
        ns, what = max((model.stage(tree), f"{self._levels_per_stage} comparison level(s) of "
                        f"{self._in_shape.width}-bit values per stage"),
                       (model.stage(enable), "the input's accept to the beat counter"),
                       (model.stage(compare), "the tree's winner against the running best"),
                       (model.stage(pick), "the running best's pick and select"))
        fix = ("" if self._levels_per_stage == 1 else "one comparison level per stage "
               "(levels_per_stage=1)")
        return ns, what, fix

    def retimed(self, model, clock_mhz):
        """This unit with as many comparison levels per stage as fit at ``clock_mhz``."""
        levels = model.stages_for(clock_mhz, self._level_ns(model),
                                  most=max(self.tree_levels, 1))
        if levels == self._levels_per_stage:
            return self
        return LabelSelect(in_shape=self._in_shape, channels=self._channels, pe=self._pe,
                           levels_per_stage=levels)

    def _level_ns(self, model):
        """One comparison level: compare two values, pick one (value and index)."""
        return model.carry(self._in_shape.width) + model.luts(1, fanout=2)

    def elaborate(self, platform):
        m = Module()
        pe, channels = self._pe, self._channels

        # Flow control by credit: the queue says whether a beat may enter (a flip-flop) and
        # holds the results; nothing downstream reaches the tree.
        m.submodules.queue = queue = self._queue()
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        accept = self.i.valid & queue.room
        m.d.comb += self.i.ready.eq(queue.room)

        if self.folds == 1:
            base, first, last = Const(0, unsigned(self._index_bits)), Const(1), Const(1)
        else:
            base = Signal(range(channels))               # index of lane 0 of this beat
            first, last = base == 0, base == channels - pe
            with m.If(accept):
                m.d.sync += base.eq(Mux(last, 0, base + pe))
        m.d.comb += queue.accept.eq(accept & last)

        # Candidates (value, code, lane), halved by one comparison level per stage; every
        # register loads every cycle, a valid bit beside them. The lane index is decoded from
        # the code (the comparisons that chose the candidate) only after the tree.
        level = [_Candidate(self.i.payload[lane], (), _lane_const(lane, self._index_bits))
                 for lane in range(pe)]
        valid, tags = accept, (base, first, last)
        for depth in range(max(self.tree_levels, 1)):
            if depth < self.tree_levels:
                level = _halve(level)
            if (depth + 1) % self._levels_per_stage and depth + 1 < self.tree_levels:
                continue                    # the next level shares this register stage
            level = [_register_candidate(m, cand, f"l{depth}_{k}")
                     for k, cand in enumerate(level)]
            valid = _register(m, (valid,), f"l{depth}_valid")[0]
            tags = _register(m, tags, f"l{depth}_tag")
        winner, = level
        best_val, best_lane = winner.value, winner.lane(winner.code)
        base, first, last = tags

        # The tree's last stage: the beat's winner (value, absolute index) and its place in
        # the vector. Then the running best of the vector so far.
        v1, first1 = Signal(), Signal()
        val1 = Signal(self._in_shape)
        idx1 = Signal(unsigned(self._index_bits))
        run_val = Signal(self._in_shape)
        run_idx = Signal(unsigned(self._index_bits))
        m.d.sync += [v1.eq(valid), val1.eq(best_val), idx1.eq(base + best_lane),
                     first1.eq(first)]

        # Whether val1 beats the running best is known a cycle early, from flip-flops: the
        # running best's compare and select in one loop (carry chain, pick, into run_val and
        # the result queue) took 6.0 ns in tiny_bnn at 200 MHz. The tree's winner is compared
        # with both values the best may hold next (val1 if val1 becomes the best, else
        # run_val); each comparison ends in a register of its own, and which one applies (a
        # flip-flop too) picks between them in the next cycle. A comparison and the pick in
        # one stage still took 5.3 ns.
        beats_val1, beats_run, val1_next = Signal(), Signal(), Signal()
        above = Mux(val1_next, beats_val1, beats_run)
        better = first1 | above
        m.d.sync += [beats_val1.eq(greater(best_val, val1)),
                     beats_run.eq(greater(best_val, run_val)),
                     val1_next.eq(v1 & better)]
        new_val = Mux(better, val1, run_val)
        new_idx = Mux(better, idx1, run_idx)
        # The queue writes this in the cycle a vector's last beat is here (stages - 1 after
        # its accept), from its own record of those cycles.
        m.d.comb += queue.w_data[0].eq(new_idx)
        with m.If(v1):
            m.d.sync += [run_val.eq(new_val), run_idx.eq(new_idx)]
        return m


class _Candidate(NamedTuple):
    """A candidate of the tree: its ``value``, its ``code`` (1-bit Values: the outcomes of
    the comparisons that chose it) and ``lane``, which gives its lane index (an unsigned
    Value of ``index_bits``) from a code of the same length."""
    value: Value
    code: tuple
    lane: Callable


def _lane_const(lane, bits):
    """``lane`` of a leaf: a constant, from an empty code."""
    return lambda code: Const(lane, unsigned(bits))


def _halve(candidates):
    """One comparison level: each pair's larger candidate, the lower lane among equals (the
    upper candidate wins only if strictly greater); an odd one out passes through.

    The winner's code is the pair's outcome after the two codes merged bit by bit; where
    one code is longer, its extra bits pass without a multiplexer (the other candidate's
    lane does not read them). So no code bit is a multiplexer with a constant arm, which
    Yosys would make a synchronous reset driven by the comparison (with a constant lane
    index through the tree and pe = 10, sfc_balanced's comparison carry ran through a LUT
    into an index register's LSR: 184.47 MHz at 200).
    """
    pairs = []
    for k in range(0, len(candidates) - 1, 2):
        low, high = candidates[k], candidates[k + 1]
        upper = greater(high.value, low.value)
        shared = min(len(low.code), len(high.code))
        longer = max(low.code, high.code, key=len)
        code = (*(Mux(upper, h, l) for h, l in zip(high.code, low.code)),
                *longer[shared:], upper)
        pairs.append(_Candidate(Mux(upper, high.value, low.value), code,
                                _lane_pick(low, high)))
    return pairs + candidates[len(candidates) & ~1:]


def _lane_pick(low, high):
    """The lane of a pair's winner from its code: ``high``'s if the last bit is set, else
    ``low``'s, in AND/OR form (no multiplexer with a constant arm: the lanes are constants)."""
    def lane(code):
        upper = code[-1]
        high_lane = high.lane(code[:len(high.code)])
        low_lane = low.lane(code[:len(low.code)])
        width = len(high_lane)
        return (high_lane & upper.replicate(width)) | (low_lane & (~upper).replicate(width))
    return lane


def _register_candidate(m, candidate, name):
    """``candidate`` one stage later (its value and code in registers, the same lane)."""
    value, *code = _register(m, (candidate.value, *candidate.code), name)
    return _Candidate(value, tuple(code), candidate.lane)


def _register(m, values, name):
    """``values`` (a tuple of Values) one stage later."""
    regs = tuple(Signal(Value.cast(v).shape(), name=f"{name}_{k}") for k, v in enumerate(values))
    m.d.sync += [reg.eq(v) for reg, v in zip(regs, values)]
    return regs
