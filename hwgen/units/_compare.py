"""Comparisons that end in one carry chain (its top sum bit), signed operands included."""

from amaranth.hdl import Value

__all__ = ["greater", "at_least"]


def greater(x, y):
    """``x > y`` of two Values of any signedness: the sign of ``y - x`` (Amaranth widens the
    difference so that it never wraps), which is the carry chain's own top sum bit, with no
    LUT after the chain and none in front of it (signed operands are sign-extended wires).

    Not ``x > y``: for that, Yosys's ``alumacc`` orders the two operands by their wires and,
    for one of the orders, computes ``not (y < x) and not (x == y)``, an equality tree and a
    LUT after the chain (LabelSelect's tree for sfc_balanced: 301 LUT4 with it, 181 without,
    and one LUT level less in every comparison level)."""
    x, y = Value.cast(x), Value.cast(y)
    return (y - x)[-1]


def at_least(x, y):
    """``x >= y`` of two Values of any signedness: not ``y > x``, i.e. the inverted sign of
    ``x - y`` (:func:`greater`), the chain's top sum bit and an inverter that the LUT
    reading it absorbs.

    Not ``x >= y``: for that, Yosys's ``alumacc`` computes ``x > y or x == y`` for every
    signedness, an equality tree over the operands' XOR (``$reduce_and``) and an OR after
    the chain, as it did for ``x > y`` (checked with ``synth -run begin:fine`` on 9-12 bit
    operands of each signedness: ``$alu``, ``$reduce_and``, ``$reduce_or``, ``$or``; this
    way ``$alu`` and ``$not`` only)."""
    return ~greater(y, x)
