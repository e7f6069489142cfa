"""Lane datapaths of the folded matrix-vector engine: what one PE computes from one slice.

A lane datapath turns a slice of ``SIMD`` input elements and one PE's
weight word (``SIMD`` weight codes of ``lane_bits`` each) into that slice's
contribution to the PE's accumulator, ``stages`` register stages later. It
also says how a weight is coded in a weight word and bounds a slice's sum.
:class:`~hwgen.units._engine.FoldedEngine` supplies the rest (fold counters,
input buffer, weight store, accumulator), so a new datapath, such as a
compressor-tree popcount, is one class with the same members:

``lane_bits``           bits of one weight code in a weight word
``pipeline``            register stages inside the datapath's adder tree
``stages``              register stages from the slice to its sum (``pipeline``, +1 for a
                        registered product)
``codes(row)``          the codes of a row of weights (ints of ``lane_bits``)
``slice_bounds(weights)``  ``(lo, hi)`` of a slice's sum: scalars, or ``[MH, SF]`` arrays
                        exact for the given ``[MH, MW]`` weights (None: any weights)
``slice_sum(m, stages, p, x_slice, w_slice)``  PE ``p``'s sum of the raw slice bits
                        ``x_slice`` with its weight word ``w_slice``; its registers come
                        from ``stages`` (:class:`~hwgen.units._pipeline.Stages`)
``slice_from_buffer``   True: the engine reads every slice from its input buffer, fold 0
                        through the buffer's write (no replay multiplexer)
``reset_accumulator``   True: an accumulator whose start value is a constant holds it from
                        reset and each fold's last slice (no multiplexer before its adder)
"""

import numpy as np
from amaranth.hdl import Cat, Const, Mux, Signal, signed

from ._carry_popcount import carry_depth, carry_stage_levels, mismatch_count
from ._pipeline import adder_tree, tree_level_shifts, tree_level_widths, tree_stage_levels
from .popcount import WeightTable, fused_group, popcount_plan, stage_levels, xnor_popcount

__all__ = ["BinaryAddSub", "BoothShiftAdd", "DspMultiply", "ShiftAdd", "TernaryAddSub",
           "XnorPopcount", "booth_offset", "lanes", "merged_sum_ns", "product_terms"]


class XnorPopcount:
    """Binary weights on binary inputs (bit 1 = +1): a slice adds ``2 * popcount(xnor(x, w))``.

    Per PE, ``tree="adder"``: the XNOR of the slice with the weight word
    (``agree_{p}``), then a binary adder tree over the SIMD bits
    (``pc{p}_...``); ``tree="compressor"``: the compressor tree of
    :func:`~hwgen.units.popcount.xnor_popcount` (XNORs fused into 3-synapse
    counters, GPC stages, one carry-chain adder), fewer LUT6 on Xilinx. The
    ``pipeline`` register stages sit where ``stages`` says: ``"tree"``
    spreads them over the tree's levels and the accumulator (stages beyond
    the tree depth at its output), ``"reads"`` puts the first right after
    the slice and weight reads (:func:`~hwgen.units.popcount.stage_levels`),
    so the tree is mapped apart from the logic in front of it. The doubling
    is a wire. The sum lies in ``[0, 2 * SIMD]`` whatever the weights.
    """

    lane_bits = 1

    def __init__(self, *, simd, pipeline, tree="adder", stages="tree"):
        self._simd, self._pipeline = simd, pipeline
        self._tree, self._placement = tree, stages

    pipeline = property(lambda self: self._pipeline)
    stages = property(lambda self: self._pipeline)
    #: the engine reads every slice from its input buffer (fold 0 through the buffer's
    #: write), no replay multiplexer: with the compressor tree only, whose LUT6 count is
    #: the point; the adder tree's Verilog stays as it was (and the ECP5 carry tree's first
    #: stage keeps the buffer's LUTRAM read out of its path)
    slice_from_buffer = property(lambda self: self._tree == "compressor")
    #: a weight store may hand ``slice_sum`` a :class:`~.popcount.WeightTable` (the ROM read
    #: inside the tree's first level): the compressor tree only
    reads_tables = property(lambda self: self._tree == "compressor")
    #: the engine restarts an accumulator by the reset of its flip-flops, not a multiplexer
    #: in front of its adder (the compressor and ECP5 carry trees only, as above)
    reset_accumulator = property(lambda self: self._tree in ("compressor", "ecp5_carry"))
    #: the weight ROMs that are no tables are stored by depth and width
    #: (:func:`~hwgen.units._rom.rom_plan`: block RAM, logic or split), not where Yosys puts
    #: them (logic up to 64 words: a 64-word ROM bit is a LUT6, as much as the synapse's
    #: share of the tree); compressor tree only, as above
    places_roms = property(lambda self: self._tree == "compressor")
    #: the engine's output queue keeps its results in LUTRAM, not registers read through a
    #: multiplexer (a 32x32 MVAU at SF = 2 spent 271 of its 1,744 LUT6 on that multiplexer):
    #: in the LUT-lean lanes only (the compressor tree, or the stage after the reads), so
    #: today's default MVAU keeps its Verilog and placed Fmax
    lutram_queue = property(lambda self: self._tree in ("compressor", "ecp5_carry")
                            or self._placement == "reads")
    #: the slice's sum is ``-2 * popcount(x ^ w)`` (``"ecp5_carry"``: the mismatches, counted
    #: on carry cells with the XORs in their LUTs), which the accumulator subtracts from a
    #: start value of ``+MW`` instead of adding ``2 * popcount(xnor)`` to ``-MW``
    counts_mismatches = property(lambda self: self._tree == "ecp5_carry")

    def start_value(self, mw):
        """The accumulator's start value before any threshold: ``-MW``, or ``+MW`` when the
        slices subtract their mismatches (:attr:`counts_mismatches`)."""
        return mw if self.counts_mismatches else -mw

    def codes(self, row):
        """Bit 1 = +1."""
        return (row > 0).astype(np.int64)

    def slice_bounds(self, weights=None):
        return (-2 * self._simd, 0) if self.counts_mismatches else (0, 2 * self._simd)

    def tree_delays(self, model, pipeline):
        """Estimated logic delay (ns) of each register stage of the adder tree with
        ``pipeline`` stages, from the slice's select and XNOR to the root (the
        accumulator's adder after the root is the engine's); None for the trees whose
        stages are not placed by :func:`~._pipeline.tree_stage_levels` (the compressor
        and ``"ecp5_carry"`` trees, the ``"reads"`` placement).

        ``model`` is a :class:`hwgen.timing.DelayModel`. The first stage starts with
        one LUT level (the replay select and the XNOR); the adder levels count as
        :func:`tree_stage_delays` says. That counts the five logic levels nextpnr
        reported in the first stage of a 24-synapse tree split at level 3 (odd_mlp's
        fc1, 5.3-6.3 ns at 200 MHz on an LFE5U-85F speed 8).
        """
        if self._tree != "adder" or self._placement != "tree":
            return None
        return tree_stage_delays(model, [(0, 1)] * self._simd, pipeline, first_luts=1)

    def _levels(self, depth):
        if self._placement == "reads":
            return stage_levels(depth, self._pipeline)
        return [j * (depth + 1) // (self._pipeline + 1) for j in range(1, self._pipeline + 1)]

    def slice_sum(self, m, stages, p, x_slice, w_slice):
        if self.counts_mismatches:
            depth = carry_depth(self._simd)
            levels = (stage_levels(depth, self._pipeline) if self._placement == "reads"
                      else carry_stage_levels(depth, self._pipeline))
            return -(mismatch_count(m, x_slice, w_slice, registers=levels, stages=stages,
                                    name=f"pc{p}") << 1)
        if self._tree == "adder" and self._placement == "tree":
            agree = Signal(self._simd, name=f"agree_{p}")
            m.d.comb += agree.eq(~(x_slice ^ w_slice))
            count = adder_tree(m, stages, [(agree[j], 0, 1) for j in range(self._simd)],
                               f"pc{p}", pipeline=self._pipeline)
            return count << 1
        group = fused_group(len(w_slice.addr)) if isinstance(w_slice, WeightTable) else 3
        levels = self._levels(popcount_plan(self._simd, self._tree, group).depth)
        count = xnor_popcount(m, x_slice, w_slice, structure=self._tree, registers=levels,
                              stages=stages, name=f"pc{p}")
        return count << 1


class _IntegerLanes:
    """Integer input elements times weights, every lane's terms into one adder tree per PE.

    Parameters
    ----------
    simd, pipeline : int
    in_shape : Shape            input element shape
    in_range : (int, int)       the values input elements take
    binary_input : bool         inputs are -1/+1 (bit 1 = +1)
    w_shape : Shape             weight code shape (its width is ``lane_bits``)
    w_range : (int, int)        the values a weight may take
    levels : sequence of int, optional
        the tree levels with a register after them (``pipeline`` of them; default
        spread evenly, :func:`~._pipeline.tree_stage_levels`)

    A subclass gives ``lane_terms(x, w)``: one lane's product as adder-tree
    terms ``(value, lo, hi)`` bounded over every weight in ``w_range`` (or
    ``(value, lo, hi, shift)`` for ``value << shift``: the tree carries the
    zeros, :func:`~._pipeline.adder_tree`), summed in :meth:`tree_order`.
    """

    #: the products pass a register before the tree (DSP blocks)
    registered_products = False
    #: the engine's slice: the stream's register in fold 0, the input buffer after it
    slice_from_buffer = False
    #: the engine restarts an accumulator by a multiplexer in front of its adder
    reset_accumulator = False

    def __init__(self, *, simd, pipeline, in_shape, in_range, binary_input=False, w_shape,
                 w_range, levels=None):
        self._simd, self._pipeline = simd, pipeline
        self._levels = None if levels is None else list(levels)
        self._in_shape, self._in_range, self._binary_input = in_shape, in_range, binary_input
        self._w_shape, self._w_range = w_shape, w_range

    pipeline = property(lambda self: self._pipeline)
    stages = property(lambda self: self._pipeline + self.registered_products)
    lane_bits = property(lambda self: self._w_shape.width)
    levels = property(lambda self: self._levels)

    def codes(self, row):
        """The weights' two's complement in ``lane_bits``."""
        return row & ((1 << self.lane_bits) - 1)

    def slice_bounds(self, weights=None):
        """Exact per channel and slice from ``weights`` [MH, MW] and ``in_range`` ([MH, SF]
        each); without weights, ``SIMD`` times the extreme corner products."""
        xlo, xhi = self._in_range
        if weights is None:
            corners = [x * w for x in self._in_range for w in self._w_range]
            return self._simd * min(corners), self._simd * max(corners)
        w = weights.astype(object).reshape(weights.shape[0], -1, self._simd)
        a, b = w * xlo, w * xhi
        return np.minimum(a, b).sum(axis=2), np.maximum(a, b).sum(axis=2)

    def term_bounds(self):
        """``(lo, hi)`` (or ``(lo, hi, shift)``) of the adder tree's terms of a slice, in the
        tree's order (:meth:`tree_order`)."""
        x = Signal(self._in_shape if not self._binary_input else signed(2))
        w = Signal(self.lane_bits)
        return [term[1:] for term in self.tree_order([self.lane_terms(x, w)] * self._simd)]

    @staticmethod
    def tree_order(lane_terms):
        """The terms of every lane (a list per lane) in the adder tree's order: term ``i`` of
        every lane side by side, then term ``i + 1``, so that an adder of the tree's first
        levels sums terms of one shift (a lane's Booth or shift-add terms are shifted by
        their digit's weight) and is as narrow as one term, not as a lane's product.
        int8_mlp's trees at 200 MHz, their lanes' four Booth terms summed lane by lane, held
        26 bits per lane after the first level and 18 per pair of lanes after the third."""
        return [terms[i] for i in range(len(lane_terms[0])) for terms in lane_terms]

    def tree_delays(self, model, pipeline):
        """Estimated logic delay (ns) of each register stage of the product adder tree with
        ``pipeline`` stages, from the slice to the root (the accumulator after the root is
        the engine's), each stage as :meth:`stage_ns` counts it; with registered products
        (DSP) the products are a stage of their own before the tree (``model.dsp``). At
        this datapath's own ``pipeline``, its registers are where its ``levels`` say."""
        bounds = self.term_bounds()
        depth = (len(bounds) - 1).bit_length()
        levels = tree_stage_levels(len(bounds), pipeline,
                                   levels=self._levels if pipeline == self._pipeline else None)
        edges = [0 if self.registered_products else -1] + levels + [depth]
        delays = [self.stage_ns(model, start, end) for start, end in zip(edges, edges[1:])]
        return ([model.dsp] + delays) if self.registered_products else delays

    def stage_ns(self, model, start, end):
        """Estimated delay (ns) of the tree's stage from the register after level ``start``
        (-1: from the slice's register, through what builds a term, :attr:`term_ns`) to the
        sums at level ``end``: the adder levels between them are one multi-operand sum
        (:func:`merged_sum_ns`), except where a level adds a shifted operand made inside the
        stage (:func:`~._pipeline.tree_level_shifts`). Yosys does not merge that operand's
        adder: its sum is a multi-operand sum of its own, whose bits each drive a full
        adder's two LUTs, and it joins the other side's operands as one operand more.
        int8_mlp's fc2 at 200 MHz, its tree's levels 4 and 5 in one stage (the Booth digits'
        partial sums joined at shifts 2 and 4): a 16-bit carry chain, a LUT and a 20-bit
        one, 5.68 ns placed, where one merged sum counted 3.08."""
        bounds = self.term_bounds()
        ns = self.term_ns(model) if start < 0 else 0.0
        start = max(start, 0)
        if end <= start:
            return ns
        nodes = len(bounds)
        for _ in range(start):
            nodes = -(-nodes // 2)
        widths, shifts = tree_level_widths(bounds), tree_level_shifts(bounds)
        operands, ready = 1, 0.0      # of one node: its merged operands, the latest's delay
        for level in range(start + 1, end + 1):
            if shifts[level - 1] and level > start + 1:
                # the shifted side's sum is its own; its bits reach the full adders (fanout 2)
                ready += (merged_sum_ns(model, operands, widths[level - 2])
                          + model.route(2) - model.route())
                operands += 1
            else:
                operands *= 2
            operands = min(operands, nodes)
        return ns + ready + merged_sum_ns(model, operands, widths[end - 1])

    def term_ns(self, model):
        """ns from the slice's register to a term: the replay select and the term's gating in
        one LUT level (a subclass that negates adds the negation's carry chain)."""
        return model.luts(1)

    def base_offset(self, weights):
        """What each channel's accumulator start value adds to its bias: 0 (the terms sum
        to the products)."""
        return np.zeros(weights.shape[0], dtype=np.int64)

    def slice_sum(self, m, stages, p, x_slice, w_slice):
        """PE ``p``'s ``sum_j x[j] * w[j]`` over the slice (tree ``mac{p}_...``)."""
        b = self.lane_bits
        terms = self.tree_order([
            self.lane_terms(x, w_slice[j * b:(j + 1) * b])
            for j, x in enumerate(lanes(x_slice, self._in_shape, self._simd,
                                        self._binary_input))])
        return adder_tree(m, stages, terms, f"mac{p}", pipeline=self._pipeline,
                          registered_terms=self.registered_products, levels=self._levels)


class BinaryAddSub(_IntegerLanes):
    """-1/+1 weights (1 code bit, 1 = +1) on integer inputs: ``+x`` or ``-x``, no multiplier."""

    def __init__(self, **lanes):
        super().__init__(**lanes, w_shape=signed(1), w_range=(-1, 1))

    def codes(self, row):
        """Bit 1 = +1."""
        return (row > 0).astype(np.int64)

    def lane_terms(self, x, w):
        xlo, xhi = self._in_range
        return [(Mux(w, x, -x), min(xlo, -xhi), max(xhi, -xlo))]

    def term_ns(self, model):
        """The replay select, ``-x`` on the carry chain, then the sign's multiplexer."""
        return model.luts(1) + model.carry(self._in_shape.width + 1) + model.luts(1)


class TernaryAddSub(_IntegerLanes):
    """{-1, 0, +1} weights (BitNet b1.58; 2 code bits, ``01`` = +1, ``11`` = -1, ``00`` = 0):
    add, subtract or skip, no multiplier.

    A lane's term is ``x``, ``~x`` or 0 (one LUT per bit: ``x`` and the two code bits), not
    ``-x``: ``-x == ~x + 1``, and the ones a channel's -1 weights leave out are a constant
    of its weights, which :meth:`base_offset` adds to the accumulator's start value. A
    negation on the carry chain before the tree's first adder put 2.75 ns in front of it
    at 200 MHz (ternary_mlp), so the tree took a register at its 16 x 8 terms.
    """

    def __init__(self, **lanes):
        super().__init__(**lanes, w_shape=signed(2), w_range=(-1, 1))

    def lane_terms(self, x, w):
        xlo, xhi = self._in_range     # w[0]: non-zero, w[1]: negative (only with w[0])
        if not x.shape().signed:      # ~x of an unsigned x is negative: one bit more
            x = Cat(x, Const(0, 1)).as_signed()
        ones = Mux(w[1], Const(-1, x.shape()), Const(0, x.shape()))
        return [(Mux(w[0], x ^ ones, 0), min(xlo, -xhi - 1, 0), max(xhi, -xlo - 1, 0))]

    def slice_bounds(self, weights=None):
        """As the lanes sum them: a -1 weight gives ``~x == -x - 1``."""
        lo, hi = super().slice_bounds(weights)
        if weights is None:
            return lo - self._simd, hi
        negative = (weights.reshape(weights.shape[0], -1, self._simd) == -1).sum(axis=2)
        return lo - negative, hi - negative

    def base_offset(self, weights):
        """Per channel, the ones the ``~x`` terms leave out: its count of -1 weights."""
        return (weights == -1).sum(axis=1)

    def term_ns(self, model):
        """The replay select, then the weight's gating and inversion (one LUT4 per bit:
        ``x`` and two code bits)."""
        return model.luts(2)


class ShiftAdd(_IntegerLanes):
    """Integer weights of ``w_shape``, each product as shift-add partial products in the
    tree (no ``*`` operator: a LUT / carry-chain array); see :func:`product_terms`."""

    def lane_terms(self, x, w):
        return product_terms(x, self._in_range, w, self._w_shape, self._w_range, dsp=False)


class BoothShiftAdd(_IntegerLanes):
    """Signed integer weights of ``w_shape``, each product as radix-4 Booth terms in the
    tree: half the terms of :class:`ShiftAdd`, so the lane's product is one adder level
    rather than two or three (no ``*`` operator).

    A ``b``-bit weight is ``sum_i d_i 4^i`` over ``ceil(b / 2)`` digits ``d_i = -2 w[2i+1]
    + w[2i] + w[2i-1]`` in -2..2 (``w[-1] = 0``, bits above ``b - 1`` its sign), read from
    the weight's two's complement in the ROM (the codes of :class:`ShiftAdd`). Term ``i``
    is ``|d_i| x`` (0, ``x`` or ``2x``), complemented where ``d_i < 0`` (``~v == -v - 1``),
    shifted by ``2i`` (by the tree, which adds the lanes' terms of one shift first,
    :meth:`tree_order`): each of its bits a function of two bits of ``x`` and three of the
    weight. The ones the complements leave out, ``sum_i [d_i < 0] 4^i`` per weight, are a
    constant of each channel's weights, which :meth:`base_offset` adds to its start value
    (as :class:`TernaryAddSub` does for its ``~x``). int4_cnn's conv2 at 200 MHz: its lane
    products as four shift-add terms (two adder levels after the terms' gating, the
    slice's register driving 16 LUTs) took 6.05 ns placed alone.
    """

    def lane_terms(self, x, w):
        xlo, xhi = self._in_range
        if not x.shape().signed:          # -x and ~x of an unsigned x are negative
            x = Cat(x, Const(0, 1)).as_signed()
        bits = self.lane_bits
        values = [v for d in range(-2, 3) for v in
                  ((d * xlo, d * xhi) if d >= 0 else (d * xlo - 1, d * xhi - 1))]
        terms = []
        for i in range((bits + 1) // 2):
            high = w[min(2 * i + 1, bits - 1)]
            mid = w[min(2 * i, bits - 1)]
            low = w[2 * i - 1] if i else Const(0, 1)
            negative = high & ~(mid & low)
            double = Mux(high, ~mid & ~low, mid & low)
            magnitude = Mux(double, x << 1, Mux(mid ^ low, x, Const(0, x.shape())))
            terms.append((Mux(negative, ~magnitude, magnitude),
                          min(values) << 2 * i, max(values) << 2 * i, 2 * i))
        return terms

    def slice_bounds(self, weights=None):
        """As the lanes sum them: each weight's product less its complements' ones."""
        lo, hi = super().slice_bounds(weights)
        if weights is None:
            every = np.arange(-(1 << (self.lane_bits - 1)), 1 << (self.lane_bits - 1))
            return lo - self._simd * int(booth_offset(every, self.lane_bits).max()), hi
        ones = booth_offset(weights, self.lane_bits).reshape(weights.shape[0], -1, self._simd)
        return lo - ones.sum(axis=2), hi - ones.sum(axis=2)

    def base_offset(self, weights):
        """Per channel, the ones its weights' complemented terms leave out."""
        return booth_offset(weights, self.lane_bits).sum(axis=1)

    def term_ns(self, model):
        """A term's bit reads five bits (two of ``x``, three of the weight): two LUT4
        levels."""
        return model.luts(2)


def booth_offset(weights, bits):
    """``sum_i [d_i < 0] 4^i`` of each ``bits``-bit weight's radix-4 Booth digits ``d_i``
    (:class:`BoothShiftAdd`), int64 of the shape of ``weights``."""
    code = np.asarray(weights, dtype=np.int64) & ((1 << bits) - 1)

    def bit(k):
        return (code >> min(k, bits - 1)) & 1 if k >= 0 else 0

    return sum(((-2 * bit(2 * i + 1) + bit(2 * i) + bit(2 * i - 1)) < 0).astype(np.int64) << 2 * i
               for i in range((bits + 1) // 2))


class DspMultiply(_IntegerLanes):
    """Integer weights of ``w_shape``, each product a ``*`` with registered operands and a
    registered output (one stage before the tree): the pattern vendor tools put in DSP blocks."""

    registered_products = True

    def lane_terms(self, x, w):
        return product_terms(x, self._in_range, w, self._w_shape, self._w_range, dsp=True)


def tree_stage_delays(model, bounds, pipeline, *, first_luts=0):
    """Estimated logic delay (ns) of each register stage of :func:`~._pipeline.adder_tree`
    over terms of these ``(lo, hi)`` bounds with ``pipeline`` stages (the root's stage
    included, the accumulator after it not).

    An adder level whose sums have ``w <= 4`` bits is mapped into LUT4s (Yosys puts only
    wider adders on the carry chain): ``w - 2`` LUT levels, at least one, since its carry out
    reads ``2 * (w - 1)`` bits, four per LUT4; a wider level is a carry chain of ``w`` bits.
    The first stage starts with ``first_luts`` LUT levels."""
    widths = tree_level_widths(bounds)
    edges = [0] + tree_stage_levels(len(bounds), pipeline) + [len(widths)]
    delays = []
    for k, (start, end) in enumerate(zip(edges, edges[1:])):
        level_widths = widths[start:end]      # adder levels start + 1 .. end
        luts = int(k == 0) * first_luts + sum(max(1, w - 2) for w in level_widths if w <= 4)
        delays.append(model.luts(luts)
                      + sum(model.carry(w) for w in level_widths if w > 4))
    return delays


def merged_sum_ns(model, operands, width):
    """Estimated delay (ns) of a stage's adder levels summing ``operands`` values into a
    ``width``-bit result.

    Yosys merges adders in series whose sums feed nothing else into one multi-operand sum
    (``alumacc``, ``maccmap``): rows of full adders, a LUT4 level each, take the operands
    down to two (one level for 3, two for 4, three for up to 6, four for up to 9), then
    one carry chain adds them (in LUT4s up to 4 bits: ``width - 2`` levels, at least one).
    int4_cnn's conv2 at 200 MHz, its tree's levels 3 to 5 in one stage (8 operands),
    was four LUT4 levels and an 11-bit carry chain, 5.9 ns placed alone on the LFE5U-85F,
    where three carry chains counted 3.7 ns, inside the budget."""
    rows, levels = operands, 0
    while rows > 2:
        rows -= rows // 3
        levels += 1
    if width <= 4:
        return model.luts(levels + max(1, width - 2))
    return model.luts(levels) + model.carry(width)


def lanes(x_slice, shape, simd, binary=False):
    """The ``simd`` elements of a raw slice as integer Values: signed when ``shape`` is, and
    -1/+1 for ``binary`` (bit 1 = +1)."""
    n = shape.width
    values = []
    for j in range(simd):
        x = x_slice[j * n:(j + 1) * n]
        if binary:
            x = Mux(x, Const(1, signed(2)), Const(-1, signed(2)))
        elif shape.signed:
            x = x.as_signed()
        values.append(x)
    return values


def product_terms(x, x_range, w, w_shape, w_range, *, dsp):
    """``x * w`` as adder-tree terms ``(value, lo, hi)``; ``w`` is raw bits of ``w_shape``.

    ``dsp``: one ``*`` term (registered by the tree's level-0 stage), bounded by
    the corners of ``x_range`` x ``w_range``. Otherwise shift-add partial
    products, no ``*``: ``Mux(w[i], x, 0) << i`` per bit, the top bit of a
    signed ``w`` subtracted (two's complement); bounds over every ``w`` of its shape.
    """
    xlo, xhi = x_range
    if dsp:
        corners = [a * b for a in x_range for b in w_range]
        value = w.as_signed() if w_shape.signed else w
        return [(x * value, min(corners), max(corners))]
    b = w_shape.width
    top = b - 1 if w_shape.signed else b
    terms = [(Mux(w[i], x, 0) << i, min(0, xlo << i), max(0, xhi << i)) for i in range(top)]
    if w_shape.signed:
        terms.append((-(Mux(w[top], x, 0) << top), min(0, -(xhi << top)), max(0, -(xlo << top))))
    return terms

