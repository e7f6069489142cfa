"""Datapath of fully unrolled binary layers: constant-weight popcounts, MST links and fused
thresholds, with a register stage wherever ``levels_per_stage`` levels of logic are used up.

Every value of the datapath is a :class:`Timed`: a Value with the register stage it
belongs to (registers between the unit's input and it) and the levels of logic since
that stage's registers. An operation (:meth:`Timeline.op`) first brings its operands
to the latest stage among them (delay registers, shared between all readers), and if
its own levels would push the result past ``levels_per_stage`` it registers the
operands first. So registers fall every ``levels_per_stage`` levels along every path,
MST links included, and a path that fits the slack of a stage costs no cycle.

A layer's input bits are the exception: each feeds a leaf counter of every channel
(up to a few hundred LUT inputs), a net that placed and routed takes longer than
the levels around it. With register stages, every layer starts at a register, in
several copies (:meth:`Timeline.fan_out`), so no flip-flop drives more than
``MAX_LOADS`` LUT inputs. Leaf counters are built once per distinct group of
input bits (:meth:`Timeline.leaf`): channels whose weights agree on a group's four
columns share its counter, which for random weights and 32 or more channels leaves
at most 16 counters per group instead of one per channel. With register stages the
sharing stays within ``LEAF_BLOCKS`` blocks of neighbouring channels, each reading its
own copies of the inputs: a leaf shared across the whole layer had its adders spread
over the die (jsc_m_unrolled, seed 1: 109.5 MHz with one block, 116.4 MHz with two,
for 12,587 -> 13,872 LUTs; four blocks would pass LogicNets' 14,576). What counts as
one level:

* a counter of four input bits (a LUT4 per count bit), an adder of two values (a
  popcount tree level, an MST link; a constant rides in it: a fused 1-bit threshold or
  an output offset), a compare of a count with a constant (multi-bit thresholds);
* nothing for an XNOR with a constant weight: a wire (+1) or an inverter (-1), which
  the LUT behind it absorbs.

With a period in ns instead (``period_ns``, what networks use: the target's ``clock_mhz``)
the same walk adds estimated delays (:data:`ECP5_NS`, read off placed critical paths)
instead of levels, wires included: a shared leaf's route to its adders, the route between
adders, and at a layer boundary either register copies (the wire to them at the end of a
stage, the wire from them at the start of the next) or, where it fits the stage, the
wire from the previous layer's outputs straight to the next layer's leaves (no register
there: stages then end anywhere in a layer, not only at its start). A channel's last
sum keeps room for the wire to the copies, so its output does not take a stage of its
own. :func:`levels_for_clock` derives ``levels_per_stage`` from a target clock for the
level rule. Registers are free-running
(no enable, no reset): the unit around the datapath keeps flow control off it
(:class:`~hwgen.units.unrolled_chain.UnrolledChain`).
"""

import math
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, unsigned

from ..ranges import range_shape
from ._checks import as_array, check_int
from ._mst import direct_plan, mst_plan

__all__ = ["Timed", "Timeline", "Delays", "UnrolledLayer", "unrolled_layer", "build_layer",
           "fan_out_copies", "leaf_blocks", "levels_for_clock", "SHARES", "LEAF_BLOCKS",
           "LEVELS", "ECP5_NS"]

SHARES = ("none", "mst")

# levels_for_clock: delay of one level and the fixed part of a stage (clock-to-out, setup,
# the first hop), ns, for nextpnr-ecp5 on the LFE5U-85F speed 8. Not the fit: placed with
# seed 1 (benchmarks/unrolled.py --calibrate 3,4), jsc_m_unrolled took 7.56 ns at 3 levels
# and 8.95 ns at 4, i.e. 3.41 ns + 1.39 ns per level (a route across the design from a
# layer's input copies is most of the fixed part); by that line 200 MHz allows 1 level, at
# about three times the cycles. 0.95 ns per level picks 4 at 200 MHz, the lowest latency
# in ns of the placed runs (9 cycles, 80.5 ns), 2 at 250 MHz and 9 at 100 MHz.
LEVEL_NS = 0.95
STAGE_NS = 1.2


@dataclass(frozen=True)
class Delays:
    """What one op and the route into it cost, for :class:`Timeline` to place registers by.

    ``leaf``, ``adder`` are an op's logic (a leaf counter's LUT, a carry chain); ``route``
    the wire from an adder to the next op, ``shared_leaf`` / ``own_leaf`` the wire from a
    leaf counter to its first adder (a leaf shared by several channels is farther from
    some); ``copy`` from a layer's input copy (:meth:`Timeline.fan_out`) to a leaf,
    ``to_copies`` from a layer's output to its copies; ``crossing`` from a layer's output
    straight to the next layer's leaves (every channel reads it), None: a layer's inputs
    are always registered in copies; ``queue`` the route into the output queue;
    ``to_register`` from an op to a register behind it (kept free by every op, since any
    result may be registered); ``fixed`` the register's clock-to-out and setup, taken off
    the period.
    """
    leaf: float
    adder: float
    route: float = 0.0
    shared_leaf: float = 0.0
    own_leaf: float = 0.0
    copy: float = 0.0
    to_copies: float = 0.0
    crossing: object = None
    queue: float = 0.0
    fixed: float = 0.0
    to_register: float = 0.0


#: ``levels_per_stage``: every leaf, adder or compare one level, wires free, every layer's
#: inputs registered
LEVELS = Delays(leaf=1, adder=1)
# ns on nextpnr-ecp5, LFE5U-85F speed 8, read off jsc_m_unrolled's placed critical paths
# (``python benchmarks/delay_model.py WORK --unrolled`` on benchmarks/unrolled.py's reports).
# Seeds 1-3 at 143 MHz, 10 cycles (127-132 MHz): every critical path the last layer's one
# stage, a copy to a leaf 1.40-1.74 (median 1.60; was estimated 0.96), the leaf's LUT 0.18,
# the leaf to its own adder 0.80-1.30 (0.84), a carry chain 0.68, one chain's output to the
# next chain 0.80-1.01 (0.86; was 0.75: what the estimate missed most often, three such
# nets per stage), into the output queue 0.73-0.85, clock-to-out 0.40. Earlier placements:
# a layer's output to its copies 1.55; straight to a leaf of the next layer (a net of
# 50-200 LUT inputs across it) 3.47, then from that leaf to the register behind it 0.39
# (126.0 MHz at 10 cycles, 7.94 ns: with the figures above the estimate of that stage was
# 7.67 ns, the rest in its routes of 1.01-1.05, so the crossing counts 3.8); a shared leaf
# to its adder 2.02.
ECP5_NS = Delays(leaf=0.2, adder=0.7, route=0.86, shared_leaf=2.0, own_leaf=0.85, copy=1.6,
                 to_copies=1.55, crossing=3.8, queue=0.8, fixed=0.45, to_register=0.4)


def levels_for_clock(clock_mhz, level_ns=LEVEL_NS, stage_ns=STAGE_NS):
    """Levels of logic per register stage that meet ``clock_mhz``: ``floor((period -
    stage_ns) / level_ns)``, at least 1.

    The constants estimate the critical path of unrolled layers placed and routed by
    nextpnr-ecp5 on the LFE5U-85F speed 8 (``stage_ns`` clock-to-out, setup and the
    first route; ``level_ns`` an adder level with its routing). A per-family delay
    model replaces them by passing its own figures.
    """
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)) or clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be a positive number, not {clock_mhz!r}")
    return max(1, math.floor((1000.0 / clock_mhz - stage_ns) / level_ns + 1e-9))


@dataclass(eq=False)
class Timed:
    """A datapath value, its bounds and when it is there.

    ``stage`` counts the register stages since the unit's input (None: a constant,
    there at any stage); ``level`` the levels of logic after them. ``inverted_of``
    is set on ``~x`` of a 1-bit ``x`` so that delaying it delays ``x`` (one register
    shared by both polarities). ``copies`` (a tuple of Timed, itself first) are the
    same bit in separate registers (:meth:`Timeline.fan_out`), among which readers
    are spread.
    """
    value: object
    lo: int
    hi: int
    stage: object = 0
    level: int = 0
    inverted_of: object = None
    copies: object = None
    boundary: object = None
    route: float = 0.0

    @property
    def constant(self):
        return self.stage is None


def constant(value):
    return Timed(Const(value, range_shape(value, value)), value, value, None, 0)


class Timeline:
    """Builds ops into ``m`` and places the register stages (see the module doc).

    ``m`` None plans only: nothing is built, stages and levels are tracked the same
    way, so a unit knows its latency before elaboration. ``budget`` is what a stage may
    hold in ``delays``' units (:class:`Delays`: levels, or ns less the register's own);
    None: no register inside.
    """

    def __init__(self, m, budget, name="u", copies=(), delays=None):
        self.m = m
        self.limit = budget
        self.delays = LEVELS if delays is None else delays
        self.leaf_route = 0.0          # wire from a leaf of the layer being built to its adder
        self.name = name
        self.copies = tuple(copies)    # register copies per fan_out call (default 1)
        self.loads = []                # per fan_out call: the most LUT inputs one bit feeds
        self.registers = 0             # register bits built
        self.synapses = 0              # XNOR bits fed to popcount trees
        self._later = {}               # Timed -> the same value one stage later
        self._leaves = {}              # tuple of Timed bits -> their leaf count
        self._reads = {}               # input bit -> LUT inputs fed per copy so far
        self._boundaries = 0
        self._serial = 0
        self.block = 0                 # the channel block whose leaves are built (leaf)
        self.blocks = 1                # channel blocks of the layer being built

    def _signal(self, shape, tag, keep=False, carry=False):
        self._serial += 1
        # keep: Yosys would merge the adders between two registers into one multi-operand
        # sum, mapped as a carry-save tree of LUT full adders, deeper than the tree of
        # carry-chain adders written here. carry: a sum Yosys's ECP5 flow would map to
        # LUTs (up to 4 bits: two 3-bit leaf counts took three LUT4 levels where one adder
        # level was counted) goes to a carry chain all the same (hwgen.toolchain: the
        # flow maps the $alu driving a wire marked hwgen_carry to CCU2C cells).
        attrs = {"keep": 1} if keep else {}
        if carry and shape.width == SMALL_SUM:
            attrs["hwgen_carry"] = 1
        return Signal(shape, name=f"{tag}_{self._serial}", reset_less=True, attrs=attrs)

    @property
    def leaf_counters(self):
        """Distinct leaf counters built so far (:meth:`leaf`)."""
        return len(self._leaves)

    def register(self, t):
        """``t`` one stage later (the register is built once per value)."""
        if t in self._later:
            return self._later[t]
        if t.inverted_of is not None:
            later = self.invert(self.register(t.inverted_of))
        else:
            value = None
            if self.m is not None:
                value = self._signal(range_shape(t.lo, t.hi), f"{self.name}_r{t.stage + 1}")
                self.m.d.sync += value.eq(t.value)
            self.registers += range_shape(t.lo, t.hi).width
            # the register sits by its source: its readers are as far as they were
            later = Timed(value, t.lo, t.hi, t.stage + 1, 0, route=t.route)
        self._later[t] = later
        return later

    def at(self, t, stage):
        """``t`` at ``stage`` (>= its own; constants as they are)."""
        while not t.constant and t.stage < stage:
            t = self.register(t)
        return t

    def invert(self, t):
        """``~t`` of a 1-bit value: no level (an inverter the next LUT absorbs)."""
        value = None if self.m is None else ~t.value
        inverted = Timed(value, 0, 1, t.stage, t.level, inverted_of=t, route=t.route)
        if t.copies is not None:
            inverted.copies = (inverted,) + tuple(self.invert(c) for c in t.copies[1:])
        return inverted

    def fan_out(self, bits):
        """``bits`` (1-bit Timed) registered one stage later, in as many copies as the
        timeline was given for this call (``copies``); ``loads`` records what they feed.

        Each copy is a register bank in a submodule of its own: the flow synthesises
        without flattening, so Yosys cannot merge the copies (equal registers in one
        module it would), and nextpnr gets ``copies`` drivers to spread the loads over.
        """
        self._boundaries += 1
        copies = self.copies[self._boundaries - 1] if self._boundaries <= len(self.copies) else 1
        self.loads.append(0)
        banks = []
        for j in range(copies):
            bank = None
            if self.m is not None:
                bank = Module()
                self.m.submodules[f"{self.name}_fan{self._boundaries}_{j}"] = bank
            banks.append(bank)
        out = []
        for k, t in enumerate(bits):
            if t.constant:
                out.append(t)
                continue
            if t.level and self.limit is not None and t.level + self.delays.to_copies > self.limit:
                t = self.register(t)        # no time left for the wire to the copies
            regs = []
            for j, bank in enumerate(banks):
                value = None
                if bank is not None:
                    value = self._signal(1, f"{self.name}_f{self._boundaries}_{k}_{j}")
                    bank.d.sync += value.eq(t.value)
                self.registers += 1
                regs.append(Timed(value, 0, 1, t.stage + 1, 0, route=self.delays.copy))
            first = regs[0]
            first.copies = tuple(regs)
            first.boundary = self._boundaries - 1
            out.append(first)
        return out

    def leaf(self, bits, tag, bias=0):
        """``bias`` + the count of the 1-bit ``bits`` (a LUT per result bit, one level), built
        once per distinct group and bias and per block of channels (``self.block`` of
        ``self.blocks``, set by :func:`build_layer`): channels of a block whose weights agree
        on a group's columns share it (a bias makes it a channel's own, see :func:`tree_root`).

        A block reads its own share of the inputs' copies (:meth:`fan_out`), the one that
        feeds the fewest LUT inputs so far.
        """
        key = (tuple(bits), bias, self.block)
        if key not in self._leaves:
            shape = range_shape(bias, bias + len(bits))
            inputs = [b.inverted_of or b for b in bits]
            copies = min(len(b.copies) if b.copies else 1 for b in inputs)
            # the copy that feeds the fewest LUT inputs so far from these inputs
            loads = [self._reads.setdefault(b, [0] * copies) for b in inputs]
            totals = [sum(load[j] for load in loads) for j in range(copies)]
            # a block of channels reads its own copies, so that each copy's loads stay in a
            # few neighbouring channels (LEAF_BLOCKS)
            first = self.block * copies // self.blocks
            own = range(first, max(first + 1, (self.block + 1) * copies // self.blocks))
            turn = min(own, key=lambda j: totals[j])
            for b, load in zip(inputs, loads):
                load[turn] += shape.width
                if b.boundary is not None:
                    self.loads[b.boundary] = max(self.loads[b.boundary], sum(load))
            chosen = [b.copies[turn] if b.copies else b for b in bits]
            # Each leaf in a submodule of its own (the flow maps LUTs per module): bit 0 of
            # every leaf of a group is the parity of its four inputs or its complement, and
            # ABC, mapping them together, built one parity LUT and an inverter LUT behind it
            # for the other polarity, two levels where one was counted.
            into = None
            if self.m is not None:
                into = Module()
                self.m.submodules[f"{self.name}_leaf{len(self._leaves)}"] = into
            leaf = self.op(chosen, lambda v: _count_bits(v, bias, shape), bias, bias + len(bits),
                           tag, delay=self.delays.leaf, into=into)
            leaf.route = self.leaf_route
            self._leaves[key] = leaf
        return self._leaves[key]

    def op(self, operands, build, lo, hi, tag, delay=None, carry=False, into=None, wire=False,
           reserve=0.0):
        """``build(values)`` over ``operands`` (Timed), bounded by ``[lo, hi]``, taking ``delay``
        (default: an adder's) after the route from the latest operand; ``wire``: no logic, a
        bit of an operand (no route either); ``carry``: ``build`` is a sum, to be a carry
        chain however narrow (:meth:`_signal`); ``into``: the module that holds its logic
        (default: the timeline's); ``reserve``: time the result still needs in its stage
        (a layer's output: the wire to its copies), or its operands are registered first."""
        timed = [t for t in operands if not t.constant]
        if not timed:
            raise ValueError("an op over constants only is folded by the caller")
        delay = self.delays.adder if delay is None else delay
        stage = max(t.stage for t in timed)
        operands = [self.at(t, stage) for t in operands]
        live = [t for t in operands if not t.constant]
        if wire:
            level = max(t.level for t in live)
        else:
            level = max(t.level + t.route for t in live) + delay
            if (self.limit is not None and any(t.level for t in live)
                    and level + max(reserve, self.delays.to_register) > self.limit):
                stage += 1
                operands = [self.at(t, stage) for t in operands]
                level = max(t.route for t in operands if not t.constant) + delay
        value = None
        if self.m is not None:
            value = self._signal(range_shape(lo, hi), f"{self.name}_{tag}", keep=True,
                                 carry=carry)
            module = self.m if into is None else into
            module.d.comb += value.eq(build([t.value for t in operands]))
        return Timed(value, lo, hi, stage, level, route=self.delays.route)

    def layer_inputs(self, x, first):
        """A layer's input bits ``x`` as its leaves read them: straight from the previous
        layer where the model allows it and the wire across fits the stage, else in
        register copies (:meth:`fan_out`; always for the unit's input)."""
        live = [t for t in x if not t.constant]
        crossing = self.delays.crossing
        if (first or crossing is None or not live
                or max(t.level for t in live) + crossing + self.delays.leaf
                + self.delays.to_register > self.limit):
            return self.fan_out(x)
        out = []
        for t in x:
            if not t.constant:
                t = Timed(t.value, t.lo, t.hi, t.stage, t.level, inverted_of=t.inverted_of,
                          route=crossing)
            out.append(t)
        return out

    def settle(self, t):
        """An output ``t`` registered if the route into the output queue does not fit."""
        if t.constant or not t.level or t.level + self.delays.queue <= self.limit:
            return t
        return self.register(t)


def tree_sum(timeline, terms, tag, bias=0, spread=0):
    """``bias`` + the sum of ``terms`` (Timed) by a balanced tree of two-input adders."""
    return weighted_sum(timeline, *tree_root(timeline, terms, tag, bias, spread), tag)


def tree_root(timeline, terms, tag, bias=0, spread=0):
    """``(parts, offset)``: the operands of a balanced adder tree's root as ``(Timed, 1)``
    pairs, whose sum plus ``offset`` is ``bias`` + the sum of ``terms``.

    Single bits are first counted in groups of four, each bit of a group's 3-bit count one
    LUT4 of the four bits (one level; as two levels of two-input adders it took 7 LUTs and
    two levels per four bits). The constant (``bias`` and the constant terms) goes into
    the first group's LUTs, which then are the channel's own: a constant in the root adder
    made Yosys build a three-operand sum, a level of LUT full adders before the carry
    chain (12 LUT4 more per 6-bit root). ``spread`` picks the group (channels take turns,
    so the biased leaves, a LUT per result bit each, load all inputs alike). ``offset`` is
    0 then, else (no group) the constant.
    """
    offset = bias + sum(t.lo for t in terms if t.constant)
    bits = [t for t in terms if not t.constant and (t.lo, t.hi) == (0, 1)]
    nodes = [t for t in terms if not t.constant and (t.lo, t.hi) != (0, 1)]
    groups = [bits[k:k + COUNTER] for k in range(0, len(bits), COUNTER)]
    home = spread % len(groups) if groups else None     # the group that takes the constant
    leaves = []
    for index, group in enumerate(groups):
        if index == home and (len(group) > 1 or offset):
            leaves.append(timeline.leaf(group, f"{tag}n", offset))
            offset = 0
        elif len(group) > 1:
            leaves.append(timeline.leaf(group, f"{tag}n"))
        else:
            leaves.append(group[0])
    nodes = leaves + nodes
    while len(nodes) > 2:
        pairs = [timeline.op([a, b], lambda v: v[0] + v[1], a.lo + b.lo, a.hi + b.hi, tag,
                             carry=True)
                 for a, b in zip(nodes[0::2], nodes[1::2])]
        nodes = pairs + nodes[len(pairs) * 2:]
    return [(t, 1) for t in nodes], offset


#: single bits per leaf counter (a LUT4 per count bit)
COUNTER = 4
#: sums of at most this many bits Yosys's ECP5 flow maps to LUTs (``_TECHMAP_FAIL_`` for
#: ``Y_WIDTH <= 4`` in its CCU2C map); those of exactly 4 bits take more than one LUT level
SMALL_SUM = 4
#: LUT inputs one register copy of a layer's input bit drives at most
MAX_LOADS = 16
#: blocks of consecutive channels per layer whose leaf counters are their own and read
#: their own register copies of the inputs (with register stages; see the module doc)
LEAF_BLOCKS = 2


#: a layer of at most this many synapses gets leaf counters of its own per channel where the
#: delay model says a shared leaf costs time (:func:`leaf_blocks`)
OWN_LEAVES_SYNAPSES = 1024


def leaf_blocks(layer, delays):
    """``(blocks, route)``: the channel blocks that share leaf counters in ``layer`` and the
    route from a leaf to its first adder: ``LEAF_BLOCKS`` shared ones, or one per channel
    (own leaves) for a small layer when ``delays`` makes a shared leaf's route longer."""
    if delays.shared_leaf > delays.own_leaf and layer.mh * layer.mw <= OWN_LEAVES_SYNAPSES:
        return layer.mh, delays.own_leaf
    return LEAF_BLOCKS, delays.shared_leaf


def fan_out_copies(loads):
    """Register copies of a layer's input bit that feeds ``loads`` LUT inputs, so that no copy
    drives more than about ``MAX_LOADS`` (the leaves are spread over the copies)."""
    return max(1, -(-loads // MAX_LOADS))


def _count_bits(values, bias, shape):
    """``bias`` + the count of the 1-bit ``values`` as truth tables (a LUT per result bit)."""
    index = Cat(*values)
    codes = [(bin(i).count("1") + bias) & ((1 << shape.width) - 1)
             for i in range(1 << len(values))]
    result = Cat(*[Const(sum(((code >> b) & 1) << i for i, code in enumerate(codes)),
                         len(codes)).bit_select(index, 1)
                   for b in range(shape.width)])
    return result.as_signed() if shape.signed else result


def weighted_sum(timeline, parts, offset, tag, reserve=0.0):
    """``sum(scale * t) + offset`` over ``parts`` ``(Timed, scale)``: one adder level (the
    constant rides in the adder: a threshold or an output offset costs no level of its own).
    Constant-only or a lone unscaled part needs no adder."""
    offset += sum(k * t.lo for t, k in parts if t.constant)     # e.g. an MST parent's count
    parts = [(t, k) for t, k in parts if k and not t.constant]   # on constant inputs only
    lo = offset + sum(min(k * t.lo, k * t.hi) for t, k in parts)
    hi = offset + sum(max(k * t.lo, k * t.hi) for t, k in parts)
    if not parts:
        return constant(offset)
    if len(parts) == 1 and parts[0][1] == 1 and not offset:
        return parts[0][0]
    scales = [k for _, k in parts]

    def build(values):
        terms = [value << (k.bit_length() - 1) if k & (k - 1) == 0 and k > 0 else value * k
                 for value, k in zip(values, scales)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        # the constant last: a + b + 1 is one carry chain (the 1 its carry-in)
        return total + offset if offset else total
    return timeline.op([t for t, _ in parts], build, lo, hi, tag, carry=True, reserve=reserve)


@dataclass(frozen=True, eq=False)
class UnrolledLayer:
    """One binary layer with constant weights, as :func:`build_layer` builds it.

    ``weights`` int8 [MH, MW] of -1/+1; ``thresholds`` None (the output is
    ``y = 2 * popcount - MW``, ``out_shape`` signed) or [MH, 2**out_bits - 1] sorted
    rows of integer thresholds on that ``y`` (the output is ``sum_j [y >= T[c, j]]``,
    ``unsigned(out_bits)``); ``plan`` the MST :class:`~hwgen.units._mst.SharePlan`.
    """
    weights: np.ndarray
    thresholds: object
    plan: object
    share: str
    share_depth: int

    @property
    def mh(self):
        return self.weights.shape[0]

    @property
    def mw(self):
        return self.weights.shape[1]

    @property
    def out_bits(self):
        return None if self.thresholds is None else len(self.thresholds[0]).bit_length()

    @property
    def acc_shape(self):
        """Shape of ``y = 2 * popcount - MW`` (the MVAU's accumulator)."""
        return range_shape(-self.mw, self.mw, min_width=2)

    @property
    def out_shape(self):
        return self.acc_shape if self.thresholds is None else unsigned(self.out_bits)


def unrolled_layer(weights, thresholds=None, *, share="none", share_depth=2, link_cost=0):
    """A checked :class:`UnrolledLayer` (TypeError/ValueError saying what is wrong).

    ``link_cost`` (synapse ops) is what one MST link's adder costs: a channel reuses
    another only when the differing columns plus that cost are cheaper than its own
    popcount (see :func:`~hwgen.units._mst.mst_plan`).
    """
    from .mvau import _check_weights
    if share not in SHARES:
        raise TypeError(f"share must be one of {', '.join(map(repr, SHARES))}, not {share!r}")
    share_depth = check_int("share_depth", share_depth, minimum=1)
    link_cost = check_int("link_cost", link_cost, minimum=0)
    weights = _check_weights(weights)
    mh, mw = weights.shape
    rows = None if thresholds is None else _check_thresholds(thresholds, mh)
    plan = (mst_plan(weights, share_depth, link_cost=link_cost) if share == "mst"
            else direct_plan(weights))
    return UnrolledLayer(weights, rows, plan, share, share_depth)


def _check_thresholds(thresholds, mh):
    array, given = as_array("thresholds", thresholds, "[MH, 2**out_bits - 1] of integers")
    if array.dtype.kind not in "iu" and not (array.dtype.kind == "f"
                                            and np.all(array == np.round(array))):
        raise TypeError(f"thresholds must be integers, not {given}")
    if array.ndim != 2 or array.shape[0] not in (1, mh):
        raise ValueError(f"thresholds must be [{mh}, 2**out_bits - 1] or [1, 2**out_bits - 1] "
                         f"(one row per output channel, or one for all), not of shape "
                         f"{array.shape}")
    count = array.shape[1]
    if count < 1 or count & (count + 1) or count > 15:
        raise ValueError(f"thresholds must have 2**out_bits - 1 columns for out_bits 1..4 "
                         f"(1, 3, 7 or 15), not {count}")
    rows = np.broadcast_to(array.astype(np.int64), (mh, count))
    unsorted = np.flatnonzero(np.any(np.diff(rows, axis=1) < 0, axis=1))
    if len(unsorted):
        raise ValueError(f"thresholds row {int(unsorted[0])} must be sorted ascending, not "
                         f"{rows[unsorted[0]].tolist()}")
    return tuple(tuple(int(t) for t in row) for row in rows)


def build_layer(timeline, x, layer, tag):
    """``layer``'s outputs (a Timed per channel) from its binary inputs ``x`` (Timed bits).

    Each channel's count is ``v = popcount(xnor(x, W[c])) + K`` (``K``: the sum of the
    differing columns along its MST chain, see :mod:`hwgen.units._mst`), so
    ``y = 2 * popcount - MW = 2 * v - (MW + 2 * K)`` and a threshold ``y >= T`` is
    ``v >= t = ceil((T + MW + 2 * K) / 2)``. The hardware holds ``v + B``, a bias ``B``
    per channel carried in a leaf counter's LUTs (:func:`tree_root`): ``2**p - t`` for one
    threshold, so that the root adder's bit ``p`` is ``[v >= t]`` (a sign test, no
    separate thresholding stage, no constant in the adder); ``-(MW + 2K) // 2`` without
    thresholds, so that ``y`` is the root's sum doubled (plus a carry-in when odd). A
    compare that always holds or never does is a constant bit, and then the count it
    reads is never built.
    """
    if len(x) != layer.mw:
        raise ValueError(f"the layer reads {layer.mw} inputs, not {len(x)}")
    weights, plan = layer.weights, layer.plan
    polarity = [(xk, timeline.invert(xk) if not xk.constant else constant(1 - xk.lo))
                for xk in x]
    offsets = chain_offsets(plan, weights)
    plans = [_channel_plan(layer, polarity, offsets[c], c) for c in range(layer.mh)]
    parts, counts = [None] * layer.mh, [None] * layer.mh

    def count_parts(c):
        """``(parts, offset)`` whose weighted sum is ``v + B`` of channel ``c`` (built once)."""
        if parts[c] is None:
            outer = timeline.block
            timeline.block = c * timeline.blocks // layer.mh
            columns = plan.differing(weights, c)
            bits = [polarity[k][0] if weights[c, k] > 0 else polarity[k][1] for k in columns]
            timeline.synapses += len(bits)
            parent, bias = plan.parent[c], plans[c].bias
            if parent < 0:
                parts[c] = tree_root(timeline, bits, f"{tag}c{c}", bias, spread=c)
            elif not len(columns):                        # identical weights: the same count
                parts[c] = ([(count(parent), 1)], bias - plans[parent].bias)
            else:
                # v + B = (v_parent + B_parent) + 2 * (d + b) + r, with r the carry-in
                carry = (bias - plans[parent].bias) % 2
                diff = tree_sum(timeline, bits, f"{tag}d{c}",
                                (bias - plans[parent].bias - carry) // 2, spread=c)
                parts[c] = ([(count(parent), 1), (diff, 2)], carry)
            timeline.block = outer
        return parts[c]

    # a threshold's bit leaves the layer: room for the wire to the next layer's copies
    reserve = timeline.delays.to_copies

    def count(c):
        """Channel ``c``'s ``v + B`` as one value."""
        if counts[c] is None:
            counts[c] = weighted_sum(timeline, *count_parts(c), f"{tag}v{c}", reserve=reserve)
        return counts[c]

    outputs = []
    for c, channel in enumerate(plans):
        if layer.thresholds is None:          # y = 2 * (v + B) + odd
            terms, offset = count_parts(c)
            outputs.append(weighted_sum(timeline, [(t, 2 * s) for t, s in terms],
                                        2 * offset + channel.odd, f"{tag}y{c}"))
            continue
        bits = []
        for j, t in enumerate(channel.levels):
            if t is True or t is False:
                bits.append(constant(int(t)))
            elif channel.sign_bit is not None:
                bits.append(timeline.op([count(c)], lambda v, p=channel.sign_bit: v[0][p],
                                        0, 1, f"{tag}t{c}", wire=True))
            else:
                bits.append(timeline.op([count(c)], lambda v, t=t: v[0] >= t, 0, 1,
                                        f"{tag}t{c}_{j}"))
        outputs.append(tree_sum(timeline, bits, f"{tag}t{c}") if len(bits) > 1 else bits[0])
    return outputs


@dataclass(frozen=True)
class _ChannelPlan:
    """How a channel's count is held and read: ``v + bias``; ``levels`` the compare
    constants on ``v + bias`` (True/False: always/never met); ``sign_bit`` the bit of
    ``v + bias`` that is the one threshold's answer; ``odd`` the carry-in of ``y``."""
    bias: int
    levels: tuple = ()
    sign_bit: object = None
    odd: int = 0


def _channel_plan(layer, polarity, k, c):
    """The :class:`_ChannelPlan` of channel ``c`` (chain offset ``k``): see :func:`build_layer`.

    ``v``'s exact bounds count inputs that are constant (a previous layer's constant
    channel) as agreeing or not for sure.
    """
    mw = layer.mw
    if layer.thresholds is None:
        total = -(mw + 2 * k)
        return _ChannelPlan(bias=total // 2, odd=total % 2)
    row = [polarity[j][0] if layer.weights[c, j] > 0 else polarity[j][1] for j in range(mw)]
    lo, hi = k + sum(b.lo for b in row), k + sum(b.hi for b in row)
    targets = [-((-(t + mw + 2 * k)) // 2) for t in layer.thresholds[c]]      # ceil
    live = [t for t in targets if lo < t <= hi]
    if len(targets) == 1 and live:
        t = live[0]
        # v - t + 2**p in [0, 2**(p + 1)) for every v in [lo, hi]: its bit p is [v >= t]
        p = max((t - lo - 1).bit_length(), (hi - t).bit_length())
        return _ChannelPlan(bias=(1 << p) - t, levels=(t,), sign_bit=p)
    return _ChannelPlan(bias=0, levels=tuple(True if t <= lo else False if t > hi else t
                                             for t in targets))


def chain_offsets(plan, weights):
    """``K`` per channel: the differing columns summed along its chain of MST links."""
    offsets = [0] * len(plan.parent)
    for c in plan.order:                       # parents come first
        if plan.parent[c] >= 0:
            offsets[c] = offsets[plan.parent[c]] + len(plan.differing(weights, c))
    return offsets
