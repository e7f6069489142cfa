"""Pipeline registers that move together, and the balanced adder tree the MVAUs sum lanes with."""

from itertools import combinations

from amaranth.hdl import Module, Shape, Signal

from ..ranges import range_shape

__all__ = ["Stages", "adder_tree", "cheapest_tree_levels", "counts_accumulator",
           "tree_level_bits", "tree_level_shifts", "tree_level_widths", "tree_stage_levels"]


class Stages:
    """Register stages of one datapath, all advancing together.

    Every register built here loads its input while ``advance`` is high, or
    every cycle when ``advance`` is None (the folded engine's pipeline, which
    never stalls: valid bits travel with the data and flow control is by
    credit at its output). This class is the one place that decides how a
    stage moves; the lane datapaths only call :meth:`register`.

    Parameters
    ----------
    m : Module          where the registers go
    advance : Value or None     the stage enable (None: none, load every cycle)
    """

    def __init__(self, m, advance):
        self.m = m
        self.advance = advance

    def register(self, value, shape, name, *, reset_less=False):
        """``value`` one stage later, in a register of ``shape`` named ``name`` (``reset_less``:
        a data register the reset need not clear, e.g. one a block RAM can absorb)."""
        reg = Signal(shape, name=name, reset_less=reset_less)
        if self.advance is None:
            self.m.d.sync += reg.eq(value)
        else:
            with self.m.If(self.advance):
                self.m.d.sync += reg.eq(value)
        return reg

    def copy(self, value, name):
        """``value`` one stage later in a register of a submodule of its own, named ``name``:
        one of several equal registers, each placed next to the part it drives, which
        synthesis (keeping the hierarchy) does not merge back into one."""
        self.m.submodules[name] = copy = Module()
        reg = Signal(Shape.cast(value.shape()), name=name)
        if self.advance is None:
            copy.d.sync += reg.eq(value)
        else:
            with copy.If(self.advance):
                copy.d.sync += reg.eq(value)
        return reg

    def delay(self, value, count, name):
        """``value`` ``count`` stages later (registers ``{name}_s0``, ``{name}_s1``, ...)."""
        for stage in range(count):
            value = self.register(value, Shape.cast(value.shape()), f"{name}_s{stage}")
        return value


def tree_stage_levels(terms, pipeline, registered_terms=False, levels=None):
    """Levels of an adder tree over ``terms`` inputs followed by a register, one per stage.

    Level 0 is the inputs, ``depth = ceil(log2(terms))`` the root. The
    accumulator adder after the tree counts as one more level, so
    ``pipeline`` stages split ``depth + 1`` adders into ``pipeline + 1``
    nearly equal segments. ``registered_terms`` (DSP products) adds a
    register at level 0 first. ``levels`` (ascending, ``pipeline`` of them)
    places the registers instead, e.g. where :func:`cheapest_tree_levels` says.
    """
    if levels is not None:
        return ([0] if registered_terms else []) + list(levels)
    depth = (terms - 1).bit_length()
    levels = [j * (depth + 1) // (pipeline + 1) for j in range(1, pipeline + 1)]
    return [0] + levels if registered_terms else levels


def counts_accumulator(levels):
    """Whether the accumulator's adder after a tree's root is counted in the tree's last
    stage, which holds ``levels`` adder levels: from two levels on.

    Three adders in series, two tree levels and the accumulator, took 6.5 ns in
    sfc_balanced's fc0 at 200 MHz (``pc3_l4s0`` -> ``acc_3``), and four, int4_cnn's
    conv2 tree's last three levels and its accumulator, 7.4 ns (``acc_1``, 11 logic
    levels). One tree level and the accumulator is what :func:`tree_stage_levels` plans
    for the last stage (it counts the accumulator as one more level) and has not been
    the critical path of a placed network; counted, it would cost odd_mlp a stage more in
    each layer and its flip-flops beyond the 15 % issue 17 allows."""
    return levels >= 2


def tree_level_widths(bounds):
    """Bits of the widest sum at each level (1 .. depth) of :func:`adder_tree` over terms with
    these ``(lo, hi)`` or ``(lo, hi, shift)`` bounds, pairing them as it does: what a delay
    estimate of a level reads."""
    nodes = [_node(b) for b in bounds]
    widths = []
    while len(nodes) > 1:
        sums = len(nodes) // 2                   # the pairs; an odd last node passes
        nodes = _pair_level(nodes)
        widths.append(max(_node_width(node) for node in nodes[:sums]))
    return widths


def tree_level_shifts(bounds):
    """Per level (1 .. depth) of :func:`adder_tree` over terms with these ``(lo, hi)`` or
    ``(lo, hi, shift)`` bounds, whether one of its adders takes an operand shifted by more
    than the other's shift (a Booth term of a higher digit joining a lower one): that
    operand enters as ``{value, zeros}``, which Yosys's ``alumacc`` does not merge with the
    adder that made it."""
    nodes = [_node(b) for b in bounds]
    shifts = []
    while len(nodes) > 1:
        shifts.append(any(a[2] != b[2] for a, b in zip(nodes[0::2], nodes[1::2])))
        nodes = _pair_level(nodes)
    return shifts


def tree_level_bits(bounds):
    """Flip-flops of a register after each level 0 .. depth of :func:`adder_tree` over terms
    with these ``(lo, hi)`` or ``(lo, hi, shift)`` bounds (level 0: the terms), nodes as wide
    as their bounds, less the zeros below a node's ``shift``."""
    nodes = [_node(b) for b in bounds]
    bits = [sum(_node_width(node) for node in nodes)]
    while len(nodes) > 1:
        nodes = _pair_level(nodes)
        bits.append(sum(_node_width(node) for node in nodes))
    return bits


def _node(bound):
    """``(lo, hi, shift)`` of a tree input: a term's bounds and the zeros below its value
    (0 when not given)."""
    lo, hi, *shift = bound
    return lo, hi, shift[0] if shift else 0


def _node_width(node):
    """Bits of a node's value without the zeros below its shift."""
    lo, hi, shift = node
    return range_shape(lo >> shift, hi >> shift).width


def _pair_level(nodes):
    """The next level's ``(lo, hi, shift)``: nodes summed in pairs (an odd last one passes)."""
    pairs = [(a[0] + b[0], a[1] + b[1], min(a[2], b[2]))
             for a, b in zip(nodes[0::2], nodes[1::2])]
    return pairs + ([nodes[-1]] if len(nodes) % 2 else [])


def cheapest_tree_levels(bounds, stage_ns, budget, *, last_ns=0.0, least=0, most=None):
    """The register levels (ascending) of :func:`adder_tree` over terms with these bounds
    whose every stage fits ``budget`` ns with the fewest flip-flops (then the fewest
    registers), at least ``least`` and at most ``most`` of them; None when no placement
    fits.

    ``stage_ns(start, end)`` is the delay of a stage from the register after level
    ``start`` (-1: from what builds the terms) through the adder levels up to ``end``; the
    last stage runs to the root, and on through ``last_ns`` (the accumulator after the
    root) where :func:`counts_accumulator` says so. Registering every level the even split
    reaches costs flip-flops where the tree is widest: a ternary MLP's 16-term trees at
    200 MHz held 2,440 of them per layer, most at the terms. A tree has at most a few
    levels, so every subset is tried.
    """
    bits = tree_level_bits(bounds)
    depth = len(bits) - 1
    best = None
    for count in range(least, (depth + 1 if most is None else min(most, depth + 1)) + 1):
        for levels in combinations(range(depth + 1), count):
            edges = [-1] + list(levels) + [depth]
            spans = [stage_ns(start, end) for start, end in zip(edges, edges[1:])]
            spans[-1] += last_ns * counts_accumulator(depth - max(edges[-2], 0))
            if max(spans) <= budget:
                key = (sum(bits[level] for level in levels), count)
                if best is None or key < best[0]:
                    best = key, list(levels)
    return best and best[1]


def adder_tree(m, stages, terms, name, *, pipeline, registered_terms=False, levels=None):
    """Sum of ``terms`` ``(value, lo, hi)`` by a balanced binary tree of two-input adders.

    A term may be ``(value, lo, hi, shift)``: it stands for ``value << shift`` (``lo`` and
    ``hi`` bound that), and the tree carries the zeros below the shift as a wire rather
    than through its adders and registers: two terms of equal shift add (and register) as
    narrow values, a term of a larger shift joins a smaller one shifted by the difference.
    Each node is exactly as wide as its bounds (:func:`~hwgen.ranges.range_shape`), less
    those zeros; the registers sit at :func:`tree_stage_levels` and are built by
    ``stages``, so the root arrives ``pipeline`` (+1 with ``registered_terms``) stages after
    the terms; ``levels`` places them instead (:func:`tree_stage_levels`). Nodes are named
    ``{name}_l{level}_{k}``, registers ``{name}_l{level}s{index}_{k}``.
    """
    levels = tree_stage_levels(len(terms), pipeline, registered_terms, levels)
    nodes = [(term[0], *_node(term[1:])) for term in terms]
    level = 0
    while True:
        for index in range(levels.count(level)):
            nodes = [(stages.register(v, _node_shape(lo, hi, shift),
                                      f"{name}_l{level}s{index}_{k}"), lo, hi, shift)
                     for k, (v, lo, hi, shift) in enumerate(nodes)]
        if len(nodes) == 1:
            value, _, _, shift = nodes[0]
            return value << shift if shift else value
        level += 1
        pairs = []
        for k in range(0, len(nodes) - 1, 2):
            (a, alo, ahi, ashift), (b, blo, bhi, bshift) = nodes[k], nodes[k + 1]
            lo, hi, shift = alo + blo, ahi + bhi, min(ashift, bshift)
            node = Signal(_node_shape(lo, hi, shift), name=f"{name}_l{level}_{k // 2}")
            m.d.comb += node.eq(_shifted(a, ashift - shift) + _shifted(b, bshift - shift))
            pairs.append((node, lo, hi, shift))
        if len(nodes) % 2:
            pairs.append(nodes[-1])
        nodes = pairs


def _node_shape(lo, hi, shift):
    """Shape of a node's value (``lo`` .. ``hi`` without the zeros below ``shift``)."""
    return range_shape(lo >> shift, hi >> shift)


def _shifted(value, shift):
    """``value << shift``, and ``value`` itself (no operator in the Verilog) for 0."""
    return value << shift if shift else value
