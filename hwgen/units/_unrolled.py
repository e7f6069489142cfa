"""Datapath of fully unrolled binary layers: constant-weight popcounts, MST links and fused
thresholds, with a register stage wherever ``levels_per_stage`` levels of logic are used up.

Every value of the datapath is a :class:`Timed`: a Value with the register stage it
belongs to (registers between the unit's input and it) and the levels of logic since
that stage's registers. An operation (:meth:`Timeline.op`) first brings its operands
to the latest stage among them (delay registers, shared between all readers), and if
its own levels would push the result past ``levels_per_stage`` it registers the
operands first. So registers fall every ``levels_per_stage`` levels along every path,
across layer boundaries and MST links alike, and a path that fits the slack of a
stage costs no cycle. What counts as one level:

* a counter of four input bits (a LUT4 per count bit), an adder of two values (a
  popcount tree level, an MST link; a constant rides in it: a fused 1-bit threshold or
  an output offset), a compare of a count with a constant (multi-bit thresholds);
* nothing for an XNOR with a constant weight: a wire (+1) or an inverter (-1), which
  the LUT behind it absorbs.

:func:`levels_for_clock` derives ``levels_per_stage`` from a target clock
(calibrated on nextpnr-ecp5, see its docstring). Registers are free-running
(no enable, no reset): the unit around the datapath keeps flow control off it
(:class:`~hwgen.units.unrolled_chain.UnrolledChain`).
"""

import math
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Signal, unsigned

from ..ranges import range_shape
from ._checks import as_array, check_int
from ._mst import direct_plan, mst_plan

__all__ = ["Timed", "Timeline", "UnrolledLayer", "unrolled_layer", "build_layer",
           "levels_for_clock", "SHARES"]

SHARES = ("none", "mst")

# levels_for_clock: delay of one level and the fixed part of a stage (clock-to-out, setup,
# the first hop), ns, estimated for nextpnr-ecp5 on the LFE5U-85F speed 8;
# `benchmarks/unrolled.py --calibrate` fits them to placed and routed runs.
LEVEL_NS = 1.0
STAGE_NS = 1.2


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
    shared by both polarities).
    """
    value: object
    lo: int
    hi: int
    stage: object = 0
    level: int = 0
    inverted_of: object = None

    @property
    def constant(self):
        return self.stage is None


def constant(value):
    return Timed(Const(value, range_shape(value, value)), value, value, None, 0)


class Timeline:
    """Builds ops into ``m`` and places the register stages (see the module doc).

    ``m`` None plans only: nothing is built, stages and levels are tracked the same
    way, so a unit knows its latency before elaboration.
    """

    def __init__(self, m, levels_per_stage, name="u"):
        self.m = m
        self.limit = levels_per_stage
        self.name = name
        self.registers = 0             # register bits built
        self.synapses = 0              # XNOR bits fed to popcount trees
        self._later = {}               # Timed -> the same value one stage later
        self._serial = 0

    def _signal(self, shape, tag, keep=False):
        self._serial += 1
        # keep: Yosys would merge the adders between two registers into one multi-operand
        # sum, mapped as a carry-save tree of LUT full adders, deeper than the tree of
        # carry-chain adders written here.
        return Signal(shape, name=f"{tag}_{self._serial}", reset_less=True,
                      attrs={"keep": 1} if keep else {})

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
            later = Timed(value, t.lo, t.hi, t.stage + 1, 0)
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
        return Timed(value, 0, 1, t.stage, t.level, inverted_of=t)

    def op(self, operands, build, lo, hi, tag, levels=1):
        """``build(values)`` over ``operands`` (Timed), bounded by ``[lo, hi]``, ``levels`` deep."""
        timed = [t for t in operands if not t.constant]
        if not timed:
            raise ValueError("an op over constants only is folded by the caller")
        stage = max(t.stage for t in timed)
        operands = [self.at(t, stage) for t in operands]
        level = max(t.level for t in operands if not t.constant)
        if self.limit is not None and level and level + levels > self.limit:
            stage += 1
            operands = [self.at(t, stage) for t in operands]
            level = 0
        value = None
        if self.m is not None:
            value = self._signal(range_shape(lo, hi), f"{self.name}_{tag}", keep=True)
            self.m.d.comb += value.eq(build([t.value for t in operands]))
        return Timed(value, lo, hi, stage, level + levels)


def tree_sum(timeline, terms, tag):
    """Sum of ``terms`` (Timed) by a balanced tree of two-input adders (constants folded)."""
    return weighted_sum(timeline, *tree_root(timeline, terms, tag), tag)


def tree_root(timeline, terms, tag):
    """``(parts, offset)``: the operands of a balanced adder tree's root as ``(Timed, 1)``
    pairs and the sum of the constant terms, so the root's adder can take more constants.

    Single bits are first counted in groups of four, each bit of a group's 3-bit count one
    LUT4 of the four bits (one level; as two levels of two-input adders it took 7 LUTs and
    two levels per four bits).
    """
    offset = sum(t.lo for t in terms if t.constant)
    bits = [t for t in terms if not t.constant and (t.lo, t.hi) == (0, 1)]
    nodes = [t for t in terms if not t.constant and (t.lo, t.hi) != (0, 1)]
    groups = [bits[k:k + COUNTER] for k in range(0, len(bits), COUNTER)]
    nodes = [group[0] if len(group) == 1 else
             timeline.op(group, _count_bits, 0, len(group), f"{tag}n") for group in groups] + nodes
    while len(nodes) > 2:
        pairs = [timeline.op([a, b], lambda v: v[0] + v[1], a.lo + b.lo, a.hi + b.hi, tag)
                 for a, b in zip(nodes[0::2], nodes[1::2])]
        nodes = pairs + nodes[len(pairs) * 2:]
    return [(t, 1) for t in nodes], offset


#: single bits per leaf counter (a LUT4 per count bit)
COUNTER = 4


def _count_bits(values):
    """The count of the 1-bit ``values`` as truth tables (one LUT per count bit)."""
    n = len(values)
    index = Cat(*values)
    return Cat(*[Const(sum(((bin(i).count("1") >> b) & 1) << i for i in range(1 << n)),
                       1 << n).bit_select(index, 1)
                 for b in range(n.bit_length())])


def weighted_sum(timeline, parts, offset, tag):
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
        total = offset
        for value, k in zip(values, scales):
            total = total + (value << (k.bit_length() - 1) if k & (k - 1) == 0 and k > 0
                             else value * k)
        return total
    return timeline.op([t for t, _ in parts], build, lo, hi, tag)


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

    Each channel's count is held as ``v = popcount(xnor(x, W[c])) + K`` (``K``: the sum
    of the differing columns along its MST chain, see :mod:`hwgen.units._mst`), so
    ``y = 2 * popcount - MW = 2 * v - (MW + 2 * K)`` and a threshold ``y >= T`` is
    ``v >= ceil((T + MW + 2 * K) / 2)``: one compare of the count with a constant (the
    sign of ``v - t``), no separate thresholding stage. A compare that always holds or
    never does is a constant bit, and then the count it reads is never built.
    """
    if len(x) != layer.mw:
        raise ValueError(f"the layer reads {layer.mw} inputs, not {len(x)}")
    weights, plan = layer.weights, layer.plan
    polarity = [(xk, timeline.invert(xk) if not xk.constant else constant(1 - xk.lo))
                for xk in x]
    parts, counts = [None] * layer.mh, [None] * layer.mh

    def count_parts(c):
        """``(parts, offset)`` whose weighted sum is channel ``c``'s ``v`` (built on first use)."""
        if parts[c] is None:
            columns = plan.differing(weights, c)
            bits = [polarity[k][0] if weights[c, k] > 0 else polarity[k][1] for k in columns]
            timeline.synapses += len(bits)
            parent = plan.parent[c]
            if parent < 0:
                parts[c] = tree_root(timeline, bits, f"{tag}c{c}")
            elif not len(columns):                        # identical weights: the same count
                parts[c] = count_parts(parent)
            else:
                parts[c] = ([(count(parent), 1), (tree_sum(timeline, bits, f"{tag}d{c}"), 2)], 0)
        return parts[c]

    def count(c):
        """Channel ``c``'s ``v`` as one value (what an MST child or a multi-bit compare reads)."""
        if counts[c] is None:
            counts[c] = weighted_sum(timeline, *count_parts(c), f"{tag}v{c}")
        return counts[c]

    offsets = chain_offsets(plan, weights)
    outputs = []
    for c in range(layer.mh):
        k = offsets[c]
        if layer.thresholds is None:          # y = 2 * v - (MW + 2K), the offset in the root
            terms, offset = count_parts(c)
            outputs.append(weighted_sum(timeline, [(t, 2 * s) for t, s in terms],
                                        2 * offset - layer.mw - 2 * k, f"{tag}y{c}"))
        else:
            # v's exact bounds: inputs that are constant (a previous layer's constant
            # channel) agree or not for sure
            row = [polarity[j][0] if weights[c, j] > 0 else polarity[j][1]
                   for j in range(layer.mw)]
            bounds = (k + sum(b.lo for b in row), k + sum(b.hi for b in row))
            outputs.append(_thresholded(timeline, count, count_parts, c, k, bounds,
                                        layer.mw, layer.thresholds[c], f"{tag}t{c}"))
    return outputs


def chain_offsets(plan, weights):
    """``K`` per channel: the differing columns summed along its chain of MST links."""
    offsets = [0] * len(plan.parent)
    for c in plan.order:                       # parents come first
        if plan.parent[c] >= 0:
            offsets[c] = offsets[plan.parent[c]] + len(plan.differing(weights, c))
    return offsets


def _thresholded(timeline, count, count_parts, c, k, bounds, mw, row, tag):
    """``sum_j [y >= T_j]`` for channel ``c`` (count ``v`` in ``bounds``, within
    ``[k, k + MW]``).

    ``y >= T`` is ``v >= t`` with ``t = ceil((T + MW + 2K) / 2)``. One threshold: the sign
    test, ``v - t + 2**P`` computed by the count's own root adder (the constant rides in
    it), whose bit ``P`` is the answer. Several: compares of ``v`` with constants, summed.
    A compare that always holds or never does is a constant bit; the count is then not built.
    """
    levels = [-((-(t + mw + 2 * k)) // 2) for t in row]       # ceil
    lo, hi = bounds
    bits = []
    for j, t in enumerate(levels):
        if t <= lo:
            bits.append(constant(1))
        elif t > hi:
            bits.append(constant(0))
        elif len(row) == 1:
            # v - t + 2**p in [0, 2**(p + 1)) for every v in [lo, hi]
            p = max((t - lo - 1).bit_length(), (hi - t).bit_length())
            terms, offset = count_parts(c)
            biased = weighted_sum(timeline, terms, offset + (1 << p) - t, f"{tag}_s")
            bits.append(timeline.op([biased], lambda v, p=p: v[0][p], 0, 1, f"{tag}", levels=0))
        else:
            bits.append(timeline.op([count(c)], lambda v, t=t: v[0] >= t, 0, 1, f"{tag}_{j}"))
    return tree_sum(timeline, bits, tag) if len(bits) > 1 else bits[0]
