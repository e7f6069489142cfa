"""Pipeline registers that move together, and the balanced adder tree the MVAUs sum lanes with."""

from amaranth.hdl import Module, Shape, Signal

from ..ranges import range_shape

__all__ = ["Stages", "adder_tree", "tree_level_widths", "tree_stage_levels"]


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


def tree_stage_levels(terms, pipeline, registered_terms=False):
    """Levels of an adder tree over ``terms`` inputs followed by a register, one per stage.

    Level 0 is the inputs, ``depth = ceil(log2(terms))`` the root. The
    accumulator adder after the tree counts as one more level, so
    ``pipeline`` stages split ``depth + 1`` adders into ``pipeline + 1``
    nearly equal segments. ``registered_terms`` (DSP products) adds a
    register at level 0 first.
    """
    depth = (terms - 1).bit_length()
    levels = [j * (depth + 1) // (pipeline + 1) for j in range(1, pipeline + 1)]
    return [0] + levels if registered_terms else levels


def tree_level_widths(bounds):
    """Bits of the widest sum at each level (1 .. depth) of :func:`adder_tree` over terms with
    these ``(lo, hi)`` bounds, pairing them as it does: what a delay estimate of a level reads."""
    nodes = [tuple(b) for b in bounds]
    widths = []
    while len(nodes) > 1:
        pairs = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(nodes[0::2], nodes[1::2])]
        widths.append(max(range_shape(lo, hi).width for lo, hi in pairs))
        nodes = pairs + ([nodes[-1]] if len(nodes) % 2 else [])
    return widths


def adder_tree(m, stages, terms, name, *, pipeline, registered_terms=False):
    """Sum of ``terms`` ``(value, lo, hi)`` by a balanced binary tree of two-input adders.

    Each node is exactly as wide as its bounds (:func:`~hwgen.ranges.range_shape`);
    the registers sit at :func:`tree_stage_levels` and are built by
    ``stages``, so the root arrives ``pipeline`` (+1 with
    ``registered_terms``) stages after the terms. Nodes are named
    ``{name}_l{level}_{k}``, registers ``{name}_l{level}s{index}_{k}``.
    """
    levels = tree_stage_levels(len(terms), pipeline, registered_terms)
    nodes = list(terms)
    level = 0
    while True:
        for index in range(levels.count(level)):
            nodes = [(stages.register(v, range_shape(lo, hi), f"{name}_l{level}s{index}_{k}"),
                      lo, hi)
                     for k, (v, lo, hi) in enumerate(nodes)]
        if len(nodes) == 1:
            return nodes[0][0]
        level += 1
        pairs = []
        for k in range(0, len(nodes) - 1, 2):
            (a, alo, ahi), (b, blo, bhi) = nodes[k], nodes[k + 1]
            lo, hi = alo + blo, ahi + bhi
            node = Signal(range_shape(lo, hi), name=f"{name}_l{level}_{k // 2}")
            m.d.comb += node.eq(a + b)
            pairs.append((node, lo, hi))
        if len(nodes) % 2:
            pairs.append(nodes[-1])
        nodes = pairs
