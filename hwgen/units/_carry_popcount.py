"""A mismatch count on ECP5 carry cells with the XORs inside their LUT4s (issue #18).

``mismatch_count(m, x, w, ...)`` builds ``sum_k (x[k] ^ w[k])`` over ``n``
bits from ``CCU2C`` halves only (:mod:`._ccu2c`), one LUT4 each; the XNOR
count is ``n`` minus it (``popcount(xnor) = n - popcount(xor)``), which the
binary MVAU folds into its accumulator (it subtracts the mismatches from a
start value ``+MW``). Counting mismatches rather than agreements is what lets
the XORs live in the adders: a half's generate ``G = F(A, B, 0, 0)`` equals its
first operand ``A ^ B`` exactly when the second operand ``C ^ D`` is 0 at
``C = D = 0``, which an XNOR is not.

The tree: ``M(n) = M(a) + M(b) + d`` with ``a + b + 1 = n`` (the split with the
fewest halves, then the fewest levels), each ``+`` one ripple adder on the
carry chain whose carry in ``d`` is one more mismatch, and

- ``M(3)``, ``M(2)`` (leaves): one half adds two mismatches, its pins the two
  synapses' activation and weight bits (``F = A ^ B ^ C ^ D``, ``G = A ^ B``);
  the third comes in as the carry;
- a mismatch as the operand of a wider adder sits in its bit-0 half (pins
  ``A, B``; the other operand's bit on ``D``, the LUT4's fastest input; ``C``
  high, so the generate's entries ``C = D = 0`` are free);
- the other halves add one bit of each operand (``A``, ``D``; ``C`` high).

A carry in is put on the chain by a *junction* half in front of the adder:
its propagate is 0, so its ``COUT`` is its ``G``, the XOR of a synapse's two
bits, and its ``S`` is the carry coming in: the carry out of the adder before
it on the chain, its top bit. So one chain holds several adders, a junction
between two, and a junction costs one half: it ends one adder and starts the
next. The adders between two register stages are one chain per tree (in
level order; a junction's ``COUT`` does not depend on its ``CIN``, so the
longer chain adds only the cells' carry delay, 43-60 ps each, to paths that
nextpnr cannot tell are false), started with a constant carry in and
padded to whole cells. 1.5 halves (LUT4) per synapse at 32 and 64 synapses
(48 and 96), XORs included; no LUT4 outside the cells.

Latency: ``len(registers)`` cycles; combinational between them.

Levels and registers as for :func:`~.popcount.xnor_popcount`: level 0 is the
inputs, an adder's level is one more than its operands' highest, ``depth``
levels give the count; ``registers`` lists levels followed by a register
stage (levels beyond ``depth``: after the count). Registers are built by
``stages`` (anything with ``register(value, shape, name)``) or with ``enable``.
"""

import itertools
from dataclasses import dataclass
from functools import cache

from amaranth.hdl import Cat, Const, Signal

from ._ccu2c import ccu2c, half_init
from ._checks import check_int
from ._pipeline import Stages

__all__ = ["carry_depth", "carry_halves", "carry_stage_levels", "mismatch_count"]


@dataclass(frozen=True)
class _Add:
    """An adder of the tree: operands ``u``, ``v`` (a synapse index, an :class:`_Add`, or
    None), carry in ``cin`` (a synapse index or None); ``top`` its largest sum."""
    u: object
    v: object
    cin: object
    top: int
    level: int


def _tree(lo, hi):
    """The tree over synapses ``lo .. hi - 1``: a synapse index, an :class:`_Add`, or None."""
    size = hi - lo
    if size <= 0:
        return None
    if size == 1:
        return lo
    if size <= 3:
        return _Add(lo, lo + 1, lo + 2 if size == 3 else None, size, 1)
    a = _split(size)[2]
    u, v = _tree(lo + 1, lo + 1 + a), _tree(lo + 1 + a, hi)
    return _Add(u, v, lo, size, 1 + max(_level(u), _level(v)))


@cache
def _split(size):
    """``(halves, levels, a)`` of the cheapest tree over ``size`` synapses: the carry-in
    synapse and subtrees of ``a`` and ``size - 1 - a``, each adder counted as its bit halves
    and one junction; fewer levels break ties."""
    if size <= 1:
        return 0, 0, 0
    if size <= 3:
        return 2, 1, 1
    best = None
    for a in range(1, (size - 1) // 2 + 1):
        b = size - 1 - a
        (ha, la, _), (hb, lb, _) = _split(a), _split(b)
        cost = (ha + hb + max(a.bit_length(), b.bit_length()) + 1, 1 + max(la, lb), a)
        best = cost if best is None or cost[:2] < best[:2] else best
    return best


def _level(node):
    return node.level if isinstance(node, _Add) else 0


def _top(node):
    return node.top if isinstance(node, _Add) else int(node is not None)


def _adders(node):
    """The adders under ``node``, operands before the adders that read them."""
    if not isinstance(node, _Add):
        return []
    return _adders(node.u) + _adders(node.v) + [node]


def _width(node):
    return _top(node).bit_length()


def _halves(node):
    """Halves of the adder's own bits (the leaf's one, or one per bit of its wider operand)."""
    if not isinstance(node.u, _Add) and not isinstance(node.v, _Add):
        return 1
    return max(_width(node.u), _width(node.v))


def _carries_out(node):
    """True when the adder's sum can exceed its halves' bits: its top bit is the carry out."""
    return node.top.bit_length() > _halves(node)


def carry_depth(n):
    """Levels of :func:`mismatch_count` over ``n`` synapses."""
    return _level(_tree(0, check_int("n", n, minimum=1)))


def carry_halves(n, registers=()):
    """CCU2C halves (LUT4 equivalents, padding included) of :func:`mismatch_count` over ``n``."""
    root = _tree(0, check_int("n", n, minimum=1))
    return sum(2 * len(chain) for chain in _chains(_adders(root), sorted(registers)))


def _segment(level, registers):
    return sum(1 for r in registers if r < level)


def _chains(adders, registers):
    """Per segment (adders between two register stages), the chain's cells: lists of two
    half specs ``(kind, adder, bit)``; ``kind`` is ``"junction"``, ``"bit"`` or ``"pad"``.

    A chain holds its adders level by level. Static timing follows a junction's carry
    arc too (nextpnr cannot tell that its ``COUT`` ignores its ``CIN``), so an output's
    arrival is that of every earlier adder's inputs plus the cells' carry delay: with a
    parent before its children's siblings (the tree's own order) those false paths
    crossed an adder level per subtree (32 synapses placed on an LFE5U-85F: 7 adders in
    a stage of 3 levels, 11.1 ns); level by level they cross each level once."""
    segments = {}
    for node in sorted(adders, key=lambda node: node.level):
        segments.setdefault(_segment(node.level, registers), []).append(node)
    chains = []
    for _, nodes in sorted(segments.items()):
        halves, carry = [], False          # carry: the last half's COUT is an adder's top bit
        for node in nodes:
            if carry or node.cin is not None:
                halves.append(("junction", node, None))
            halves += [("bit", node, bit) for bit in range(_halves(node))]
            carry = _carries_out(node)
        if carry:
            halves.append(("junction", None, None))
        if len(halves) % 2:
            halves.append(("pad", None, None))
        chains.append([halves[k:k + 2] for k in range(0, len(halves), 2)])
    return chains


#: estimated ns of a stage's parts, placed on an LFE5U-85F-8 (32x32 MVAU, seed 1): the
#: slice's select and its net to every PE (clock to Q included), one adder level (LUT4 to
#: FCO, its carry, S, the net to the next level), a register's clock to Q and net, the
#: accumulator's adder and the write of its sum into the LUTRAM queue
_SELECT_NS, _LEVEL_NS, _REGISTER_NS, _ACCUMULATE_NS = 2.0, 1.5, 1.0, 2.5


def carry_stage_levels(depth, pipeline):
    """The levels followed by the ``pipeline`` register stages of a tree of ``depth`` levels
    between a slice's select and an accumulator that writes a LUTRAM queue: the split whose
    slowest stage is the fastest by the estimates above (``_LEVEL_NS`` per level). Placed
    (32 synapses, 5 levels, seed 1), pipeline 1 after level 3 gave 147.5 MHz (the first
    stage the slower), after level 2 128.4 MHz (the second, 7.8 ns); pipeline 2 after
    levels 1 and 4, 160.6 MHz (the second stage, 6.2 ns), after levels 2 and 4 (this
    function's choice) 176.2 MHz."""
    depth = check_int("depth", depth, minimum=0)
    pipeline = check_int("pipeline", pipeline, minimum=0)

    def slowest(levels):
        edges = (0,) + levels + (depth,)
        costs = [(_SELECT_NS if k == 0 else _REGISTER_NS) + _LEVEL_NS * (b - a)
                 for k, (a, b) in enumerate(zip(edges, edges[1:]))]
        costs[-1] += _ACCUMULATE_NS
        return max(costs), levels

    splits = itertools.combinations_with_replacement(range(depth + 1), pipeline)
    return list(min(slowest(levels) for levels in splits)[1])


class _Emitter:
    def __init__(self, m, x, w, registers, enable, stages, name):
        self.m, self.x, self.w = m, x, w
        self.registers, self.enable, self.stages, self.name = registers, enable, stages, name
        self.serial = 0
        self.bits = {}          # adder -> its sum bits (Signals), produced at its level

    def delayed(self, value, start, end):
        """``value`` (produced at level ``start``) as read at level ``end``: through the
        register stages placed at levels ``start .. end - 1``."""
        for level in self.registers:
            if start <= level < end:
                value = self._register(value)
        return value

    def _register(self, value):
        self.serial += 1
        stages = self.stages if self.stages is not None else Stages(self.m, self.enable)
        return stages.register(value, value.shape(), f"{self.name}_r{self.serial}")

    def synapse(self, k, level):
        return (self.delayed(self.x[k], 0, level), self.delayed(self.w[k], 0, level))

    def operand_bit(self, operand, bit, level):
        if not isinstance(operand, _Add):
            return None
        bits = self.bits[operand]
        return self.delayed(bits[bit], operand.level, level) if bit < len(bits) else None

    def half(self, kind, node, bit):
        """``(init, pins)`` of one half."""
        if kind == "pad" or (kind == "junction" and (node is None or node.cin is None)):
            return half_init(lambda a, b, c: 0, lambda a, b: 0), (0, 0, 0, 1)
        if kind == "junction":       # propagate 0: COUT = G = the carry-in synapse's XOR
            xk, wk = self.synapse(node.cin, node.level)
            return half_init(lambda a, b, c: 0, lambda a, b: a ^ b), (xk, wk, 0, 1)
        leaf = not isinstance(node.u, _Add) and not isinstance(node.v, _Add)
        if leaf:                     # two synapses' XORs added: F = A^B^C^D, G = A^B
            (xu, wu), (xv, wv) = self.synapse(node.u, node.level), self.synapse(node.v,
                                                                                node.level)
            init = sum((a ^ b ^ c ^ d) << (a | b << 1 | c << 2 | d << 3)
                       for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1))
            return init, (xu, wu, xv, wv)
        # one bit of each operand; a synapse operand (its XOR) in bit 0's A and B
        lone, wide = (node.u, node.v) if not isinstance(node.u, _Add) else (node.v, node.u)
        other = self.operand_bit(wide, bit, node.level)
        other = 0 if other is None else other
        if bit == 0 and lone is not None and not isinstance(lone, _Add):
            xk, wk = self.synapse(lone, node.level)
            return half_init(lambda a, b, d: a ^ b ^ d, lambda a, b: a ^ b, tied="C"), \
                (xk, wk, 1, other)
        first = self.operand_bit(lone, bit, node.level)
        first = 0 if first is None else first
        # pin C high, the operand bit from the level before on D, the LUT4's fastest input
        return half_init(lambda a, b, d: a ^ d, lambda a, b: a, tied="C"), (first, 0, 1, other)

    def chain(self, cells):
        carry = Const(0, 1)
        pending = None              # the adder whose top bit is the next half's S
        for cell in cells:
            specs = [self.half(*spec) for spec in cell]
            self.serial += 1
            s0, s1, cout = ccu2c(self.m, specs, carry, f"{self.name}_cc{self.serial}")
            for (kind, node, bit), s in zip(cell, (s0, s1)):
                if kind != "bit" and pending is not None:
                    self.bits[pending].append(s)
                    pending = None
                if kind == "bit":
                    self.bits.setdefault(node, []).append(s)
                    if bit == _halves(node) - 1 and _carries_out(node):
                        pending = node
            carry = cout


def mismatch_count(m, x, w, *, registers=(), enable=None, stages=None, name="pc"):
    """Build ``sum_k (x[k] ^ w[k])`` into ``m`` on CCU2C cells; return it (unsigned,
    ``n.bit_length()`` bits), ``len(registers)`` cycles after ``x`` and ``w``."""
    n = len(x)
    if len(w) != n:
        raise ValueError(f"x and w must have the same width, not {n} and {len(w)}")
    levels = sorted(check_int("registers entry", level, minimum=0) for level in registers)
    root = _tree(0, n)
    emitter = _Emitter(m, x, w, levels, enable, stages, name)
    for chain in _chains(_adders(root), levels):
        emitter.chain(chain)
    depth = _level(root)
    if isinstance(root, _Add):
        count = Cat(*emitter.bits[root])
    else:                       # one synapse: its XOR
        xk, wk = emitter.synapse(0, 0)
        count = xk ^ wk
    value = Signal(n.bit_length(), name=f"{name}_mismatches")
    m.d.comb += value.eq(count)
    for level in levels:
        if level >= depth:
            value = emitter._register(value)
    return value
