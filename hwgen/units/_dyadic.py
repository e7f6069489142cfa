"""The dyadic rescale datapath (docs/design/numbers.md), shared by Requant and AddStreams.

Every rounding mode is built from ``a = p >> (s-1)``: half-up
``(p + 2**(s-1)) >> s`` is ``(a + 1) >> 1``, floor ``p >> s`` is ``a >> 1``, and
half-even is ``(a + 1 - t) >> 1`` with ``t`` set on the ties that must go down
(``sw_reference.ops.dyadic`` proves all three), so nothing is wider than the
product ``p`` and no ``2**(s-1)`` constant is added.
"""

import operator

import numpy as np
from amaranth.hdl import Array, Cat, Const, Mux, Shape, Signal, Value, signed

from ._checks import shape_range

__all__ = ["ROUNDING_MODES", "check_rounding", "clamp", "clamp_levels", "delayed", "dyadic_bounds",
           "narrowest_multiplier", "round_shift"]

#: the ``rounding`` modes of requant and add (docs/design/numbers.md)
ROUNDING_MODES = ("half_up", "half_even", "floor")


def check_rounding(rounding):
    """``rounding`` if it is one of :data:`ROUNDING_MODES`, else TypeError (a constructor check)."""
    if not isinstance(rounding, str) or rounding not in ROUNDING_MODES:
        raise TypeError(f"rounding must be one of {', '.join(map(repr, ROUNDING_MODES))}, "
                        f"not {rounding!r}")
    return rounding


def round_shift(m, product, shamt, exact, *, rounding="half_up", suffix, offset=0,
                shift_stage=False, half_shape=None, base=0, amounts=None, low=None):
    """``product`` rescaled by ``2**-s`` with ``rounding``, plus the integer ``offset``.

    ``shamt`` is ``s - 1`` (0 when ``s == 0``) and ``exact`` is ``s == 0`` (no
    rounding term): registered signals when the shift varies per channel, or
    ``Const``\\ s, which Amaranth folds away. Without ``offset`` the result is
    a Signal like ``product`` (it lies between 0 and ``product``). An
    ``offset`` (a zero point: an integer, or a signed Value such as a
    per-channel zero point read from a ROM) costs no adder of its own:
    ``((a + c) >> 1) + z == (a + c + 2*z) >> 1``, since ``2*z`` is even; a
    Value's ``2*z + c`` is the wiring ``Cat(c, z)``, whose low bit is also
    where half-even's ``1 - t`` goes, so the rounding and the offset are one
    carry chain. The result is then wide enough for the sum.

    Half-even adds one comparison: a tie is ``a`` odd with the ``s - 1`` bits
    shifted out all zero, and it goes down instead of up when ``a >> 1`` is
    even, i.e. when ``a & 3 == 1`` and those bits are zero.

    Without ``shift_stage`` the result is combinational. With it the variable
    shift ``product >> shamt`` is registered (``2 * product`` when ``exact``,
    so that the rounding adder gives ``product`` in every mode) together with
    half-even's "bits shifted out are zero" flag: the result then comes one
    cycle later, and a per-channel shift's barrel shifter and the rounding
    adder are in separate stages; ``half_shape`` (signed) holds every
    registered value (from the bounds of the inputs), so the register is no
    wider than its values.

    ``base`` (a constant, default 0) is shifted out first and ``shamt`` is
    then what remains (``s - 1 - base``): a per-channel shift whose values lie
    close together needs a barrel shifter of only ``(max - min)`` positions.
    ``amounts`` (ascending ints, optional): ``shamt`` is an index into them rather than
    the amount, so the shift is a multiplexer of ``len(amounts)`` shifted copies (one LUT
    level for two amounts however far apart, where a barrel shifter has a level per bit).

    ``low`` (optional, a Value): the product is ``product + low``, not summed before the
    shift. ``product``'s bits below ``base`` plus the largest amount must be zero, so that
    ``(product + low) >> k == (product >> k) + (low >> k)`` for every shift ``k``: the two
    shifted parts and the rounding term are then one three-operand sum (a row of full adders
    and one carry chain), where their sum first would be a carry chain before the shift.
    Requant's split tile sums give it; rounding ``"half_up"`` or ``"floor"`` only (half-even
    reads the product's low bits) and ``exact`` the constant 0.
    """
    check_rounding(rounding)
    if low is not None and (rounding == "half_even" or not isinstance(exact, Const)
                            or exact.value):
        raise ValueError(f"a low part needs rounding 'half_up' or 'floor' and exact Const(0), "
                         f"not {rounding!r} and {exact!r}")
    amount, shift = shamt, (lambda value: value >> shamt)
    if amounts is not None:
        try:
            amounts = [operator.index(a) for a in amounts]
        except TypeError:
            raise TypeError(f"amounts must be ints, not {amounts!r}") from None
        if len(amounts) < 2 or amounts[0] < 0 or amounts != sorted(set(amounts)):
            raise ValueError(f"amounts must be two or more distinct ascending non-negative "
                             f"ints, not {amounts!r}")
        if 1 << len(shamt) < len(amounts):
            raise ValueError(f"a {len(shamt)}-bit shamt cannot index {len(amounts)} amounts")
        amount = Array(Const(a, range(max(amounts) + 1)) for a in amounts)[shamt]
        shift = (lambda value: Array(value >> a for a in amounts)[shamt])
    if low is not None:
        # the parts shift on their own, then the rounding sum adds them (three operands)
        parts, one = (product >> base, low >> base), shift
        shift = (lambda _value: one(parts[0]) + one(parts[1]))
        product = product + low       # its shape, and the exact case's (never built)
    if base:
        # p >> (base + r) == (p >> base) >> r; the low bits half-even looks at span both.
        below = Const(base, range(base + 1))
        product, bits = product >> base, (product, below + amount)
    else:
        bits = (product, amount)
    if shift_stage:
        return _staged(m, product, shift, exact, rounding, suffix, offset, half_shape, bits)
    if low is None:
        half = Signal.like(product, name=f"half_{suffix}")
        m.d.comb += half.eq(shift(product))
    else:
        half = shift(product)         # no Signal between the parts' sum and the rounding's
    down = None
    if rounding == "half_even":
        down = Signal(name=f"tie_down_{suffix}")
        m.d.comb += down.eq(_low_bits_zero(m, *bits, suffix) & (half[:2] == 1))
    shifted = _rounding_sum(half, rounding, offset, down)
    rounded = _rounded(product, offset, rounding, suffix)
    m.d.comb += rounded.eq(Mux(exact, product + offset if _has_offset(offset) else product,
                               shifted >> 1))
    return rounded


def _has_offset(offset):
    return not isinstance(offset, int) or offset != 0


def _rounded(source, offset, rounding, suffix):
    """The Signal of :func:`round_shift`'s result from ``source`` (the product, or the shift
    stage's register): like ``source``, or wide enough for the sum with an ``offset``."""
    if not _has_offset(offset):
        return Signal.like(source, name=f"rounded_{suffix}")
    term = len(Const((rounding != "floor") + 2 * offset)) if isinstance(offset, int) \
        else len(offset) + 1
    return Signal(signed(max(len(source), term) + 2), name=f"rounded_{suffix}")


def _rounding_sum(half, rounding, offset, down):
    """``half + up - down + 2 * offset``, the sum ``round_shift`` halves: one adder. An
    integer offset rides in a constant; a Value's ``2 * offset + carry`` is ``Cat(carry,
    offset)``, its carry ``up`` or, for half-even, ``1 - down`` (``~down``)."""
    up = 0 if rounding == "floor" else 1
    if isinstance(offset, int):
        total = half + Const(up + 2 * offset)
        return total - down if down is not None else total
    carry = ~down if down is not None else Const(up, 1)
    return half + Cat(carry, offset).as_signed()


def _staged(m, product, shift, exact, rounding, suffix, offset, half_shape, low):
    # One register instead of three: with s == 0 it holds 2p, and (2p + up) >> 1 == p for
    # up in {0, 1}, so the exact case needs neither the product nor the flag a cycle later
    # (2p is even, so half-even never sees a tie to take down there). A Value offset is the
    # caller's, registered in step with ``half``.
    half = Signal(half_shape or signed(len(product) + 1), name=f"half_{suffix}")
    m.d.sync += half.eq(Mux(exact, product << 1, shift(product)))
    down = None
    if rounding == "half_even":
        low_zero = Signal(name=f"low_zero_{suffix}")
        m.d.sync += low_zero.eq(_low_bits_zero(m, *low, suffix))
        down = low_zero & (half[:2] == 1)
    rounded = _rounded(half, offset, rounding, suffix)
    m.d.comb += rounded.eq(_rounding_sum(half, rounding, offset, down) >> 1)
    return rounded


def _low_bits_zero(m, product, shamt, suffix):
    """1 when the ``shamt`` bits below the kept ones, ``product[0:shamt]``, are all zero
    (selected by a mask, as ``shamt`` may vary per channel)."""
    mask = Signal(len(product), name=f"low_mask_{suffix}")
    m.d.comb += mask.eq(~(Const(-1, signed(len(product))) << shamt))
    return (product.as_unsigned() & mask) == 0


def delayed(m, value, name):
    """``value`` one cycle later, in a register named ``name``."""
    register = Signal(value.shape(), name=name)
    m.d.sync += register.eq(value)
    return register


def dyadic_bounds(lo, hi, multiplier, shift, rounding="half_up"):
    """Exact ``(min, max)`` of the rescale of every integer in ``[lo, hi]`` (for register widths).

    The rescale is monotonic in ``x`` (``multiplier > 0``) for every rounding
    mode, so the extremes come from the ends of the range.
    """
    return rescale(lo, multiplier, shift, rounding), rescale(hi, multiplier, shift, rounding)


def rescale(x, multiplier, shift, rounding="half_up"):
    """``round_s(x * m)`` of one integer or an int64 numpy array (section 2 of the contract,
    written as the hardware computes it: from ``a = p >> (s - 1)``)."""
    p = x * multiplier
    if shift == 0:
        return p
    a = p >> (shift - 1)
    if rounding == "floor":
        return a >> 1
    if rounding == "half_up":
        return (a + 1) >> 1
    tie_down = ((p & ((1 << (shift - 1)) - 1)) == 0) & ((a & 3) == 1)
    return (a + 1 - tie_down) >> 1


#: the most input values :func:`narrowest_multiplier` checks one candidate on
_NARROW_MOST = 1 << 20


def narrowest_multiplier(lo, hi, multiplier, shift, zero_point, out_lo, out_hi,
                         rounding="half_up", most_drop=None):
    """The narrowest ``(m', s')`` with ``clamp(round_s'(x * m') + zp) == clamp(round_s(x * m) +
    zp)`` for every integer ``x`` in ``[lo, hi]`` (``(multiplier, shift)`` itself when none is
    narrower).

    Why it is exact: both sides are non-decreasing in ``x`` (``m' > 0``) and clamped to
    ``[out_lo, out_hi]``, so they agree everywhere once they agree on ``[a - 1, b + 1]``,
    where ``a`` is the first ``x`` the original lifts above ``out_lo`` and ``b`` the last it
    keeps below ``out_hi``: outside that window both are saturated. The window is checked
    value by value (a 4-bit output's is a few hundred values, an 8-bit one's a few hundred
    thousand); one wider than ``2**20`` values, or a product beyond int64, keeps the original.
    A candidate drops the low ``k`` bits of ``m`` (rounded down or up) and ``k`` from ``s``,
    ``k`` at most ``most_drop`` when given (to keep several channels' shifts equal).
    """
    def clamped(x):
        return min(max(rescale(x, multiplier, shift, rounding) + zero_point, out_lo), out_hi)

    def first(predicate):          # least x in [lo, hi + 1] with predicate(x) (monotonic)
        left, right = lo, hi + 1
        while left < right:
            middle = (left + right) // 2
            left, right = (left, middle) if predicate(middle) else (middle + 1, right)
        return left
    a = first(lambda x: clamped(x) > out_lo)
    b = first(lambda x: clamped(x) >= out_hi) - 1
    start, stop = max(lo, a - 1), min(hi, b + 1)
    if stop < start or stop - start >= _NARROW_MOST or \
            max(abs(start), abs(stop)) * multiplier >= 1 << 62:
        return multiplier, shift
    x = np.arange(start, stop + 1, dtype=np.int64)
    want = np.clip(rescale(x, multiplier, shift, rounding) + zero_point, out_lo, out_hi)
    # The x most likely to tell a candidate apart: whose scaled value is nearest a rounding
    # step; a candidate is tried on them first, on the whole window only if they pass.
    scaled = (x * multiplier) & ((1 << shift) - 1) if shift else np.zeros_like(x)
    step = (1 << (shift - 1)) if shift and rounding != "floor" else 0
    risky = x[np.argsort(np.abs(scaled - step))[:256]] if shift else x[:0]
    def same(values, candidate, candidate_shift):
        got = rescale(values, candidate, candidate_shift, rounding) + zero_point
        return np.array_equal(np.clip(got, out_lo, out_hi),
                              want if values is x else
                              np.clip(rescale(values, multiplier, shift, rounding) + zero_point,
                                      out_lo, out_hi))
    most = min(multiplier.bit_length() - 1, shift)
    for drop in range(most if most_drop is None else min(most, most_drop), 0, -1):
        for candidate in sorted({multiplier >> drop, (multiplier >> drop) + 1}):
            if candidate >= 1 and same(risky, candidate, shift - drop) and \
                    same(x, candidate, shift - drop):
                return candidate, shift - drop
    return multiplier, shift


def clamp(value, shape):
    """``value`` saturated to the range of ``shape`` (the output type's ``lo``, ``hi``).

    Read from ``value``'s high bits, not by comparisons (two carry chains as wide as
    ``value`` and a multiplexer, 13 logic levels placed): ``value`` is in range when
    its bits from ``shape``'s sign position up are all copies of its sign (all zero
    for an unsigned ``shape``); otherwise the result is ``lo`` when ``value`` is
    negative and ``hi`` when not. The flags are LUT trees of :func:`clamp_levels`
    levels, then a 3-way multiplexer.
    """
    shape, value = Shape.cast(shape), Value.cast(value)
    lo, hi = shape_range(shape)
    v_lo, v_hi = shape_range(value.shape())
    if lo <= v_lo and v_hi <= hi:
        return value
    keep = shape.width - shape.signed           # bits that pass unchanged
    negative = value[-1] if value.shape().signed else Const(0, 1)
    # value's bits above what passes, its sign bit included when signed; a signed value no
    # wider than an unsigned shape has none, and is in range exactly when not negative
    high = value[keep:] if len(value) > keep else negative
    in_range = ~high.any() | (high.all() if shape.signed and value.shape().signed
                              else Const(0, 1))
    kept = Mux(in_range, value[:shape.width], Mux(negative, Const(lo, shape), Const(hi, shape)))
    return kept.as_signed() if shape.signed else kept


def clamp_levels(value_bits, shape):
    """LUT4 levels :func:`clamp` puts between a ``value_bits``-bit signed value and its
    result: the in-range flag's tree over the high bits (four inputs a LUT), then the
    multiplexer (0 when the value always fits)."""
    shape = Shape.cast(shape)
    high = value_bits - (shape.width - shape.signed)
    if shape.signed and high <= 1:
        return 0
    levels = 1
    while high > 4:
        high, levels = -(-high // 4), levels + 1
    return levels + 1
