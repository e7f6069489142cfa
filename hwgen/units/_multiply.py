"""Pipelined shift-add products in LUT logic (the row units' multipliers).

An ECP5 MULT18X18D without its internal registers (Yosys does not pack them)
takes 3.1 ns of its own; with the routing to and from flip-flops the path
is about 5.7 ns, so no product through one reaches 200 MHz (measured:
Shiftmax's scale product, 148 MHz). These products are narrow in at least
one operand (a 5-bit mantissa, a 9-bit centred value), so shift-add logic
with a register after every adder level is small and fast.

A wide product (Requant's ``x * m'``, 32 x 31 bits) is cheaper in tiles:
:func:`tiled_product` writes it as 18x18 ``*`` each registered right before
and after, which :mod:`hwgen.dsppack` moves into the MULT18X18D's own input
and output registers after synthesis, and an adder tree in logic over the
tile products, those that do not overlap concatenated (2 x 2 tiles: three
operands, one stage).
"""

from amaranth.hdl import Cat, Const, Mux, Shape, Signal, signed, unsigned

from ._expshift import delay

__all__ = ["REGISTERED_TILE_SHARE", "product_latency", "shift_add_product", "signed_digits",
           "staged_product", "staged_product_latency", "tile_count", "tile_row_lows",
           "tile_rows", "tile_slices", "tile_terms", "tiled_product", "tiled_product_latency"]


def product_latency(a_shape, b_shape):
    """Register stages of :func:`shift_add_product` for operands of these shapes."""
    signed_ = a_shape.signed or b_shape.signed
    rows = min(a_shape.width, b_shape.width)
    return (1 if signed_ else 0) + max(1, (rows - 1).bit_length()) + (1 if signed_ else 0)


def shift_add_product(m, a, b, *, enable, name, bound=None):
    """``a * b`` (either may be signed), :func:`product_latency` enabled cycles later.

    ``bound`` (optional) is a known bound on ``|a * b|``, from the caller's
    algebra; since every partial product is non-negative, each partial sum
    is below it too, which narrows the adder tree.

    Signed operands are split into magnitude and sign first (one stage); the
    narrower magnitude's bits select shifted copies of the wider one, which
    an adder tree sums with a register after each level; a signed product
    is negated back in a last stage. Every stage holds at most one carry chain.
    The registers have no reset: the caller reads the product behind a valid
    flag of its own (the row units' pipelines), so they stay off the reset net.
    """
    a_shape, b_shape = a.shape(), b.shape()
    signed_ = a_shape.signed or b_shape.signed
    if signed_:
        a_mag = Signal(unsigned(a_shape.width), name=f"{name}_a", reset_less=True)
        b_mag = Signal(unsigned(b_shape.width), name=f"{name}_b", reset_less=True)
        negative = Signal(name=f"{name}_negative", reset_less=True)
        a_neg = a < 0 if a_shape.signed else False
        b_neg = b < 0 if b_shape.signed else False
        with m.If(enable):
            m.d.sync += [a_mag.eq(Mux(a_neg, -a, a) if a_shape.signed else a),
                         b_mag.eq(Mux(b_neg, -b, b) if b_shape.signed else b),
                         negative.eq(_xor(a_neg, b_neg))]
        a, b = a_mag, b_mag
    narrow, wide = (a, b) if len(a) <= len(b) else (b, a)
    # A term is (value, low, largest): the sum of partial products i.. of which the low
    # ``low`` bits are zero, kept shifted down and as wide as its largest value needs.
    top = (1 << len(wide)) - 1
    terms = [(Mux(narrow[i], wide, 0), i, top) for i in range(len(narrow))]
    level = 0
    while len(terms) > 1 or level == 0:
        summed = []
        for index in range(0, len(terms), 2):
            pair = terms[index:index + 2]
            if len(pair) == 2:
                (va, la, ma), (vb, lb, mb) = pair
                value, low, largest = va + (vb << (lb - la)), la, ma + (mb << (lb - la))
                if bound is not None:
                    largest = min(largest, bound >> low)
            else:
                value, low, largest = pair[0]
            reg = Signal(unsigned(largest.bit_length()), name=f"{name}_l{level}_{index // 2}",
                         reset_less=True)
            with m.If(enable):
                m.d.sync += reg.eq(value)
            summed.append((reg, low, largest))
        terms, level = summed, level + 1
    value, low, _ = terms[0]
    magnitude = value << low
    if not signed_:
        return magnitude
    product = Signal(signed(len(a) + len(b) + 1), name=name, reset_less=True)
    negative = delay(m, negative, level, enable, f"{name}_negative", reset_less=True)
    with m.If(enable):
        m.d.sync += product.eq(Mux(negative, -magnitude, magnitude))
    return product


def _xor(a, b):
    if a is False:
        return b if b is not False else False
    return a if b is False else a ^ b


def signed_digits(value):
    """``[(digit, position)]`` of the canonical signed-digit form of ``value > 0`` (digits
    +1 / -1, no two adjacent, the fewest non-zero ones; the top one is +1): 22435 has nine
    ones but seven digits."""
    digits, position = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)                 # ...01 -> +1, ...11 -> -1
            digits.append((digit, position))
            value -= digit
        value, position = value >> 1, position + 1
    return digits


def staged_product_latency(terms, stages):
    """Register stages :func:`staged_product` takes for ``terms`` terms (a multiplier's bits,
    or a constant's :func:`signed_digits`) when asked for ``stages``: the adder levels split
    evenly, at least one stage."""
    levels = (terms - 1).bit_length()
    if levels == 0:
        return 1
    per_stage = -(-levels // max(stages, 1))
    return -(-levels // per_stage)


def staged_product(m, x, multiplier, *, stages, name):
    """``x * multiplier`` (``x`` signed or unsigned, ``multiplier`` unsigned, or a positive
    int), registered, :func:`staged_product_latency` cycles later; the pipeline never stalls.

    The multiplier's bits select shifted copies of ``x`` (signed copies when ``x`` is, so
    no sign split or negation stage is needed), which a balanced adder tree sums with
    a register after every ``ceil(levels / stages)`` adder levels. An int multiplier is
    its :func:`signed_digits` instead: a shifted ``x`` per non-zero digit, a -1 digit's
    copy subtracted by the adder that joins it (a node whose terms are all -1 digits
    holds their sum's magnitude and is subtracted in turn; the root holds the top digit,
    +1, so it is never one), so fewer terms, levels and registers than its ones.
    """
    if isinstance(multiplier, int):
        terms = [(x, position, digit < 0) for digit, position in signed_digits(multiplier)]
    else:
        terms = [(Mux(multiplier[i], x, 0), i, False) for i in range(len(multiplier))]
    value, low, _ = _adder_tree(m, terms, stages, name)
    return value << low


def _adder_tree(m, terms, stages, name):
    """The registered sum of ``(value, low, negative)`` ``terms`` (lowest first): a balanced
    tree of :func:`_joined` adders with a register after every ``ceil(levels / stages)``
    levels and after the root (a lone term is registered once)."""
    levels = (len(terms) - 1).bit_length()
    per_stage = -(-levels // max(stages, 1)) if levels else 1
    level = 0
    while True:
        if len(terms) > 1:
            terms = [_joined(*terms[index:index + 2]) for index in range(0, len(terms), 2)]
            level += 1
        if len(terms) == 1 or level % per_stage == 0:
            registered = []
            for index, (value, low, negative) in enumerate(terms):
                reg = Signal(value.shape(), name=f"{name}_l{level}_{index}")
                m.d.sync += reg.eq(value)
                registered.append((reg, low, negative))
            terms = registered
        if len(terms) == 1:
            return terms[0]


def _joined(a, b=None):
    """One adder of :func:`staged_product`'s tree: ``(value, low, negative)`` terms ``a`` and
    ``b`` (``b`` the higher) as one, aligned at ``a``'s low bit; ``a`` alone without ``b``."""
    if b is None:
        return a
    (va, la, na), (vb, lb, nb) = a, b
    vb = vb << (lb - la)
    if na == nb:
        return va + vb, la, na
    return (vb - va, la, False) if na else (va - vb, la, False)


#: a MULT18X18D with its input and output registers on (:mod:`hwgen.dsppack`), register to
#: register, as a share of the delay model's unregistered tile (``dsp``, 3.0 ns on speed 8):
#: one registered tile placed alone at 657 MHz (1.52 ns) on ecp5-85k-8, seed 1. nextpnr times
#: the tile's registers, not the multiplier between them.
REGISTERED_TILE_SHARE = 1.52 / 3.0

_UNSIGNED_SLICE = 17    # an unsigned operand slice that a signed 18-bit tile input holds
_SIGNED_SLICE = 18


def tile_slices(width, signed_):
    """``[(low, bits, signed)]`` of an operand of ``width`` bits cut for 18x18 signed tiles:
    17-bit unsigned slices from the bottom, the top one signed (up to 18 bits) when the
    operand is."""
    slices, low = [], 0
    while width - low > (_SIGNED_SLICE if signed_ else _UNSIGNED_SLICE):
        slices.append((low, _UNSIGNED_SLICE, False))
        low += _UNSIGNED_SLICE
    return slices + [(low, width - low, signed_)]


def tiled_product_latency(rows, stages):
    """Register stages of :func:`tiled_product`: the tiles' products, then the adder tree of
    its ``rows`` (:func:`tile_rows`) in about ``stages``."""
    return 1 + (staged_product_latency(rows, stages) if rows > 1 else 0)


def tile_count(x_shape, factor):
    """MULT18X18D tiles of :func:`tiled_product` for ``x`` of ``x_shape`` and ``factor`` (an
    unsigned shape, or a positive int: its all-zero slices need no tile)."""
    return len(_tiles(x_shape, factor))


def tile_rows(x_shape, factor):
    """Operands of :func:`tiled_product`'s adder tree: its tiles' products packed into rows
    (:func:`_packed_rows`), e.g. 3 for 2 x 2 tiles, whose lowest and highest products do not
    overlap."""
    return len(_packed_rows([(low, shape) for low, shape, _, _ in _tiles(x_shape, factor)]))


def tile_row_lows(x_shape, factor):
    """The low bit of each of :func:`tile_rows`' operands, lowest first."""
    tiles = _tiles(x_shape, factor)
    return sorted(tiles[row[0]][0] for row in _packed_rows([(low, shape)
                                                         for low, shape, _, _ in tiles]))


def _tiles(x_shape, factor):
    """``[(low, product shape, x slice, factor slice)]`` of :func:`tiled_product`'s tiles, the
    slices as ``(low, bits, signed)`` of ``x`` and ``(low, piece)`` of the factor (``piece``
    an int, or the bits of an unsigned factor slice)."""
    if isinstance(factor, int):
        f_slices = _constant_slices(factor)
    else:
        width = factor.width if isinstance(factor, Shape) else len(factor)   # a shape or a value
        f_slices = [(low, bits) for low, bits, _ in tile_slices(width, False)]
    tiles = []
    for x_slice in tile_slices(x_shape.width, x_shape.signed):
        x_low, bits, signed_ = x_slice
        piece = Const(0, signed(bits) if signed_ else unsigned(bits))
        for f_low, f_piece in f_slices:
            operand = f_piece if isinstance(factor, int) else Const(0, unsigned(f_piece))
            tiles.append((x_low + f_low, (piece * operand).shape(), x_slice, (f_low, f_piece)))
    return sorted(tiles, key=lambda tile: tile[0])


def _packed_rows(products):
    """Indices of ``products`` (``(low, shape)``, lowest first) packed into rows of products
    that do not overlap, each one's lower neighbour unsigned, so that a row is the products'
    concatenation (zeros between them) and costs no adder: first fit, in order."""
    rows = []
    for index, (low, _) in enumerate(products):
        for row in rows:
            top_low, top_shape = products[row[-1]]
            if not top_shape.signed and top_low + top_shape.width <= low:
                row.append(index)
                break
        else:
            rows.append([index])
    return rows


def _constant_slices(factor):
    """``[(low, piece)]`` of a positive int cut as :func:`tile_slices` cuts it, without its
    all-zero slices (they need no tile)."""
    pieces = [(low, (factor >> low) & ((1 << bits) - 1))
              for low, bits, _ in tile_slices(factor.bit_length(), False)]
    return [(low, piece) for low, piece in pieces if piece]


def tiled_product(m, x, factor, *, stages, name):
    """``x * factor`` (``x`` signed or unsigned, ``factor`` an unsigned Value or a positive
    int) as products of at most 18x18 signed bits, each registered right before and right
    after its ``*`` so that :mod:`hwgen.dsppack` puts both registers into a MULT18X18D, then
    a balanced adder tree of the shifted tile products, those that do not overlap
    concatenated into one operand (:func:`tile_rows`), with a register after every
    ``ceil(levels / stages)`` levels (Yosys makes a stage's levels one multi-operand sum:
    a row of full adders per level, one carry chain); :func:`tiled_product_latency` cycles
    later (the pipeline never stalls).

    ``x`` and a Value ``factor`` must be register outputs of one control set (clock,
    enable, reset: a ROM's read register has no reset, so ``x``'s must have none either),
    with nothing between them and the ``*``; an int's slices are constants.
    """
    terms = [(value, low, False) for value, low in tile_terms(m, x, factor, name=name)]
    # a lone row is registered already (the tiles' registers); several are summed by a
    # registered tree
    value, low, _ = terms[0] if len(terms) == 1 else _adder_tree(m, terms, stages, name)
    return value << low


def tile_terms(m, x, factor, *, name):
    """The registered tile products of :func:`tiled_product`, packed into its adder tree's
    operands (:func:`tile_rows`): ``[(value, low)]``, lowest first, ``x * factor ==
    sum(value << low)``; the caller sums them (:func:`tiled_product`'s tree, or a sum of its
    own)."""
    tiles = _tiles(x.shape(), factor)
    products = []
    for _, shape, (x_low, bits, signed_), (f_low, f_piece) in tiles:
        piece = x[x_low:x_low + bits]
        piece = piece.as_signed() if signed_ else piece
        f_value = f_piece if isinstance(factor, int) else factor[f_low:f_low + f_piece]
        # no reset, as the input registers (one control set for the whole tile)
        tile = Signal(shape, name=f"{name}_t{x_low}_{f_low}", reset_less=True)
        m.d.sync += tile.eq(piece * f_value)
        products.append(tile)
    # Products that do not overlap are one operand, their concatenation: 2 x 2 tiles are
    # three operands, one LUT level of full adders and a carry chain in one stage.
    terms = []
    for row in _packed_rows([(low, shape) for low, shape, _, _ in tiles]):
        parts, top = [], tiles[row[0]][0]
        for index in row:
            parts += [Const(0, tiles[index][0] - top), products[index]]
            top = tiles[index][0] + len(products[index])
        value = Cat(*parts)
        terms.append((value.as_signed() if products[row[-1]].shape().signed else value,
                      tiles[row[0]][0]))
    terms.sort(key=lambda term: term[1])
    return terms
