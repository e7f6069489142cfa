"""XNOR-popcount compressor trees: the lane datapath of a binary MVAU (issue #18).

``xnor_popcount(m, x, w, ...)`` builds ``sum_k ~(x[k] ^ w[k])`` over ``n``
activation and weight bits into module ``m`` and returns the count, an
unsigned value of ``n.bit_length()`` bits. Two structures, chosen per FPGA
family because Yosys maps them differently (``benchmarks/synth_binary.py
--only tree`` measures both):

``"compressor"`` (Xilinx, LUT6 + CARRY4)
    Level 1 fuses the XNOR with counting: each bit of the 2-bit count of
    three XNORs (their parity, their majority) is a 6-input function of
    three activation and three weight bits, one LUT6. Then stages of
    generalized parallel counters (GPCs) on the columns of the dot diagram:
    a ``(6;3)`` counter (six bits of one weight -> their 3-bit count) or a
    ``(5,1;3)`` GPC (five bits of weight 2**i and one of 2**(i+1)) costs
    one LUT per output bit and removes one bit per LUT; smaller ones are
    used only where nothing else shrinks a column. The last level is one
    carry-chain adder ``a + b`` (Amaranth ``+``, which Yosys maps to CARRY4
    above two bits) that absorbs a GPC stage: row ``a`` takes one bit per
    column as it is (the chain's DI input), row ``b`` one bit or one output
    bit of a GPC of at most five inputs, which the column's propagate LUT
    computes together with the XOR: those GPCs cost no LUT of their own.
    GPC stages run until the columns fit that adder. A GPC output is written
    as a truth table indexed by its inputs (a constant's ``bit_select``):
    as a sum, Yosys would put a three-bit counter on the carry chain. Each
    counting level is a submodule of its own (``<name>_level<k>``): Yosys
    keeps the hierarchy and maps each level apart, so ABC cannot merge two
    levels' counters into functions of seven or eight inputs (MUXF7/MUXF8,
    more LUTs). Two output bits of one counter with at most five inputs in
    all (a first-level group over a weight table with a 2-bit address, a
    full adder, a (5;3) GPC) are marked as a pair (``DUAL_LUT_ATTRIBUTE``):
    a Xilinx LUT6 computes both as a ``LUT6_2``, which hwgen's Xilinx flow
    packs (:mod:`hwgen.lutpack`; Yosys has no LUT combining).
``"adder"`` (iCE40; ECP5 before ``"ecp5_carry"``)
    The XNORs, then a balanced tree of two-input adders (the structure of
    the MVAU's original tree); Yosys merges the adders between two register
    stages into one multi-operand sum and ABC maps its full adders together
    with the XNORs into LUT4s. On ECP5 this measured fewer LUT4 than the
    compressor tree or LUT4 counters (two synapses -> a 2-bit count, then
    full adders): a LUT4 cannot fuse three XNORs, Yosys puts only adders
    wider than four bits on CCU2C cells, and it cannot put logic into a
    CCU2C's LUT4s, so every counter stays in LUTs. ``"ecp5_carry"`` does put it there.

``"ecp5_carry"`` (ECP5 LUT4 + CCU2C)
    ``n`` minus the mismatch count of :mod:`._carry_popcount`: ripple adders of
    CCU2C cells whose LUT4s compute the XORs ``x[k] ^ w[k]`` too, about 1.5
    LUT4 per synapse with no LUT4 outside the cells. The cells are Instances
    (inside :func:`._ccu2c.simulation_twins`: Amaranth logic, for Amaranth's
    simulator), so the Verilog is for ECP5 only. The binary MVAU takes the
    mismatch count itself and subtracts it (no ``n -`` adder).

Levels and pipelining: level 0 is the inputs ``x`` and ``w``; each counting
stage (the fused XNOR level, each GPC stage, the final adder; ``"adder"``:
each adder level) ends a level, and ``depth`` levels give the count.
``registers`` lists the levels followed by a register stage (a level may
repeat; levels beyond ``depth`` are registers after the count), built with
``enable`` or by the caller's ``stages``. Inside a folded MVAU a stage at
level 0 (right after the slice and weight reads) measured far fewer LUTs
than one in the middle of the tree, where ABC restructured the counters
together with the logic in front of them (``stage_levels`` places stages
so; ``benchmarks/synth_binary.py --only lane``).
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._carry_popcount import carry_depth, mismatch_count
from ._checks import check_int

__all__ = ["STRUCTURES", "FAMILY_STRUCTURE", "TABLE_ADDRESS_BITS", "DUAL_LUT_ATTRIBUTE", "PopcountPlan", "WeightTable",
           "fused_group", "popcount_plan", "stage_levels", "xnor_popcount", "compressor_sum",
           "sum_depth", "PopcountTree"]

#: the tree structures (see the module doc)
STRUCTURES = ("compressor", "adder", "ecp5_carry")
#: the structure each family's Yosys flow maps best (measured, see the module doc)
FAMILY_STRUCTURE = {"xilinx": "compressor", "ecp5": "ecp5_carry", "ice40": "adder"}

# GPC shapes (bits taken from column i, i+1, ...) usable with 6-input LUTs, most bits removed per
# LUT first: (6,) is a (6;3) counter, (5, 1) the (1,5;3) GPC. The full adder (3,) and the
# (3, 2) / (4, 1) / (5,) GPCs are used only where a column must shrink this stage.
_GPCS_6 = [(6,), (5, 1), (3, 2), (4, 1), (5,), (3,)]
_EFFICIENT = {(6,), (5, 1)}

#: attribute naming the dual-output LUT that two first-level count bits share: Yosys has no
#: LUT combining, so hwgen's Xilinx flow packs each such pair into one LUT6_2
#: (:mod:`hwgen.lutpack`); other flows ignore it
DUAL_LUT_ATTRIBUTE = "hwgen_lut6_2"
#: inputs two functions may have in all to share a LUT6_2 (its sixth input selects O6's half)
DUAL_LUT_INPUTS = 5

#: most address bits of a :class:`WeightTable`: the first level's LUT6 then takes one
#: activation bit and the address (a deeper ROM is read into a register first)
TABLE_ADDRESS_BITS = 5


@dataclass(frozen=True)
class WeightTable:
    """Weight bits given as a ROM read at a registered address: ``words[addr]``, ``n`` bits.

    A compressor tree over a table reads the ROM inside its first level: each of
    that level's LUTs takes the group's activation bits and the address bits (see
    :func:`fused_group`), so the ROM costs no LUT of its own. ``addr`` must hold
    ``len(words)`` addresses in at most :data:`TABLE_ADDRESS_BITS` bits.
    """
    addr: object
    words: tuple
    n: int

    def __post_init__(self):
        if not 1 <= len(self.addr) <= TABLE_ADDRESS_BITS:
            raise ValueError(f"a weight table's address must have 1 to {TABLE_ADDRESS_BITS} "
                             f"bits, not {len(self.addr)}")
        if len(self.words) > 1 << len(self.addr):
            raise ValueError(f"{len(self.words)} words do not fit a {len(self.addr)}-bit "
                             f"address")

    def __len__(self):
        return self.n

    def bit(self, k, address):
        """Weight bit ``k`` at ``address`` (0 beyond the words: never read)."""
        return self.words[address] >> k & 1 if address < len(self.words) else 0


def fused_group(address_bits=None):
    """Synapses per first-level counter. Weights as inputs (``address_bits`` None): three,
    a LUT6 per bit of the count of three XNORs. Over a :class:`WeightTable`: of the groups
    whose activation bits fit a LUT6 beside the address bits, the one with the fewest count
    bits per synapse (one LUT each): 5 synapses for a 1-bit address (3 bits), 3 for 2 or 3
    bits, 1 for 4 or 5."""
    if address_bits is None:
        return 3
    return min(range(1, max(1, 6 - address_bits) + 1),
               key=lambda g: (g.bit_length() / g, g))


@dataclass(frozen=True)
class PopcountPlan:
    """The shape of a popcount tree over ``n`` bits: what callers need to place registers.

    ``depth`` counting levels (see the module doc), ``width`` bits of the count,
    ``stage_sizes[j]`` the number of LUT-sized functions (counter output bits)
    of compressor level ``j + 1`` (empty for ``"adder"``).
    """
    n: int
    structure: str
    depth: int
    width: int
    stage_sizes: tuple = ()


def popcount_plan(n, structure="compressor", group=3):
    """The :class:`PopcountPlan` that :func:`xnor_popcount` builds for ``n`` bits (``group``
    synapses per first-level counter, :func:`fused_group`)."""
    n = check_int("n", n, minimum=1)
    group = check_int("group", group, minimum=1)
    _check_structure(structure)
    width = n.bit_length()
    if structure == "adder":
        return PopcountPlan(n, structure, (n - 1).bit_length(), width)
    if structure == "ecp5_carry":
        return PopcountPlan(n, structure, carry_depth(n), width)
    sizes, final = _reduction(_fused_columns(n, group), width)
    return PopcountPlan(n, structure, 1 + len(sizes) + final, width, tuple(sizes))


def stage_levels(depth, pipeline):
    """Where ``pipeline`` register stages go in a tree of ``depth`` levels that feeds an
    accumulator: the first after level 0, the others splitting the ``depth`` tree levels
    and the accumulator adder into nearly equal segments.

    The first stage cuts the tree off the logic in front of it (the input buffer's
    replay mux, the weight reads), which in a folded MVAU measured far fewer LUTs than
    a stage in the middle of the tree (see the module doc).
    """
    depth = check_int("depth", depth, minimum=0)
    pipeline = check_int("pipeline", pipeline, minimum=0)
    if not pipeline:
        return ()
    return (0,) + tuple(j * (depth + 1) // pipeline for j in range(1, pipeline))


def xnor_popcount(m, x, w, *, structure="compressor", registers=(), enable=None, stages=None,
                  name="popcount"):
    """Build ``sum_k ~(x[k] ^ w[k])`` into ``m``; return the count (unsigned, ``n.bit_length()``).

    Parameters
    ----------
    m : Module
    x, w : Value        activation and weight bits, ``n`` each (bit 1 = +1); ``w`` may be a
                        :class:`WeightTable` (``"compressor"`` only): the ROM is read inside
                        the first level, whose registers at level 0 take its address
    structure : str     ``"compressor"``, ``"adder"`` or ``"ecp5_carry"`` (``FAMILY_STRUCTURE``
                        maps a family)
    registers : iterable of int
        levels (0 .. depth, or beyond) followed by a register stage; the count
        comes ``len(registers)`` cycles after ``x`` and ``w``
    enable : Value or None
        register enable (a pipeline's advance); None: always
    stages : object or None
        builds the registers instead of ``enable``: anything with
        ``register(value, shape, name)`` returning ``value`` one stage later
        (the folded engine's ``Stages``), so the caller decides how a stage moves
    name : str          prefix of the signal names
    """
    n = len(x)
    if len(w) != n:
        raise ValueError(f"x and w must have the same width, not {n} and {len(w)}")
    group = fused_group()
    if isinstance(w, WeightTable):
        if structure != "compressor":
            raise ValueError(f"a WeightTable is read inside the compressor tree's first level, "
                             f"not by the {structure!r} tree")
        group = fused_group(len(w.addr))
    plan = popcount_plan(n, structure, group)
    levels = sorted(check_int("registers entry", level, minimum=0) for level in registers)
    builder = _Builder(m, levels, enable, stages, name)
    if structure == "adder":
        count = builder.adder_tree(x, w)
    elif structure == "ecp5_carry":
        mismatches = mismatch_count(m, x, w, registers=levels, enable=enable, stages=stages,
                                    name=name)
        count = Signal(n.bit_length(), name=f"{name}_count")
        m.d.comb += count.eq(n - mismatches)
    else:
        count = builder.compressor_tree(x, w, plan, group)
    return count


class PopcountTree(wiring.Component):
    """One XNOR-popcount tree as a stream unit: :func:`xnor_popcount` alone, to test and measure it.

    Computes ``count = sum_k ~(x[k] ^ w[k])`` over ``n`` bits per beat.

    Parameters
    ----------
    n : int             bits of ``x`` and of ``w``
    structure : str     ``"compressor"``, ``"adder"`` or ``"ecp5_carry"`` (see the module doc)
    registers : tuple of int
        levels of the tree followed by a register stage (see :func:`xnor_popcount`)

    Members
    -------
    i : In(stream.Signature(StructLayout({"x": unsigned(n), "w": unsigned(n)})))
    o : Out(stream.Signature(unsigned(n.bit_length())))

    Latency ``1 + len(registers)`` cycles (the count is registered); one beat
    per cycle. Every stage advances when ``o.ready | ~o.valid``.
    """

    def __init__(self, *, n, structure="compressor", registers=()):
        self._plan = popcount_plan(n, structure)
        try:
            self._registers = tuple(sorted(check_int("registers entry", level, minimum=0)
                                           for level in registers))
        except TypeError:
            raise TypeError(f"registers must be an iterable of levels (integers), not "
                            f"{registers!r}") from None
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"x": unsigned(self._plan.n),
                                                        "w": unsigned(self._plan.n)}))),
            "o": Out(stream.Signature(unsigned(self._plan.width))),
        })

    n = property(lambda self: self._plan.n)
    structure = property(lambda self: self._plan.structure)
    registers = property(lambda self: self._registers)
    #: the tree's :class:`PopcountPlan` (depth, count width, GPC stage sizes)
    plan = property(lambda self: self._plan)
    latency = property(lambda self: 1 + len(self._registers))

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        count = xnor_popcount(m, self.i.payload.x, self.i.payload.w, structure=self.structure,
                              registers=self._registers, enable=advance, name="pc")
        valid = self.i.valid
        for stage in range(len(self._registers)):
            delayed = Signal(name=f"valid_{stage}")
            with m.If(advance):
                m.d.sync += delayed.eq(valid)
            valid = delayed
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(valid), self.o.payload.eq(count)]
        return m


def compressor_sum(m, terms, *, registers=(), enable=None, stages=None, name="sum"):
    """Build the sum of integer ``terms`` by GPC stages and one carry-chain adder.

    The compressor tree of :func:`xnor_popcount` without its XNOR level, for
    the integer adder trees of the MVAUs (and a popcount of plain bits: terms
    ``(bit, 0, 1)``). An unsigned term puts its bits into the columns; a
    signed one of ``b`` bits puts its low bits and its inverted sign bit there
    and ``-2**(b-1)`` into a constant, whose bits join the columns (a GPC
    with a constant input is a smaller LUT). Everything is computed modulo
    ``2**W`` for the ``W`` bits of the result, which is exact since the sum
    lies in ``[sum lo, sum hi]``.

    Parameters
    ----------
    m : Module
    terms : list of (Value, int, int)
        each term and the bounds ``lo <= value <= hi`` of the values it takes
    registers, enable, stages, name
        as for :func:`xnor_popcount`; level 0 is the terms, each GPC stage and
        the final adder end a level (:func:`sum_depth` levels)

    Returns a Value of the narrowest shape holding every sum (unsigned when
    ``sum lo >= 0``).
    """
    terms = _check_terms(terms)
    levels = sorted(check_int("registers entry", level, minimum=0) for level in registers)
    builder = _Builder(m, levels, enable, stages, name)
    return builder.term_sum(terms)


def sum_depth(bounds):
    """Levels of :func:`compressor_sum` over terms with these ``(lo, hi)`` bounds."""
    lo, hi = (sum(b[k] for b in bounds) for k in (0, 1))
    width = range_shape(lo, hi).width
    columns = _term_columns([(None, a, b) for a, b in bounds], width)
    return _reduction_depth(columns, width)


def _check_terms(terms):
    terms = list(terms)
    if not terms:
        raise ValueError("terms must hold at least one (value, lo, hi), not none")
    for term in terms:
        try:
            value, lo, hi = term
        except (TypeError, ValueError):
            raise TypeError(f"terms must be (value, lo, hi) triples, not {term!r}") from None
        if not (isinstance(lo, int) and isinstance(hi, int)) or lo > hi:
            raise ValueError(f"term bounds must be integers lo <= hi, not ({lo!r}, {hi!r})")
    return terms


def _term_columns(terms, width):
    """The dot diagram of ``terms`` modulo ``2**width``: per column, items ``("bit", value, j)``
    (bit ``j`` of a term), ``("inverted", value, j)`` (a signed term's sign bit, inverted)
    and ``("one",)`` (a set bit of the constant the signed terms add)."""
    columns = [[] for _ in range(width)]
    constant = 0
    for value, lo, hi in terms:
        shape = range_shape(lo, hi)
        for j in range(min(shape.width, width)):
            if shape.signed and j == shape.width - 1:
                columns[j].append(("inverted", value, j))
                constant -= 1 << j
            else:
                columns[j].append(("bit", value, j))
    constant %= 1 << width
    for j in range(width):
        if constant >> j & 1:
            columns[j].append(("one",))
    return columns


def _reduction_depth(columns, width):
    """GPC stages + final adder levels that take ``columns`` to one row."""
    if not columns:
        return 0
    sizes, final = _reduction(columns, width)
    return len(sizes) + final


def _reduction(columns, width):
    """``(stage_sizes, final)``: the LUTs of each GPC stage before the final adder, and 1 if
    a final adder (with its absorbed GPCs) ends the sum, else 0 (one bit per column left)."""
    sizes = []
    while _final_adder(columns, width) is None:
        gpcs, columns = _next_stage(columns, width)
        sizes.append(sum(_outputs(column, shape, width) for column, shape, _ in gpcs))
    return sizes, int(max(map(len, columns)) > 1)



def _check_structure(structure):
    if structure not in STRUCTURES:
        raise TypeError(f"structure must be one of {', '.join(map(repr, STRUCTURES))}, "
                        f"not {structure!r}")


# --- the dot diagram: columns of 1-bit items, column i weighing 2**i --------------------

def _fused_columns(n, group=3):
    """Level 1 as placeholders: each group of ``group`` synapses puts its count's bits in
    columns 0, 1 (, 2)."""
    columns = [[], [], []]
    for start in range(0, n, group):
        for bit in range(min(group, n - start).bit_length()):
            columns[bit].append(None)
    return [c for c in columns if c]


def _outputs(column, shape, width):
    """Output bits of a GPC of ``shape`` placed at ``column`` that are built.

    A bit at column ``width`` or above weighs a multiple of ``2 ** width``:
    sums are taken modulo ``2 ** width`` (a popcount of ``n`` bits never
    reaches it), so such a bit is not built.
    """
    top = sum(count << j for j, count in enumerate(shape))
    return min(top.bit_length(), width - column)


class _Out:
    """Placeholder for output ``bit`` of GPC ``index`` of the stage being planned."""
    __slots__ = ("index", "bit")

    def __init__(self, index, bit):
        self.index, self.bit = index, bit


def _next_stage(columns, width):
    """One GPC stage: ``(gpcs, columns_after)`` for ``columns`` (lists of items).

    ``gpcs`` lists ``(column, shape, inputs)``, ``inputs[j]`` the items taken
    from column ``column + j``; ``columns_after`` holds the items left alone
    and :class:`_Out` placeholders for the GPC outputs. Greedy from the least
    significant column: while a column would still hold more than two bits
    after this stage, place the GPC that removes the most bits per LUT and
    fits the bits left; a stage uses only the GPCs that remove one bit per
    LUT unless none fits anywhere (then the others, so every stage shrinks
    the diagram).
    """
    for strict in (True, False):
        left = [list(c) for c in columns]
        after = [[] for _ in range(width)]
        gpcs = []
        for i in range(len(left)):
            while len(left[i]) + len(after[i]) > 2:
                shape = _pick(left, i, strict)
                if shape is None:
                    break
                inputs = [[left[i + j].pop(0) for _ in range(count)]
                          for j, count in enumerate(shape)]
                for bit in range(_outputs(i, shape, width)):
                    after[i + bit].append(_Out(len(gpcs), bit))
                gpcs.append((i, shape, inputs))
            after[i][:0] = left[i]
        if gpcs:
            while not after[-1]:
                after.pop()
            return gpcs, after
    raise AssertionError("no GPC fits a column of more than two bits")   # (3,) always fits


def _pick(left, i, strict):
    """The GPC shape to place at column ``i`` (the first of ``_GPCS_6`` that fits), or None."""
    for shape in _GPCS_6:
        if strict and shape not in _EFFICIENT:
            continue
        if all(i + j < len(left) and len(left[i + j]) >= count for j, count in enumerate(shape)):
            return shape
    return None


#: inputs of a GPC whose output bits the final adder's LUTs absorb: with the other row's
#: bit, one LUT6 per column computes the carry chain's propagate signal
_ABSORBED_INPUTS = 5


def _final_adder(columns, width):
    """The last level as one carry-chain adder ``a + b`` that absorbs a GPC stage, or None.

    ``a`` takes one item per column as it is (the carry chain's DI input reads
    it); ``b`` takes one item per column or one output bit of a GPC of at most
    five inputs placed for this level, so the adder's propagate LUT of column
    ``i``, ``a[i] ^ b[i]``, computes that GPC bit too: the GPC costs no LUT of
    its own. Returns ``(a, b, gpcs)`` (``a[i]``: an item or None; ``b[i]``: an
    item, an :class:`_Out` of ``gpcs``, or None; ``gpcs`` as for
    :func:`_next_stage`) if every column fits, else None (then another GPC
    stage comes first). Columns holding at most two items always fit.
    """
    left = [list(c) for c in columns] + [[] for _ in range(width - len(columns))]
    a, b, gpcs = [None] * width, [None] * width, []
    for i in range(width):
        if b[i] is not None:                      # a GPC output bit landed here
            if len(left[i]) > 1:
                return None
            a[i] = left[i].pop() if left[i] else None
            continue
        if len(left[i]) <= 2:
            a[i] = left[i].pop(0) if left[i] else None
            b[i] = left[i].pop(0) if left[i] else None
            continue
        take = {i: len(left[i]) - 1}              # all but the item for row a
        while True:
            top = sum(count << (c - i) for c, count in take.items())
            span = range(i + 1, i + min(top.bit_length(), width - i))
            grown = {c: max(0, len(left[c]) - 1) for c in span if c not in take}
            if any(b[c] is not None for c in span):
                return None
            if not any(grown.values()) or sum(take.values()) > _ABSORBED_INPUTS:
                break
            take.update(grown)
        if sum(take.values()) > _ABSORBED_INPUTS:
            return None
        shape = tuple(take.get(c, 0) for c in range(i, max(take) + 1))
        inputs = [[left[i + j].pop(0) for _ in range(count)] for j, count in enumerate(shape)]
        for bit in range(_outputs(i, shape, width)):
            b[i + bit] = _Out(len(gpcs), bit)
        gpcs.append((i, shape, inputs))
        a[i] = left[i].pop(0)
    return a, b, gpcs


def _item_value(item):
    """The 1-bit Value of a :func:`_term_columns` item."""
    kind = item[0]
    if kind == "one":
        return Const(1, 1)
    value, j = item[1], item[2]
    width = len(value)
    bit = value[j] if j < width else (value[width - 1] if value.shape().signed else Const(0, 1))
    return ~bit if kind == "inverted" else bit


class _Builder:
    """Emits the tree into ``m``, inserting the register stages at their levels."""

    def __init__(self, m, levels, enable, stages, name):
        self.m, self.levels, self.enable, self.stages, self.name = m, levels, enable, stages, name
        self.level = 0
        self.serial = 0
        self._logic = None

    def _emit(self, statement):
        """Add ``statement`` to this level's counting logic: a submodule of its own, so Yosys
        maps each level on its own (``synth_*`` keeps the hierarchy) and ABC cannot merge
        the counters of two levels into wider functions that cost more LUTs."""
        if self._logic is None:
            self._logic = Module()
            self.m.submodules[f"{self.name}_level{self.level + 1}"] = self._logic
        self._logic.d.comb += statement

    def _signal(self, shape, tag, keep=False, pair=None):
        self.serial += 1
        attrs = {"keep": 1} if keep else {}
        if pair is not None:
            attrs[DUAL_LUT_ATTRIBUTE] = pair
        return Signal(shape, name=f"{self.name}_{tag}{self.serial}", attrs=attrs)

    def _registers(self, values):
        """``values`` (a list of Values) through the register stages placed at this level."""
        for _ in range(self.levels.count(self.level)):
            values = [self._register(value, f"l{self.level}r") for value in values]
        return values

    def _register(self, value, tag):
        if self.stages is not None:
            self.serial += 1
            return self.stages.register(value, value.shape(), f"{self.name}_{tag}{self.serial}")
        reg = self._signal(value.shape(), tag)
        if self.enable is None:
            self.m.d.sync += reg.eq(value)
        else:
            with self.m.If(self.enable):
                self.m.d.sync += reg.eq(value)
        return reg

    def _bit(self, value, tag):
        bit = self._signal(1, tag, keep=True)
        self._emit(bit.eq(value))
        return bit

    def _lut(self, inputs, function, tag, keep=True, pair=None):
        """One bit: ``function(bits)`` of the 1-bit ``inputs`` as a truth table (one LUT);
        ``pair`` names the dual-output LUT it shares (:data:`DUAL_LUT_ATTRIBUTE`)."""
        table = 0
        for index in range(1 << len(inputs)):
            if function([(index >> k) & 1 for k in range(len(inputs))]):
                table |= 1 << index
        bit = self._signal(1, tag, keep=keep, pair=pair)
        self._emit(bit.eq(Const(table, 1 << len(inputs)).bit_select(Cat(*inputs), 1)))
        return bit

    # --- "adder": XNORs, then a balanced tree of two-input adders ---------------------------

    def adder_tree(self, x, w):
        n = len(x)
        x, w = self._registers([x, w])
        agree = self._signal(n, "agree")
        self.m.d.comb += agree.eq(~(x ^ w))
        nodes = [(agree[k], 1) for k in range(n)]
        while len(nodes) > 1:
            self.level += 1
            pairs = []
            for k in range(0, len(nodes) - 1, 2):
                (a, a_max), (b, b_max) = nodes[k], nodes[k + 1]
                node = self._signal(unsigned((a_max + b_max).bit_length()), "sum")
                self.m.d.comb += node.eq(a + b)
                pairs.append((node, a_max + b_max))
            if len(nodes) % 2:
                pairs.append(nodes[-1])
            nodes = pairs
            values = self._registers([v for v, _ in nodes])
            nodes = [(v, top) for v, (_, top) in zip(values, nodes)]
        return self._finish(nodes[0][0], n)

    def _finish(self, count, n):
        """The count widened to ``n.bit_length()`` bits, through registers beyond the last level."""
        value = self._signal(n.bit_length(), "count")
        self.m.d.comb += value.eq(count)
        for _ in [level for level in self.levels if level > self.level]:
            value = self._register(value, "out")
        return value

    # --- "compressor": fused XNOR counters, GPC stages, one carry-chain adder ---------------

    def compressor_tree(self, x, w, plan, group):
        n, width = len(x), plan.width
        if isinstance(w, WeightTable):
            x, addr = self._registers([x, w.addr])
            columns = self._table_level(x, addr, w, group)
            return self._finish(self._reduce(self._next_level(columns), width), n)
        x, w = self._registers([x, w])
        # Level 1: the count of each group of three XNORs, one LUT per bit.
        columns = [[], []]
        for start in range(0, n, 3):
            a = [~(x[k] ^ w[k]) for k in range(start, min(start + 3, n))]
            columns[0].append(self._bit(a[0] if len(a) == 1 else
                                        a[0] ^ a[1] if len(a) == 2 else a[0] ^ a[1] ^ a[2], "x0_"))
            if len(a) > 1:
                columns[1].append(self._bit(a[0] & a[1] if len(a) == 2 else
                                            (a[0] & a[1]) | (a[0] & a[2]) | (a[1] & a[2]), "x1_"))
        columns = self._next_level([c for c in columns if c])
        return self._finish(self._reduce(columns, width), n)

    def _table_level(self, x, addr, table, group):
        """Level 1 over a :class:`WeightTable`: per ``group`` synapses, each bit of their XNOR
        count is one LUT of their activation bits and the address bits (the ROM read fused)."""
        columns = [[], [], []]
        a_bits = [addr[i] for i in range(len(addr))]
        for start in range(0, len(x), group):
            ks = list(range(start, min(start + group, len(x))))

            def count(v, ks=ks):
                address = sum(b << i for i, b in enumerate(v[len(ks):]))
                return sum(1 - (v[j] ^ table.bit(k, address)) for j, k in enumerate(ks))
            pins = [x[k] for k in ks] + a_bits
            bits = len(ks).bit_length()
            # two count bits of at most five inputs share one LUT6_2 (its O5 and O6)
            pair = (f"{self.name}_p{self.serial + 1}" if bits == 2 and len(pins) <= DUAL_LUT_INPUTS
                    else None)
            for bit in range(bits):
                columns[bit].append(self._lut(pins, lambda v, bit=bit, count=count:
                                              count(v) >> bit & 1, f"x{bit}_", pair=pair))
        return [c for c in columns if c]

    def term_sum(self, terms):
        lo, hi = sum(t[1] for t in terms), sum(t[2] for t in terms)
        shape = range_shape(lo, hi)
        values = self._registers([value for value, _, _ in terms])
        terms = [(v, a, b) for v, (_, a, b) in zip(values, terms)]
        items = _term_columns(terms, shape.width)
        columns = [[_item_value(item) for item in column] for column in items]
        while columns and not columns[-1]:
            columns.pop()
        total = self._reduce(columns, shape.width) if columns else Const(0, shape.width)
        result = self._signal(shape, "total")
        self.m.d.comb += result.eq(total.as_signed() if shape.signed else total)
        for _ in [level for level in self.levels if level > self.level]:
            result = self._register(result, "out")
        return result

    def _reduce(self, columns, width):
        """GPC stages until every column holds at most two bits, then one carry-chain adder of
        the two rows: the ``width``-bit sum of ``columns`` (modulo ``2**width``)."""
        while _final_adder(columns, width) is None:
            gpcs, after = _next_stage(columns, width)
            bits = [self._gpc(column, shape, inputs, width) for column, shape, inputs in gpcs]
            columns = self._next_level([[bits[item.index][item.bit] if isinstance(item, _Out)
                                         else item for item in column] for column in after])
        a, b, gpcs = _final_adder(columns, width)
        if max(map(len, columns)) <= 1:
            return Cat(*[c[0] if c else Const(0, 1) for c in columns])
        # The absorbed GPCs' bits stay free of ``keep``: ABC merges each into the propagate
        # LUT of its column.
        bits = [self._gpc(column, shape, inputs, width, keep=False)
                for column, shape, inputs in gpcs]
        zero = Const(0, 1)
        row_a = Cat(*[zero if item is None else item for item in a])
        row_b = Cat(*[zero if item is None else bits[item.index][item.bit]
                      if isinstance(item, _Out) else item for item in b])
        total = self._signal(width, "cpa")
        self._emit(total.eq(row_a + row_b))
        total, = self._next_level([[total]])[0]
        return total

    def _next_level(self, columns):
        """End a level: ``columns`` (lists of values) through the registers placed after it."""
        self.level += 1
        self._logic = None
        flat = self._registers([bit for column in columns for bit in column])
        out, k = [], 0
        for column in columns:
            out.append(flat[k:k + len(column)])
            k += len(column)
        return out

    def _gpc(self, column, shape, inputs, width, keep=True):
        """The output bits of one GPC (a LUT each) whose ``inputs[j]`` weigh ``2 ** (column + j)``."""
        pins = [bit for group in inputs for bit in group]
        weights = [1 << j for j, group in enumerate(inputs) for _ in group]
        outputs = _outputs(column, shape, width)
        # a GPC of at most five inputs (a full adder, a (5;3) ...) puts its two low bits on
        # one LUT6_2; absorbed GPCs are left to the adder's propagate LUTs
        pair = (f"{self.name}_p{self.serial + 1}"
                if keep and outputs >= 2 and len(pins) <= DUAL_LUT_INPUTS else None)
        return [self._lut(pins, lambda v, bit=bit:
                          (sum(b * wt for b, wt in zip(v, weights)) >> bit) & 1, f"g{bit}_",
                          keep=keep, pair=pair if bit < 2 else None)
                for bit in range(outputs)]
